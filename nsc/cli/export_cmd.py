"""`nsc export MODEL --nir OUT.nir`: an nsc network as a NIR graph (docs/nir.md)."""

from __future__ import annotations

import argparse

from ._util import check_outputs, float_arg


def register(sub: argparse._SubParsersAction) -> None:
    from .compile_cmd import add_model_arguments

    p = sub.add_parser(
        "export",
        help="write a network as NIR (Neuromorphic Intermediate Representation)",
        description="Write a neuron-level nsc network as a NIR graph (Input, Linear/Affine, "
        "Delay, IF, Output; nsc's exact neuron parameters kept as node metadata, so that "
        "importing the file back gives the identical network). A .nsir file at the neuron level "
        "is exported as is; any other model is compiled first and its last neuron-level stage "
        "(or --stage) is exported. One tick is one NIR time step of --dt seconds.",
    )
    p.add_argument("model", help="a model file (.nsir, .npz, .nir, .pt2, .pt)")
    p.add_argument("--nir", required=True, metavar="OUT.nir", help="where to write the NIR file")
    p.add_argument("--stage", help="compile stage to export (default: last neuron-level one)")
    p.add_argument(
        "--dt", type=float_arg(0, 1e6, lo_open=True), default=1e-4, help="seconds per tick (1e-4)"
    )
    add_model_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nsc.ir import Graph
    from nsc.nir import write_nir

    from .compile_cmd import compile_model, load_model

    check_outputs(args.nir)
    model = load_model(args.model, args)
    target = model if isinstance(model, Graph) and args.stage is None else None
    if target is None:
        compiled = compile_model(args, args.model)
        write_nir(compiled, args.nir, dt=args.dt, stage=args.stage)
    else:
        write_nir(target, args.nir, dt=args.dt)
    print(f"wrote {args.nir}")
    return 0
