"""nsc, the neuromorphic sequence compiler.

Facade: ``nsc.compile``, ``nsc.verify``, ``nsc.parse_ir``, ``nsc.print_ir``, ``nsc.NscError``.
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
    "from_nir",
    "parse_ir",
    "print_ir",
    "to_nir",
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


def from_nir(graph_or_path: Any) -> Any:
    """A NIR graph (``nir.NIRGraph`` or a ``.nir`` file) as an nsc graph, ready for
    :func:`compile`; approximations are reported and warned about (docs/nir.md)."""
    from .nir import from_nir as _from_nir

    return _from_nir(graph_or_path)


def to_nir(graph_or_compiled: Any, *, stage: str | None = None, dt: float = 1e-4) -> Any:
    """An nsc neuron-level graph (or a compiled network, or its ``stage``) as a
    ``nir.NIRGraph``; ``dt`` is the time one tick stands for (docs/nir.md)."""
    from .nir import to_nir as _to_nir

    return _to_nir(graph_or_compiled, stage=stage, dt=dt)


def verify(compiled: Any, x: Any) -> Any:
    """Run the integer reference and the spiking runtime on ``x`` and compare every output."""
    from .compiler import verify as _verify

    return _verify(compiled, x)
