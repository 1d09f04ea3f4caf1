"""`nsc compile`: not yet implemented."""

from __future__ import annotations

import argparse

from nsc_runtime.errors import NscError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("compile", help="(not yet implemented)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NscError("'nsc compile' is not implemented yet")
