"""`nsc verify`: run the integer reference and the spiking runtime; every output must agree."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from nsc_runtime.atomic import atomic_outputs
from nsc_runtime.errors import NscError

from ._util import MAX_SEED, check_outputs, check_sequences, int_arg, load_npy
from .compile_cmd import add_model_arguments, compile_model

if TYPE_CHECKING:
    from nsc.compiler import Compiled

MAX_STEPS = 10_000
MAX_SAMPLES = 100_000
MAX_INPUT_STEPS = 1_000_000  # inputs x steps of one verification


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check that the spiking runtime equals the integer reference",
        description="Run the integer reference interpreter and the Cython runtime on the same "
        "inputs and compare every output of every input. A .corelet file is checked against "
        "its own core-level IR; a model (.nsir/.npz/.pt2/.pt) is compiled first (options as "
        "for nsc compile) and checked against its integer network. Exit status 1 unless "
        "agreement is 100%.",
    )
    p.add_argument("target", help="a .corelet written by nsc compile, or a model file")
    p.add_argument(
        "--input",
        metavar="X.npy|X.npz",
        help="integer inputs (batch, steps, features) as .npy, or an .npz holding x and "
        "optionally lengths (batch,) for sequences of different lengths, as nsc run takes them",
    )
    p.add_argument(
        "--samples",
        type=int_arg(1, MAX_SAMPLES),
        default=32,
        help=f"random inputs if no --input, 1..{MAX_SAMPLES:,} (32)",
    )
    p.add_argument(
        "--steps",
        type=int_arg(1, MAX_STEPS),
        default=10,
        help=f"steps per random input, 1..{MAX_STEPS:,} (10)",
    )
    p.add_argument(
        "--seed", type=int_arg(0, MAX_SEED), default=0, help="seed for random inputs (0)"
    )
    p.add_argument("--json", help="write the report as JSON here")
    add_model_arguments(p)
    p.set_defaults(handler=run)


def _inputs(args: argparse.Namespace, compiled: Compiled) -> Any:
    from nsc.ir import Input, QLinear

    inp = compiled.host.of_type(Input)[0]
    if args.input and args.input.endswith(".npz"):  # x (and lengths), as nsc run takes them
        from nsc.io import from_padded

        from .run_cmd import load_model_inputs

        padded, lengths = load_model_inputs(args.input)
        padded = check_sequences(padded, "--input", inp.features)
        if int(lengths.sum() if lengths is not None else padded.shape[0] * padded.shape[1]) > (
            MAX_INPUT_STEPS
        ):
            raise NscError(f"--input: more than {MAX_INPUT_STEPS:,} steps in all")
        return from_padded(padded, lengths, "--input x")
    if args.input:
        x = check_sequences(load_npy(args.input, "--input"), "--input", inp.features)
        if x.dtype.kind == "f" and not np.equal(np.mod(x, 1), 0).all():
            raise NscError("--input: verify takes integer inputs (activity levels)")
        if x.shape[0] * x.shape[1] > MAX_INPUT_STEPS:
            raise NscError(
                f"--input: {x.shape[0]} inputs x {x.shape[1]} steps is more than "
                f"{MAX_INPUT_STEPS:,} steps in all; verify a part of it"
            )
        return x.astype(np.int64)
    if args.samples * args.steps > MAX_INPUT_STEPS:
        raise NscError(
            f"--samples {args.samples} x --steps {args.steps} is more than "
            f"{MAX_INPUT_STEPS:,} steps in all"
        )
    rng = np.random.default_rng(args.seed)
    shape = (args.samples, args.steps, inp.features)
    if inp.levels:
        return rng.integers(0, inp.levels, size=shape)
    # raw host inputs feed a host layer: small signed integers
    first = compiled.host.users(inp.name)
    span = 128 if first and isinstance(first[0], QLinear) else 16
    return rng.integers(-span, span, size=shape)


def _describe(x: Any) -> str:
    if isinstance(x, list):
        return f"{len(x)} inputs of {min(map(len, x))}..{max(map(len, x))} steps"
    return f"{x.shape[0]} inputs x {x.shape[1]} steps"


def run(args: argparse.Namespace) -> int:
    import nsc
    from nsc.compiler import Compiled

    check_outputs(args.json)
    if args.target.endswith(".corelet"):
        compiled = Compiled.load(args.target)
    else:
        compiled = compile_model(args, args.target)
    x = _inputs(args, compiled)
    report = nsc.verify(compiled, x)
    if args.json:
        data = report.to_dict()
        if compiled.fidelity is not None:
            data["fidelity"] = compiled.fidelity.to_dict()
        with atomic_outputs() as out:
            out.write_text(args.json, json.dumps(data, indent=2) + "\n")
    verdict = "EXACT" if report.exact else "MISMATCH"
    print(
        f"{verdict}: agreement {report.agreement:.6f} over {report.outputs_compared} outputs "
        f"({_describe(x)}), {compiled.n_cores} core(s)"
    )
    if compiled.fidelity is not None and compiled.fidelity.steps:
        print(compiled.fidelity.summary())
    for m in report.mismatches[:5]:
        tick = f" (tick {m['tick']}, core {m['core']}, neuron {m['neuron']})" if "tick" in m else ""
        print(
            f"  input {m['input']}: first differs at step {m['step']}{tick}, "
            f"output {m['output']}: reference {m['reference']} vs runtime {m['runtime']} "
            f"[stage: {m['stage']}]",
            file=sys.stderr,
        )
    return 0 if report.exact else 1
