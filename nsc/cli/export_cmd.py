"""`nsc export MODEL --nir OUT.nir`: an nsc network as a NIR graph (docs/nir.md)."""

from __future__ import annotations

import argparse

from nsc_runtime.errors import NscError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a network as NIR (Neuromorphic Intermediate Representation)",
        description="Write a neuron-level nsc network as a NIR graph (Input, Linear/Affine, "
        "Delay, IF, Output; nsc's exact neuron parameters kept as node metadata, so that "
        "importing the file back gives the identical network). A .nsir file at the neuron level "
        "is exported as is; any other model is compiled first and its last neuron-level stage "
        "(or --stage) is exported. One tick is one NIR time step of --dt seconds.",
    )
    p.add_argument("model", help="a model file (.nsir, .npz, .pt)")
    p.add_argument("--nir", required=True, metavar="OUT.nir", help="where to write the NIR file")
    p.add_argument("--stage", help="compile stage to export (default: last neuron-level one)")
    p.add_argument("--dt", type=float, default=1e-4, help="seconds per tick (1e-4)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import nsc
    from nsc.ir import Graph
    from nsc.nir import write_nir

    from .compile_cmd import example_input, load_model

    model = load_model(args.model)
    if isinstance(model, Graph) and args.stage is None:
        target = model
    else:
        target = nsc.compile(model, example_input(None, model, 16))
    if not args.dt > 0:
        raise NscError(f"--dt must be positive, got {args.dt}")
    options = {"dt": args.dt}
    if not isinstance(target, Graph):
        options["stage"] = args.stage
    write_nir(target, args.nir, **options)
    print(f"wrote {args.nir}")
    return 0
