"""User data for ``nsc.constrain``: a DataLoader, a Dataset, or ``(X, y)`` arrays/tensors,
read once into :class:`SeqData` (right-padded sequences, their lengths, labels).

Inputs ``X``: ``(N, T, F)`` float features, or ``(N, T)`` integer token ids for a model that
starts with ``nn.Embedding``. Labels ``y``: ``(N,)`` (one class per sequence, read at its last
step) or ``(N, T)`` (a class per step, sequence labelling; padding = -100). A Dataset yields
``(x, y)`` items whose lengths may differ; a DataLoader yields ``(x, y)`` or ``(x, lengths,
y)`` batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import NscError

__all__ = ["IGNORE", "DataError", "SeqData", "as_seqdata", "split_val"]

IGNORE = -100  # label of padded steps (cross-entropy ignore index)


class DataError(NscError):
    """The training or validation data cannot be used (shapes, NaN values, labels)."""


@dataclass
class SeqData:
    """Sequences ``x (N, T, F)`` float64 or ``(N, T)`` int64 ids, ``lengths (N,)``, ``y (N,)``
    or ``(N, T)`` int64."""

    x: np.ndarray
    lengths: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def per_step(self) -> bool:
        return self.y.ndim == 2

    @property
    def ids(self) -> bool:
        return self.x.ndim == 2

    def subset(self, idx: Sequence[int] | np.ndarray) -> SeqData:
        sel = np.asarray(idx, np.int64)
        t = int(self.lengths[sel].max()) if sel.size else 1
        y = self.y[sel][:, :t] if self.per_step else self.y[sel]
        return SeqData(self.x[sel][:, :t], self.lengths[sel], y)

    def batches(self, size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
        """Index batches of similar length (sorted by length, chunked); with ``rng`` the order
        inside each length and the order of the batches are shuffled."""
        n = len(self)
        if rng is None:
            order = np.argsort(self.lengths, kind="stable")
        else:
            order = np.argsort(self.lengths + rng.random(n) * 0.999, kind="stable")
        chunks = [order[i : i + size] for i in range(0, n, size)]
        if rng is not None:
            chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        yield from chunks

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x[:, :T], lengths, y)`` of the sequences ``idx``, ``T`` their longest length."""
        t = int(self.lengths[idx].max())
        y = self.y[idx][:, :t] if self.per_step else self.y[idx]
        return self.x[idx][:, :t], self.lengths[idx], y


def _np(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _pad(seqs: list[np.ndarray], fill: float) -> np.ndarray:
    t = max(s.shape[0] for s in seqs)
    out = np.full((len(seqs), t, *seqs[0].shape[1:]), fill, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out


def _check(x: np.ndarray, lengths: np.ndarray, y: np.ndarray, what: str) -> SeqData:
    if x.ndim not in (2, 3):
        raise DataError(f"{what}: X must be (N, T, F) features or (N, T) token ids, got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{what}: X is empty ({x.shape})")
    if y.shape[0] != x.shape[0]:
        raise DataError(f"{what}: X has {x.shape[0]} sequences, y has {y.shape[0]} labels")
    if y.ndim == 2 and y.shape[1] != x.shape[1]:
        raise DataError(f"{what}: per-step labels y {y.shape} do not match X {x.shape}")
    if y.ndim not in (1, 2):
        raise DataError(f"{what}: y must be (N,) or (N, T), got {y.shape}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{what}: X must be numeric, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise DataError(f"{what}: X holds NaN or infinite values")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise DataError(f"{what}: y holds NaN or infinite values")
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"{what}: y must hold integer class labels")
    elif y.dtype.kind not in "biu":
        raise DataError(f"{what}: y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if (y[y != IGNORE] < 0).any():
        raise DataError(f"{what}: class labels must be >= 0 (or {IGNORE} for padding)")
    if x.ndim == 2:
        if x.dtype.kind == "f" and not np.all(np.equal(np.mod(x, 1), 0)):
            raise DataError(f"{what}: (N, T) inputs are token ids and must be integers")
        x = x.astype(np.int64)
    else:
        x = x.astype(np.float64)
    return SeqData(x, lengths.astype(np.int64), y)


def as_seqdata(data: Any, what: str = "train") -> SeqData:
    """Read ``data`` (see the module docstring) into memory."""
    if isinstance(data, SeqData):
        return data
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and not isinstance(data[0], (tuple, list))
    ):
        x, y = _np(data[0]), _np(data[1])
        lengths = np.full(x.shape[0] if x.ndim else 0, x.shape[1] if x.ndim > 1 else 0)
        return _check(x, lengths, y, what)
    if isinstance(data, torch.utils.data.DataLoader):
        xs, ls, ys = [], [], []
        for batch in data:
            if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
                raise DataError(f"{what}: a DataLoader must yield (x, y) or (x, lengths, y)")
            x, y = _np(batch[0]), _np(batch[-1])
            lengths = _np(batch[1]) if len(batch) == 3 else np.full(len(x), x.shape[1])
            for i in range(len(x)):
                xs.append(x[i, : int(lengths[i])])
                ls.append(int(lengths[i]))
                ys.append(y[i, : int(lengths[i])] if y.ndim == 2 else y[i])
        return _from_items(xs, ls, ys, what)
    if isinstance(data, torch.utils.data.Dataset):
        xs, ls, ys = [], [], []
        try:
            n = len(data)
        except TypeError:
            raise DataError(f"{what}: the Dataset must have a length") from None
        for i in range(n):
            item = data[i]
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise DataError(f"{what}: Dataset items must be (x, y) pairs")
            x = _np(item[0])
            xs.append(x)
            ls.append(int(x.shape[0]) if x.ndim else 0)
            ys.append(_np(item[1]))
        return _from_items(xs, ls, ys, what)
    raise DataError(
        f"{what}: expected a DataLoader, a Dataset or an (X, y) pair, got {type(data).__name__}"
    )


def _from_items(xs: list[np.ndarray], ls: list[int], ys: list[np.ndarray], what: str) -> SeqData:
    if not xs:
        raise DataError(f"{what}: no data")
    if any(n == 0 for n in ls):
        raise DataError(f"{what}: empty sequences are not allowed")
    if len({x.shape[1:] for x in xs}) != 1:
        raise DataError(f"{what}: sequences have different feature shapes")
    x = _pad(xs, 0)
    y = _pad([np.asarray(v) for v in ys], IGNORE) if np.asarray(ys[0]).ndim == 1 else np.stack(ys)
    return _check(x, np.asarray(ls), y, what)


def split_val(data: SeqData, fraction: float, seed: int) -> tuple[SeqData, SeqData]:
    """A seeded random split: ``round(fraction * N)`` sequences (at least one) for validation."""
    n = len(data)
    n_val = max(1, round(fraction * n))
    if n_val >= n:
        raise DataError(f"train: {n} sequences are too few to carve a validation split")
    perm = np.random.default_rng(seed).permutation(n)
    return data.subset(np.sort(perm[n_val:])), data.subset(np.sort(perm[:n_val]))
