"""`nsc ir`: format and check textual IR files (nsir, ``*.nsir``; see docs/ir.md)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING

from nsc_runtime.atomic import write_text_atomic
from nsc_runtime.errors import NscError

if TYPE_CHECKING:
    from nsc.ir import Graph


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ir",
        help="format or check a textual IR file (.nsir)",
        description="Tools for nsir, the textual form of the nsc IR. Errors are reported as "
        "FILE:LINE:COL with the offending line and a caret.",
    )
    actions = p.add_subparsers(dest="ir_command", metavar="ACTION")
    actions.required = True

    fmt = actions.add_parser(
        "fmt",
        help="print a file in canonical form",
        description="Parse FILE and print its canonical form: the layout nsc itself writes "
        "(attributes in declaration order, defaults omitted, splat and hex arrays, sorted "
        "graph attributes). Comments are not kept. The graph is not verified: see "
        "'nsc ir check'.",
    )
    fmt.add_argument("file", metavar="FILE", help="an .nsir file ('-' reads stdin)")
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument(
        "-o", "--output", metavar="OUT", help="write the canonical form to OUT (atomically)"
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if FILE is not in canonical form",
    )
    fmt.set_defaults(handler=run_fmt)

    check = actions.add_parser(
        "check",
        help="parse and verify a file; print a one-line summary",
        description="Parse FILE and verify every IR rule (shapes, ranges, operand kinds). "
        "Below the network level, also runs the passes that follow up to encode-weights "
        "(no placement), so a value no later pass can take is reported now. "
        "Prints one line: the graph, its nodes by op and its IR level. Exit "
        "status 1, with the error at FILE:LINE:COL, if it does not parse or verify.",
    )
    check.add_argument("file", metavar="FILE", help="an .nsir file ('-' reads stdin)")
    check.set_defaults(handler=run_check)


def _read(path: str) -> tuple[str, Graph]:
    """The file's text and its parsed graph."""
    from nsc.text import parse_ir, read_ir_text

    if path == "-":
        text = sys.stdin.read()
        return text, parse_ir(text, "<stdin>")
    text = read_ir_text(path)
    return text, parse_ir(text, path)


def run_fmt(args: argparse.Namespace) -> int:
    from nsc.text import print_ir

    text, graph = _read(args.file)
    canonical = print_ir(graph)
    if args.check:
        if text != canonical:
            print(f"{args.file}: not in canonical form (nsc ir fmt {args.file} -o {args.file})")
            return 1
        print(f"{args.file}: canonical")
        return 0
    if args.output:
        write_text_atomic(args.output, canonical)
        return 0
    sys.stdout.write(canonical)
    return 0


def _dry_run(file: str, graph: Graph) -> None:
    """Run the planned passes that need no example input and no placement (up to
    encode-weights) on the graph: a weight that no axon-type encoding can hold, say, is an
    error of the file now rather than of a later compile."""
    from nsc.errors import PassError
    from nsc.ir.nodes import level_index
    from nsc.passes import Context, plan_pipeline, run_pipeline

    if graph.level == "network":  # quantize needs example inputs: compile checks the rest
        return
    last = level_index("encoded")
    passes = [p for p in plan_pipeline(graph) if level_index(p.produces) <= last]
    try:
        run_pipeline(graph, passes, Context())
    except PassError as err:
        raise NscError(
            f"{file} parses and verifies at level {graph.level}, but compiling it fails: {err}"
        ) from None


def run_check(args: argparse.Namespace) -> int:
    from nsc.text.printer import quote_name

    _, graph = _read(args.file)
    graph.verify()
    _dry_run(args.file, graph)
    ops = Counter(node.op for node in graph)
    by_op = ", ".join(f"{op} {n}" for op, n in sorted(ops.items()))
    nodes = f"{len(graph)} node{'s' if len(graph) != 1 else ''}"
    print(
        f"{args.file}: ok: graph @{quote_name(graph.name)}, {nodes} ({by_op or 'none'}); "
        f"level: {graph.level}"
    )
    return 0
