"""`nsc place`: place a neuron-level IR file on cores and write the placed IR and a report."""

from __future__ import annotations

import argparse
import json

from nsc_runtime.atomic import atomic_outputs
from nsc_runtime.errors import NscError

from ._util import (
    EFFORT_HELP,
    MAX_TIME_LIMIT,
    check_outputs,
    chips_arg,
    effort_arg,
    float_arg,
    int_arg,
)

SEED_MAX = 2**31 - 1  # CP-SAT's random_seed is an int32


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "place",
        help="place neurons on cores and cores on the mesh",
        description="Read a neuron-level .nsir (after encode-weights), choose a core for "
        "every neuron (fewest cores, counting shared axons and fan-out copies) and a mesh "
        "position for every core (least hop-weighted spike traffic), and write the IR with "
        "every neurons node's core set. Small networks are solved exactly with CP-SAT and "
        "proven optimal; the report gives the lower bound and the gap.",
    )
    p.add_argument("input", help="neuron-level .nsir file")
    p.add_argument("-o", "--output", required=True, help="placed .nsir to write")
    p.add_argument("--report", help="write the placement report here as JSON")
    p.add_argument(
        "--time-limit",
        type=float_arg(0, MAX_TIME_LIMIT, lo_open=True),
        default=10.0,
        help="solver seconds, > 0 (10)",
    )
    p.add_argument("--chips", type=chips_arg, default=(1, 1), help="chip grid RxC (default 1x1)")
    p.add_argument(
        "--seed", type=int_arg(0, SEED_MAX), default=0, help="seed for METIS and CP-SAT (0)"
    )
    p.add_argument("--effort", type=effort_arg, default="normal", help=EFFORT_HELP)
    p.add_argument("--png", help="write a picture of the placement here")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nsc.ir import Neurons
    from nsc.ir.nodes import level_index
    from nsc.passes import Context, run_pipeline
    from nsc.passes.place_pass import Place
    from nsc.place import Hardware, extract_problem, plot_placement
    from nsc.text import parse_ir_file, print_ir

    check_outputs(args.output, args.report, args.png)
    graph = parse_ir_file(args.input)
    graph.verify()
    if level_index(graph.level) < level_index("encoded") or not graph.of_type(Neurons):
        raise NscError(
            f"{args.input}: not a neuron-level graph at level encoded or later (its level is "
            f"{graph.level}); "
            "place takes IR after encode-weights: nsc compile MODEL --emit-ir encode-weights "
            "--ir-out net.nsir ..."
        )
    ctx = Context(hardware=Hardware(args.chips), time_limit=args.time_limit)
    placed = run_pipeline(graph, [Place(effort=args.effort, seed=args.seed)], ctx)
    placement = ctx.placement
    report = placement.report.to_dict()
    report["positions"] = placement.positions.tolist()
    with atomic_outputs() as out:
        out.write_text(args.output, print_ir(placed))
        if args.report:
            out.write_text(args.report, json.dumps(report, indent=2) + "\n")
        if args.png:
            plot_placement(placement, extract_problem(graph), out.path(args.png))
    print(placement.report.summary())
    return 0
