"""`nsc verify`: run the integer reference and the spiking runtime; every output must agree."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from nsc_runtime.errors import NscError

from ._util import write_text_atomic
from .compile_cmd import example_input, load_model, parse_chips


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check that the spiking runtime equals the integer reference",
        description="Run the integer reference interpreter and the Cython runtime on the same "
        "inputs and compare every output of every input. A .corelet file is checked against "
        "its own core-level IR; a model (.nsir/.npz/.pt) is compiled first and checked "
        "against its integer network. Exit status 1 unless agreement is 100%%.",
    )
    p.add_argument("target", help="a .corelet written by nsc compile, or a model file")
    p.add_argument("--input", help=".npy integer inputs (batch, steps, features)")
    p.add_argument("--samples", type=int, default=32, help="random inputs if no --input (32)")
    p.add_argument("--steps", type=int, default=10, help="steps per random input (10)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (0)")
    p.add_argument("--levels", type=int, default=16, help="levels when compiling (16)")
    p.add_argument("--chips", default="1x1", help="chip grid RxC when compiling (1x1)")
    p.add_argument("--json", help="write the report as JSON here")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import nsc
    from nsc.compiler import Compiled
    from nsc.ir import Input, QLinear

    if args.target.endswith(".corelet"):
        compiled = Compiled.load(args.target)
    else:
        model = load_model(args.target)
        compiled = nsc.compile(
            model, example_input(None, model, args.levels), chips=parse_chips(args.chips)
        )
    if args.input:
        x = example_input(args.input, None, args.levels)
    else:
        inp = compiled.host.of_type(Input)[0]
        rng = np.random.default_rng(args.seed)
        shape = (args.samples, args.steps, inp.features)
        if inp.levels:
            x = rng.integers(0, inp.levels, size=shape)
        else:  # raw host inputs feed a host layer: small signed integers
            first = compiled.host.users(inp.name)
            span = 128 if first and isinstance(first[0], QLinear) else 16
            x = rng.integers(-span, span, size=shape)
    if x is None:
        raise NscError("no inputs to verify on")
    report = nsc.verify(compiled, x)
    verdict = "EXACT" if report.exact else "MISMATCH"
    print(
        f"{verdict}: agreement {report.agreement:.6f} over {report.outputs_compared} outputs "
        f"({x.shape[0]} inputs x {x.shape[1]} steps), {compiled.n_cores} core(s)"
    )
    for m in report.mismatches[:5]:
        print(
            f"  input {m['input']}: first differs at step {m['step']} (tick {m['tick']}), "
            f"output {m['output']}: reference {m['reference']} vs runtime {m['runtime']} "
            f"[stage: {m['stage']}]",
            file=sys.stderr,
        )
    if args.json:
        write_text_atomic(args.json, json.dumps(report.to_dict(), indent=2) + "\n")
    return 0 if report.exact else 1
