"""`nsc opt`: run passes on an IR file, IR in and IR out (like ``xdsl-opt -p ...``)."""

from __future__ import annotations

import argparse
import sys

from nsc_runtime.atomic import write_text_atomic

from ._util import check_outputs, chips_arg, float_arg, load_npy


def register(sub: argparse._SubParsersAction) -> None:
    from nsc.passes import REGISTRY

    passes = ", ".join(sorted(REGISTRY))
    p = sub.add_parser(
        "opt",
        help="run passes on an IR file and write the IR they produce",
        description="Parse FILE, run the passes of PIPELINE in order (verifying the IR after "
        "each and naming the pass that broke it) and print the resulting IR, or write it to "
        "OUT. The output records its IR level and the pipeline applied, so 'nsc compile OUT' "
        "resumes exactly there. Pass options are typed: 'quantize{levels=8}', "
        "'split-fanin{max=32}', 'place{time_limit=2.5}'. Without -p, runs nothing and "
        f"prints the passes still planned for FILE. Passes: {passes}.",
        epilog="example: nsc opt -p 'quantize{levels=8},insert-delays' net.nsir "
        "--example-input x.npy -o net_q.nsir",
    )
    p.add_argument("file", metavar="FILE", help="an .nsir file ('-' reads stdin)")
    p.add_argument("-p", "--passes", metavar="PIPELINE", help="comma-separated passes to run")
    p.add_argument("-o", "--output", metavar="OUT", help="write the IR here (atomically)")
    p.add_argument(
        "--example-input",
        metavar="X.npy",
        help="calibration inputs (batch, steps, features) for quantize",
    )
    p.add_argument(
        "--chips", type=chips_arg, default=(1, 1), help="chip grid RxC for place (default 1x1)"
    )
    p.add_argument(
        "--time-limit",
        type=float_arg(0, 86400, lo_open=True),
        default=10.0,
        help="placement seconds for place, > 0 (10)",
    )
    p.add_argument(
        "--print-ir-after-all",
        action="store_true",
        help="print the IR after every pass to stderr",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nsc.ir import Graph
    from nsc.passes import Context, Pass, parse_pipeline, plan_pipeline, run_pipeline
    from nsc.place import Hardware
    from nsc.text import parse_ir, parse_ir_file, print_ir

    check_outputs(args.output)
    graph = parse_ir(sys.stdin.read(), "<stdin>") if args.file == "-" else parse_ir_file(args.file)
    graph.verify()
    if args.passes is None:
        planned = plan_pipeline(graph)
        rest = ",".join(p.spec() for p in planned) or "(none: the graph is at cores)"
        print(f"{args.file}: level {graph.level}; passes still planned: {rest}")
        return 0
    passes = parse_pipeline(args.passes)
    hardware = Hardware(chips=args.chips)
    x = load_npy(args.example_input, "--example-input") if args.example_input else None

    def show(p: Pass, g: Graph) -> None:
        if args.print_ir_after_all:
            print(f"// ----- IR after {p.spec()} -----", file=sys.stderr)
            print(print_ir(g), end="", file=sys.stderr)

    ctx = Context(example_input=x, hardware=hardware, time_limit=args.time_limit)
    out = run_pipeline(graph, passes, ctx, after_each=show)
    text = print_ir(out)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
