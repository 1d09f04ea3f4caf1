"""The ``nsc`` command line. Each subcommand lives in its own module in this package and
exposes ``register(subparsers)``; modules import heavy dependencies (torch, ortools) only
inside their handlers, so ``nsc run`` and ``nsc corelet`` start fast.

User errors (:class:`nsc.NscError`) print one clear message and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nsc_runtime.errors import NscError

# subcommand module names, in the order --help lists them
COMMANDS = ("compile", "verify", "run", "corelet", "ir", "place", "constrain", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nsc",
        description="nsc, the neuromorphic sequence compiler: trained recurrent networks to "
        "exact TrueNorth-class spiking cores.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"nsc.cli.{name}_cmd")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.handler(args)
    except NscError as err:
        print(f"nsc: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nsc: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
