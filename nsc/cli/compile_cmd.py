"""`nsc compile`: a trained model or an IR file -> a corelet binary (and IR at any stage)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from nsc_runtime.atomic import atomic_outputs
from nsc_runtime.errors import NscError

from ..defaults import MAX_LEVELS, MIN_LEVELS
from ._util import (
    EFFORT_HELP,
    check_outputs,
    check_sequences,
    chips_arg,
    effort_arg,
    float_arg,
    int_arg,
    load_npy,
)

EPILOG = """\
MODEL may be (docs/security.md says what is trusted):
  *.nsir  an IR file at any stage (network, integer, placed): the remaining passes run
  *.npz   integer parameters exported by nsc.train (export_integer_params)
  *.pt2   a torch.export archive (torch.export.save)
  *.pt    a state_dict (torch.save(model.state_dict())) with --model-class, a TorchScript
          archive (torch.jit.save) with --model-class, or nsc's integer-parameter dict
A whole pickled module (torch.save(model)) runs code when read: it is refused unless you
trust the file and pass --allow-pickle.

A float model (torch, or a network-level .nsir) needs --example-input: a .npy array of
typical inputs, shape (batch, steps, features), on which quantize calibrates its activity
scales, e.g. numpy.save("x.npy", x_train[:64]). Integer-level models need none.

stages for --emit-ir: input, then the passes that ran: quantize, insert-delays, split-fanin,
encode-weights, place, replicate-fanout, lower-to-cores. All outputs (-o, --ir-out) are
written only when every step succeeded.

examples:
  nsc compile model.pt2 -o model.corelet --example-input x.npy
  nsc compile weights.pt --model-class mynets:Net --model-args '{"hidden": 16}' \\
      --example-input x.npy -o model.corelet
  nsc compile model.pt2 -o model.corelet --example-input x.npy \\
      --emit-ir encode-weights --ir-out model.nsir
  nsc compile edited.nsir -o model.corelet --print-ir-after-all
"""

LEVELS = (MIN_LEVELS, MAX_LEVELS)  # quantize's activity/weight levels


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a trained model or IR file into a corelet",
        description="Compile a trained recurrent network (or an IR file at any stage) into a "
        "corelet: frontend -> constraint passes -> placement -> cores.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model file: .nsir, .npz, .pt2 or .pt (see below)")
    p.add_argument("-o", "--output", required=True, help="corelet file to write (atomically)")
    add_model_arguments(p)
    p.add_argument(
        "--max-fanin",
        type=int_arg(2, 256),
        help="fan-in bound, 2..256 (default: what the IR file records, else 64)",
    )
    p.add_argument("--pipeline", help="explicit pass pipeline, e.g. 'quantize{levels=8},...'")
    p.add_argument(
        "--time-limit",
        type=float_arg(0, 86400, lo_open=True),
        default=10.0,
        help="placement seconds, > 0 (10)",
    )
    p.add_argument("--effort", type=effort_arg, default="normal", help=EFFORT_HELP)
    p.add_argument("--emit-ir", metavar="STAGE", help="also write the IR after STAGE")
    p.add_argument("--ir-out", help="where --emit-ir writes (default: stdout)")
    p.add_argument(
        "--print-ir-after-all", action="store_true", help="print the IR after every pass"
    )
    p.set_defaults(handler=run)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options that say how to read and compile a model (shared with `nsc verify`)."""
    p.add_argument(
        "--example-input",
        metavar="X.npy",
        help="typical model inputs (batch, steps, features), as integer activities in "
        "[0, levels), saved with numpy.save; quantize calibrates on them. Required for a float "
        "model (torch, .pt2, or a network-level .nsir); integer models need none",
    )
    p.add_argument(
        "--model-class",
        metavar="MODULE:CLASS",
        help="rebuild the model as this nn.Module class (package.module:Class, imported from "
        "the current folder or PYTHONPATH) with the file's weights",
    )
    p.add_argument(
        "--model-args",
        metavar="JSON",
        help="constructor arguments for --model-class: a JSON "
        "object (keywords) or list (positions)",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="trust the model file: let torch run code it contains (a pickled module). "
        "Never for a file from someone else",
    )
    p.add_argument(
        "--levels",
        type=int_arg(*LEVELS),
        help=f"activity/weight levels, {LEVELS[0]}..{LEVELS[1]} (default: what the IR file "
        "records, else 16)",
    )
    p.add_argument("--chips", type=chips_arg, default=(1, 1), help="chip grid RxC (default 1x1)")


def load_model(path: str, args: argparse.Namespace | None = None) -> Any:
    """The model in ``path`` (rules: :mod:`nsc.frontend.load`), read with the options of
    :func:`add_model_arguments` when ``args`` has them (else: nothing runs, no class)."""
    from ..frontend.load import load_model as load

    model_class = getattr(args, "model_class", None)
    model_args = getattr(args, "model_args", None)
    if model_args is not None and model_class is None:
        raise NscError("--model-args needs --model-class")
    return load(
        path,
        model_class=model_class,
        model_args=model_args,
        allow_pickle=bool(getattr(args, "allow_pickle", False)),
    )


def is_float_model(model: Any) -> bool:
    """Whether compiling ``model`` quantizes it (and so needs an example input)."""
    from ..ir import ElmanRNN, Graph, Linear

    if isinstance(model, Graph):
        return any(isinstance(n, (Linear, ElmanRNN)) for n in model)
    return not (isinstance(model, dict) or hasattr(model, "export_integer_params"))


def example_input(path: str | None, model: Any) -> np.ndarray | None:
    """The calibration input: required for float models, ignored (None) otherwise."""
    if not is_float_model(model):
        return None
    if path is None:
        raise NscError(
            "--example-input is required to compile a float model: quantize calibrates its "
            "activity scales on typical inputs. Save some as a (batch, steps, features) array of "
            'integer activities in [0, levels): numpy.save("x.npy", x) (a few dozen training '
            "sequences are enough)"
        )
    x = load_npy(path, "--example-input")
    return check_sequences(x, "--example-input", _features(model)).astype(np.float64)


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


def compile_model(args: argparse.Namespace, path: str, **options: Any) -> Any:
    """Load, check the example input, and compile (no output is written here)."""
    import nsc

    model = load_model(path, args)
    x = example_input(args.example_input, model)
    given = {"levels": args.levels, "max_fanin": getattr(args, "max_fanin", None)}
    options.update({k: v for k, v in given.items() if v is not None})  # else nsc's defaults
    if getattr(args, "effort", None):
        options["effort"] = args.effort
    return nsc.compile(model, x, chips=args.chips, **options)


def run(args: argparse.Namespace) -> int:
    check_outputs(args.output, args.ir_out)
    if args.ir_out and not args.emit_ir:
        raise NscError("--ir-out needs --emit-ir STAGE")
    compiled = compile_model(
        args,
        args.model,
        pipeline=args.pipeline,
        time_limit=args.time_limit,
        print_ir_after_all=args.print_ir_after_all,
    )
    text = compiled.ir(args.emit_ir) if args.emit_ir else None
    with atomic_outputs() as out:
        if text is not None and args.ir_out:
            out.write_text(args.ir_out, text)
        compiled.save(out.path(args.output))
    if text is not None and not args.ir_out:
        sys.stdout.write(text)
    summary = f"wrote {args.output}: {compiled.n_cores} core(s)"
    if compiled.placement is not None:
        r = compiled.placement.report
        summary += f", placement {r.solver_status} (lower bound {r.lower_bound})"
    print(summary, file=sys.stderr)
    if compiled.fidelity is not None and compiled.fidelity.steps:
        print(compiled.fidelity.summary(), file=sys.stderr)
    return 0
