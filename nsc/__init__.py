"""nsc, the neuromorphic sequence compiler.

Facade: ``nsc.compile``, ``nsc.constrain``, ``nsc.verify``, ``nsc.parse_ir``, ``nsc.print_ir``,
``nsc.NscError``.
Heavy modules (torch, OR-Tools) are imported only when a function that needs them is called.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    DoesNotFitError,
    FrontendError,
    IRParseError,
    IRVerifyError,
    NscError,
    PassError,
    VerifyMismatchError,
)

__all__ = [
    "DoesNotFitError",
    "FrontendError",
    "IRParseError",
    "IRVerifyError",
    "NscError",
    "PassError",
    "VerifyMismatchError",
    "compile",
    "constrain",
    "parse_ir",
    "print_ir",
    "verify",
]
__version__ = "0.1.0"


def parse_ir(text: str, path: str | None = None) -> Any:
    """Parse IR text into a :class:`nsc.ir.Graph` (errors carry ``path:line:col``)."""
    from .text import parse_ir as _parse

    return _parse(text, path)


def print_ir(graph: Any) -> str:
    """The canonical text form of a graph."""
    from .text import print_ir as _print

    return _print(graph)


def compile(model: Any, example_input: Any = None, **options: Any) -> Any:
    """Compile a trained PyTorch model (or an IR graph) into a :class:`nsc.Compiled`."""
    from .compiler import compile as _compile

    return _compile(model, example_input, **options)


def constrain(model: Any, train: Any, **options: Any) -> Any:
    """Train-and-constrain a float PyTorch model on ``train``: the exact constrained module
    to pass to :func:`compile` (see :func:`nsc.train.constrain.constrain` for the options)."""
    from .train.constrain import constrain as _constrain

    return _constrain(model, train, **options)


def verify(compiled: Any, x: Any) -> Any:
    """Run the integer reference and the spiking runtime on ``x`` and compare every output."""
    from .compiler import verify as _verify

    return _verify(compiled, x)
