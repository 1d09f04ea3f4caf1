"""`nsc place`: place a neuron-level IR file on cores and write the placed IR and a report."""

from __future__ import annotations

import argparse
import json

from nsc_runtime.errors import NscError

from ._util import write_text_atomic


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
    p.add_argument("--time-limit", type=float, default=10.0, help="solver seconds (10)")
    p.add_argument("--chips", default="1x1", help="chip grid RxC (default 1x1)")
    p.add_argument("--seed", type=int, default=0, help="seed for METIS and CP-SAT (0)")
    p.add_argument("--png", help="write a picture of the placement here")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nsc.place import Hardware, apply_placement, extract_problem, place, plot_placement
    from nsc.text import parse_ir_file, print_ir

    try:
        hardware = Hardware.parse(args.chips)
    except ValueError as err:
        raise NscError(f"--chips: {err}") from None
    if args.time_limit <= 0:
        raise NscError(f"--time-limit must be positive, got {args.time_limit}")
    graph = parse_ir_file(args.input)
    graph.verify()
    problem = extract_problem(graph)
    placement = place(problem, hardware, time_limit=args.time_limit, seed=args.seed)
    placed = apply_placement(graph, placement)
    write_text_atomic(args.output, print_ir(placed))
    report = placement.report.to_dict()
    report["positions"] = placement.positions.tolist()
    if args.report:
        write_text_atomic(args.report, json.dumps(report, indent=2) + "\n")
    if args.png:
        plot_placement(placement, problem, args.png)
    print(placement.report.summary())
    return 0
