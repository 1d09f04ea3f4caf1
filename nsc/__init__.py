"""nsc, the neuromorphic sequence compiler.

Facade: :func:`compile`, :func:`constrain`, :func:`verify`, :class:`Compiled`, :func:`parse_ir`,
:func:`print_ir`, :func:`from_nir`, :func:`to_nir`, and the errors (every user error is an
:class:`NscError`). The functions are the real ones (``help(nsc.compile)`` shows their
signatures), loaded on first use so that ``import nsc`` stays fast: heavy modules (torch,
OR-Tools) are imported only when a function that needs them is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    DoesNotFitError,
    FidelityWarning,
    FrontendError,
    IRParseError,
    IRVerifyError,
    NscError,
    PassError,
    VerifyMismatchError,
)

if TYPE_CHECKING:
    from .compiler import Compiled, VerifyReport, compile, verify
    from .fidelity import Fidelity
    from .nir import from_nir, to_nir
    from .text import parse_ir, print_ir
    from .train.constrain import constrain

__all__ = [
    "Compiled",
    "DoesNotFitError",
    "Fidelity",
    "FidelityWarning",
    "FrontendError",
    "IRParseError",
    "IRVerifyError",
    "NscError",
    "PassError",
    "VerifyMismatchError",
    "VerifyReport",
    "compile",
    "constrain",
    "from_nir",
    "parse_ir",
    "print_ir",
    "to_nir",
    "verify",
]
__version__ = "0.1.0"

_LAZY = {
    "Compiled": "compiler",
    "VerifyReport": "compiler",
    "compile": "compiler",
    "verify": "compiler",
    "constrain": "train.constrain",
    "Fidelity": "fidelity",
    "from_nir": "nir",
    "to_nir": "nir",
    "parse_ir": "text",
    "print_ir": "text",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nsc' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
