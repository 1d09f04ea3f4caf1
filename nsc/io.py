"""The model's own inputs and outputs: batches of sequences, possibly of different lengths.

What :meth:`nsc.compiler.Compiled.run`, :meth:`~nsc.compiler.Compiled.reference`,
:func:`nsc.verify` and ``nsc run`` accept as ``x``:

- an array (numpy, torch, nested lists are *not* arrays, see below) of shape
  ``(batch, steps, features)``, or ``(steps, features)`` for one sequence;
- a list or tuple of sequences, each ``(steps_i, features)``, of any lengths ``steps_i >= 1``;
- a ``torch.nn.utils.rnn.PackedSequence`` (unpacked in its original order, like a list).

Activities of a compiled model are integers in ``[0, levels)`` (float arrays holding whole
numbers are fine); a float network (before quantize) takes any finite numbers.

Outputs keep the input's form: an array in, an array ``(batch, steps, outputs)`` out; a list or
a PackedSequence in, a list of ``(steps_i, outputs)`` arrays out. With ``last=True`` every
sequence gives its own last step, and the result is one ``(batch, outputs)`` array in every
case: **the last step of a sequence of length L is step L - 1 of that sequence**, exactly what
``model(x_i[None])[:, -1]`` (or ``h_n``) gives for that sequence alone, never a padded step.

Sequences of different lengths run in groups of equal length, so every result is identical to
running that sequence alone (the runtime and the interpreter start every sequence from the
initial state).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NscError
from .ir import Graph, Input

#: graph attribute (a float as a string) set by quantize: float output ~= integer output * it
OUTPUT_SCALE = "output_scale"


@dataclass(frozen=True)
class Sequences:
    """A checked batch of input sequences: zero-padded to the longest, with each length."""

    padded: np.ndarray  # (batch, max steps, features); zeros after each sequence's end
    lengths: np.ndarray  # (batch,) int64, each >= 1
    ragged: bool  # given as a list / PackedSequence: per-step outputs come back as a list

    @property
    def batch(self) -> int:
        return int(self.lengths.shape[0])

    def groups(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(indices, (n, steps, features) array)`` per distinct length, shortest first."""
        out = []
        for steps in np.unique(self.lengths):
            idx = np.flatnonzero(self.lengths == steps)
            out.append((idx, self.padded[idx, : int(steps)]))
        return out

    def uniform(self) -> np.ndarray:
        """The ``(batch, steps, features)`` array of sequences that share one length."""
        if np.any(self.lengths != self.lengths[0]):
            raise NscError(
                "expected sequences of one length, got lengths "
                f"{int(self.lengths.min())}..{int(self.lengths.max())}"
            )
        return self.padded


def input_spec(graph: Graph) -> dict[str, Any]:
    """``features`` and ``levels`` of a graph's single input (keywords for :func:`as_sequences`)."""
    inputs = graph.of_type(Input)
    if len(inputs) != 1:
        return {}
    return {"features": inputs[0].features, "levels": inputs[0].levels or None}


def as_sequences(
    x: Any, *, features: int | None = None, levels: int | None = None, name: str = "x"
) -> Sequences:
    """Check ``x`` (see the module docstring) and return it as :class:`Sequences`.

    ``features``: the number the model takes per step; ``levels``: integer activities in
    ``[0, levels)`` are required. Every problem is one :class:`NscError` naming ``name``."""
    if isinstance(x, Sequences):
        items: list[np.ndarray] = [x.padded[i, : int(n)] for i, n in enumerate(x.lengths)]
        return _check(items, x.ragged, features, levels, name)
    if is_packed(x):
        return _check(_unpack(x), True, features, levels, name)
    if isinstance(x, (list, tuple)):
        if not x:
            raise NscError(f"{name}: an empty list of sequences")
        items = []
        for i, item in enumerate(x):
            arr = _array(item, f"{name}[{i}]")
            if arr.ndim != 2:
                raise NscError(
                    f"{name}[{i}]: each sequence must have shape (steps, features), "
                    f"got shape {arr.shape}"
                )
            items.append(arr)
        return _check(items, True, features, levels, name)
    arr = _array(x, name)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise NscError(
            f"{name}: expected an array of shape (batch, steps, features), a list of "
            f"(steps, features) sequences or a PackedSequence, got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise NscError(f"{name}: an empty batch, shape {arr.shape}")
    return _check(list(arr), False, features, levels, name)


def from_padded(x: np.ndarray, lengths: np.ndarray | None, name: str = "x") -> Any:
    """An input of ``nsc run``: ``x`` as is, or with ``lengths`` a list of ``x[i, :lengths[i]]``."""
    if lengths is None:
        return x
    lengths = np.asarray(lengths)
    if x.ndim != 3:
        raise NscError(
            f"{name}: with lengths, expected shape (batch, steps, features), got {x.shape}"
        )
    if lengths.shape != (x.shape[0],) or lengths.dtype.kind not in "iu":
        raise NscError(
            f"lengths: expected {x.shape[0]} integers (one per sequence of {name}), got "
            f"shape {lengths.shape} of {lengths.dtype}"
        )
    if lengths.size and (lengths.min() < 1 or lengths.max() > x.shape[1]):
        raise NscError(
            f"lengths: each must lie in [1, {x.shape[1]}] (the steps of {name}), got "
            f"[{int(lengths.min())}, {int(lengths.max())}]"
        )
    return [x[i, : int(n)] for i, n in enumerate(lengths)]


def map_sequences(
    fn: Callable[[np.ndarray], np.ndarray], seqs: Sequences, *, last: bool = False
) -> Any:
    """Outputs of ``fn`` (``(n, steps, features) -> (n, steps, outputs)``) on every sequence,
    run in groups of equal length; shaped as the module docstring says."""
    if not seqs.ragged:  # one array: one length
        y = fn(seqs.padded)
        return np.ascontiguousarray(y[:, -1]) if last else y
    results: list[np.ndarray] = [np.empty(0)] * seqs.batch
    for idx, xb in seqs.groups():
        y = fn(xb)
        for k, i in enumerate(idx):
            results[int(i)] = y[k]
    if last:
        return np.stack([r[-1] for r in results])
    return results


def pad(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sequence ``(steps_i, outputs)`` arrays as one zero-padded ``(batch, steps, outputs)``."""
    steps = max(o.shape[0] for o in outputs)
    out = np.zeros((len(outputs), steps, *outputs[0].shape[1:]), outputs[0].dtype)
    for i, o in enumerate(outputs):
        out[i, : o.shape[0]] = o
    return out


def output_scale(graph: Graph) -> float | None:
    """The float value of one unit of the integer output (recorded by quantize), or None when
    unknown (a model given as integer parameters or IR after quantize without the attribute)."""
    text = graph.attrs.get(OUTPUT_SCALE)
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise NscError(f"graph attribute {OUTPUT_SCALE} = {text!r} is not a positive number")
    return value


# ---------------------------------------------------------------------------------------------


def is_packed(x: Any) -> bool:
    """A torch ``PackedSequence`` (checked without importing torch)."""
    return type(x).__name__ == "PackedSequence" and hasattr(x, "batch_sizes")


def _unpack(x: Any) -> list[np.ndarray]:
    from torch.nn.utils.rnn import pad_packed_sequence

    padded, lengths = pad_packed_sequence(x, batch_first=True)
    arr = padded.detach().cpu().numpy()
    return [arr[i, : int(n)] for i, n in enumerate(lengths)]


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise NscError(
            f"{name}: not an array ({err}); pass sequences of different lengths as a list"
        ) from None
    if arr.dtype.kind not in "biuf":
        hint = "; pass sequences of different lengths as a list" if arr.dtype == object else ""
        raise NscError(f"{name}: expected numbers, got dtype {arr.dtype}{hint}")
    return arr


def _check(
    items: list[np.ndarray], ragged: bool, features: int | None, levels: int | None, name: str
) -> Sequences:
    width = features if features is not None else items[0].shape[1]
    for i, item in enumerate(items):
        where = f"{name}[{i}]" if ragged else name
        if item.shape[0] == 0:
            raise NscError(f"{where}: a sequence of 0 steps (each needs at least one)")
        if item.shape[1] != width:
            what = "the model takes" if features is not None else "the first sequence has"
            raise NscError(f"{where}: {what} {width} features per step, got {item.shape[1]}")
    dtype = np.result_type(*items)
    padded = np.zeros((len(items), max(i.shape[0] for i in items), width), dtype)
    lengths = np.array([i.shape[0] for i in items], np.int64)
    for i, item in enumerate(items):
        padded[i, : item.shape[0]] = item
    if padded.dtype.kind == "f" and not np.isfinite(padded).all():
        raise NscError(f"{name}: holds NaN or infinite values")
    if levels is not None and padded.size:
        if padded.dtype.kind == "f" and not np.all(np.equal(np.mod(padded, 1), 0)):
            raise NscError(
                f"{name}: the model takes integer activities in [0, {levels}), got fractions"
            )
        lo, hi = padded.min(), padded.max()
        if lo < 0 or hi >= levels:
            raise NscError(
                f"{name}: activities must lie in [0, {levels}) (the model's levels), "
                f"got [{lo:g}, {hi:g}]"
            )
    return Sequences(padded, lengths, ragged)
