"""The ``nsc`` command line. Each subcommand lives in its own module in this package and
exposes ``register(subparsers)``; modules import heavy dependencies (torch, ortools) only
inside their handlers, so ``nsc run`` and ``nsc corelet`` start fast.

User errors (:class:`nsc.NscError`, and OS errors on the files a command reads or writes)
print one clear message and exit 1, never a traceback; a malformed or out-of-range argument
exits 2 with argparse's message naming it; a closed stdout pipe (``nsc ... | head``) ends the
command quietly with status 141, as for other Unix tools.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from nsc_runtime.errors import NscError

# subcommand module names, in the order --help lists them
COMMANDS = (
    "compile",
    "opt",
    "verify",
    "run",
    "corelet",
    "ir",
    "place",
    "export",
    "constrain",
    "demo",
)


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
    """Run one command; the exit status (argparse exits 2 itself on a malformed argument)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    shown = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        rc = args.handler(args)
        sys.stdout.flush()
    except NscError as err:
        return _fail(str(err))
    except BrokenPipeError:
        return _broken_pipe()
    except OSError as err:  # a file nsc reads or writes: the environment, not a bug
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    except MemoryError:
        return _fail("out of memory (the inputs or limits asked for more than this machine has)")
    except KeyboardInterrupt:
        print("nsc: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = shown
    return int(rc or 0)


def _format_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    """Warnings read like the errors: one line, no source location."""
    return f"nsc: warning: {message}\n"


def _fail(message: str) -> int:
    print(f"nsc: error: {message}", file=sys.stderr)
    return 1


def _broken_pipe() -> int:
    """The reader of stdout went away (``nsc ... | head``): stop quietly, as Unix tools do."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
