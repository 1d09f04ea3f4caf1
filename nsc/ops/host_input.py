"""Host-side input ops: float features or token ids -> integer activities, exactly.

- :class:`QuantizeInput` (``quantize_input``): per feature ``y[t, i] = clip(floor(x[t, i] *
  scale[i] + offset[i]), 0, levels - 1)`` in float64, the calibrated input quantizer of
  ``nsc.constrain`` (float inputs in any range become integer activities);
- :class:`Embed` (``embed``): ``y[t] = table[x[t, 0]]``, a host lookup of token ids in an
  integer table (an ``nn.Embedding`` after quantization).

Both run on the host, one value per step (no spikes). Their equations are defined once here
(:func:`quantize_features`, :func:`embed_ids`) and used by the interpreter and by the
constrained torch module alike, so floor() boundaries agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import InterpretError
from ..ir.nodes import Node, attr, check_shape, operand, register_op

__all__ = ["Embed", "QuantizeInput", "embed_ids", "quantize_features"]


def quantize_features(
    x: np.ndarray, scale: np.ndarray, offset: np.ndarray, levels: int
) -> np.ndarray:
    """``clip(floor(x * scale + offset), 0, levels - 1)`` per feature, in float64 (the
    product and the sum are two separately rounded IEEE operations); int64 result."""
    x64 = np.asarray(x, np.float64)
    if not np.all(np.isfinite(x64)):
        raise InterpretError("quantize_input: the inputs hold NaN or infinite values")
    z = np.floor(x64 * np.asarray(scale, np.float64) + np.asarray(offset, np.float64))
    return np.clip(z, 0, levels - 1).astype(np.int64)


def embed_ids(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows of ``table (V, E)`` for token ids ``(batch, steps)`` -> ``(batch, steps, E)``."""
    a = np.asarray(ids)
    if a.size and not np.all(np.equal(np.mod(a, 1), 0)):
        raise InterpretError("embed: token ids must be integers")
    a = a.astype(np.int64)
    vocab = int(table.shape[0])
    if a.size and (a.min() < 0 or a.max() >= vocab):
        raise InterpretError(
            f"embed: token ids must lie in [0, {vocab}), got [{a.min()}, {a.max()}]"
        )
    return np.asarray(table, np.int64)[a]


@register_op
@dataclass(eq=False)
class QuantizeInput(Node):
    """Calibrated input quantizer (host): ``y[t, i] = clip(floor(x[t, i] * scale[i] +
    offset[i]), 0, levels - 1)``, float64 arithmetic, integer activities out."""

    op: ClassVar[str] = "quantize_input"
    level_range: ClassVar[tuple[str, str]] = ("integer", "core")
    source: str = operand()
    scale: np.ndarray = attr("array", dtype="f64")
    offset: np.ndarray = attr("array", dtype="f64")
    levels: int = attr("int")

    def size(self, graph: Any) -> int:
        return int(self.scale.shape[0]) if self.scale.ndim == 1 else 0

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return quantize_features(args[0], self.scale, self.offset, self.levels)

    def verify(self, graph: Any) -> None:
        if self.scale.ndim != 1:
            raise self.fail(f"scale must be 1-D, got shape {self.scale.shape}")
        n_in = graph[self.source].size(graph)
        check_shape(self, "scale", (n_in,))
        check_shape(self, "offset", (n_in,))
        if self.levels < 2:
            raise self.fail(f"levels must be >= 2, got {self.levels}")


@register_op
@dataclass(eq=False)
class Embed(Node):
    """Embedding lookup (host): ``y[t] = table[x[t, 0]]`` for a token id ``x[t, 0]`` in
    ``[0, V)``; ``table (V, E)`` holds integers."""

    op: ClassVar[str] = "embed"
    level_range: ClassVar[tuple[str, str]] = ("integer", "core")
    source: str = operand()
    table: np.ndarray = attr("array", dtype="i32")

    def size(self, graph: Any) -> int:
        return int(self.table.shape[1]) if self.table.ndim == 2 else 0

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return embed_ids(args[0][..., 0], self.table)

    def verify(self, graph: Any) -> None:
        if self.table.ndim != 2 or 0 in self.table.shape:
            raise self.fail(f"table must be a non-empty 2-D array, got shape {self.table.shape}")
        n_in = graph[self.source].size(graph)
        if n_in != 1:
            raise self.fail(f"source %{self.source} must have 1 feature (token ids), has {n_in}")
