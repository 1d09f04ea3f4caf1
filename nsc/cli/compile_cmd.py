"""`nsc compile`: a trained model or an IR file -> a corelet binary (and IR at any stage)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nsc_runtime.errors import NscError

from ._util import write_text_atomic

EPILOG = """\
MODEL may be:
  *.nsir  an IR file at any stage (network, integer, placed): the remaining passes run
  *.npz   integer parameters exported by nsc.train (export_integer_params)
  *.pt    a torch.save'd nn.Module (nn.Linear / nn.ReLU / nn.RNN + readout) or such a dict

stages for --emit-ir: input, quantize, insert-delays, split-fanin, encode-weights, place,
replicate-fanout, lower-to-cores (only the ones that ran).

examples:
  nsc compile model.pt -o model.corelet --example-input x.npy
  nsc compile model.pt -o model.corelet --emit-ir encode-weights --ir-out model.nsir
  nsc compile edited.nsir -o model.corelet --print-ir-after-all
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a trained model or IR file into a corelet",
        description="Compile a trained recurrent network (or an IR file at any stage) into a "
        "corelet: frontend -> constraint passes -> placement -> cores.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model file: .nsir, .npz or .pt (see below)")
    p.add_argument("-o", "--output", required=True, help="corelet file to write (atomically)")
    p.add_argument(
        "--levels",
        type=int,
        help="activity/weight levels (default: what the IR file records, else 16)",
    )
    p.add_argument(
        "--max-fanin",
        type=int,
        help="fan-in bound (default: what the IR file records, else 64)",
    )
    p.add_argument("--pipeline", help="explicit pass pipeline, e.g. 'quantize{levels=8},...'")
    p.add_argument("--chips", default="1x1", help="chip grid RxC (default 1x1)")
    p.add_argument("--time-limit", type=float, default=10.0, help="placement seconds (10)")
    p.add_argument(
        "--example-input",
        help=".npy activities (batch, steps, features) to calibrate quantize; default: "
        "64 random sequences of 10 steps (seed 0)",
    )
    p.add_argument("--emit-ir", metavar="STAGE", help="also write the IR after STAGE")
    p.add_argument("--ir-out", help="where --emit-ir writes (default: stdout)")
    p.add_argument(
        "--print-ir-after-all", action="store_true", help="print the IR after every pass"
    )
    p.set_defaults(handler=run)


def parse_chips(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise NscError(f"--chips takes RxC such as 2x1, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise NscError(f"--chips must be positive, got {text!r}")
    return rows, cols


def load_model(path: str) -> Any:
    """Read a model file: IR text, exported integer parameters, or a torch checkpoint."""
    file = Path(path)
    if not file.exists():
        raise NscError(f"{path}: no such file")
    suffix = file.suffix.lower()
    if suffix == ".nsir":
        from ..text import parse_ir_file

        return parse_ir_file(path)
    if suffix == ".npz":
        try:
            with np.load(file, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as err:
            raise NscError(f"{path}: not a readable .npz file ({err})") from None
    if suffix in (".pt", ".pth"):
        import torch

        try:
            return torch.load(file, weights_only=False, map_location="cpu")
        except Exception as err:  # torch raises many types for a bad file
            raise NscError(f"{path}: not a readable torch checkpoint ({err})") from None
    raise NscError(f"{path}: unknown model type {suffix!r} (expected .nsir, .npz or .pt)")


def example_input(path: str | None, model: Any, levels: int) -> np.ndarray | None:
    if path:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise NscError(f"{path}: not a readable .npy file ({err})") from None
    features = _features(model)
    if features is None:
        return None
    rng = np.random.default_rng(0)
    return rng.integers(0, levels, size=(64, 10, features)).astype(np.float64)


def _features(model: Any) -> int | None:
    from ..ir import Graph, Input

    if isinstance(model, Graph):
        inputs = model.of_type(Input)
        return inputs[0].features if inputs else None
    if hasattr(model, "modules"):
        for mod in model.modules():
            for attr in ("in_features", "input_size"):
                if hasattr(mod, attr):
                    return int(getattr(mod, attr))
    return None


def run(args: argparse.Namespace) -> int:
    import nsc

    from ..passes.pipeline import DEFAULT_LEVELS

    model = load_model(args.model)
    x = example_input(args.example_input, model, args.levels or DEFAULT_LEVELS)
    compiled = nsc.compile(
        model,
        x,
        levels=args.levels,
        max_fanin=args.max_fanin,
        pipeline=args.pipeline,
        chips=parse_chips(args.chips),
        time_limit=args.time_limit,
        print_ir_after_all=args.print_ir_after_all,
    )
    if args.emit_ir:
        text = compiled.ir(args.emit_ir)
        if args.ir_out:
            write_text_atomic(args.ir_out, text)
        else:
            sys.stdout.write(text)
    compiled.save(args.output)
    summary = f"wrote {args.output}: {compiled.n_cores} core(s)"
    if compiled.placement is not None:
        r = compiled.placement.report
        summary += f", placement {r.solver_status} (lower bound {r.lower_bound})"
    print(summary, file=sys.stderr)
    return 0
