"""Every user-facing error nsc raises is an :class:`NscError` subclass."""

from __future__ import annotations

from nsc_runtime.errors import CoreletError, CoreletFormatError, NscError

__all__ = [
    "CoreletError",
    "CoreletFormatError",
    "DoesNotFitError",
    "FidelityWarning",
    "FrontendError",
    "IRParseError",
    "IRVerifyError",
    "InterpretError",
    "NscError",
    "PassError",
    "VerifyMismatchError",
]


class IRParseError(NscError):
    """A text IR file does not parse. Carries ``path``, ``line``, ``col`` (1-based)."""

    def __init__(
        self, message: str, path: str | None, line: int, col: int, source_line: str = ""
    ) -> None:
        self.message, self.path, self.line, self.col = message, path, line, col
        self.source_line = source_line
        where = f"{path or '<string>'}:{line}:{col}"
        text = f"{where}: {message}"
        if source_line:
            text += f"\n  {source_line}\n  {' ' * (col - 1)}^"
        super().__init__(text)


class IRVerifyError(NscError):
    """A graph breaks an IR invariant; the message names the node, the rule and its source."""

    def __init__(self, node: str, rule: str, span: object | None = None) -> None:
        self.node, self.rule, self.span = node, rule, span
        where = f"{span}: " if span else ""
        super().__init__(f"{where}node %{node}: {rule}")


class FrontendError(NscError):
    """A model cannot be lowered (unsupported layer, bad shapes, NaN weights)."""


class InterpretError(NscError):
    """The interpreter cannot run this graph on these inputs."""


class PassError(NscError):
    """A pass failed, or left the IR broken; the message names the pass."""


class DoesNotFitError(NscError):
    """The network cannot be placed on the given hardware; says why and what to change."""


class FidelityWarning(UserWarning):
    """A step changed the function computed from the source model beyond what the user
    asked for (quantization loss, a fan-in split, inputs that are not activities)."""


class VerifyMismatchError(NscError):
    """The spiking runtime disagrees with the integer reference (always a bug)."""
