"""The spike code between the host and the cores, defined once.

One sequence *step* is a *window* of ``W`` ticks. A host activity ``a`` in ``[0, W]`` for step
``t`` is sent as a *burst*: one spike at each tick ``t*W + delay + k`` for ``k < a``. The
cores' answer for step ``t`` is the number of spikes of each output line in the ticks
``[t*W + offset, (t+1)*W + offset)``. A run of ``steps`` steps therefore lasts
``steps*W + max(offset)`` ticks. The compiler's host runner, the reference interpreter and
the runtime's callers all use these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import NscError


def run_ticks(steps: int, window: int, offsets: Iterable[int] = ()) -> int:
    """Ticks needed to read ``steps`` windows of every output (``offsets`` per output)."""
    return steps * window + max(offsets, default=0)


def bursts(activity: np.ndarray, window: int, delay: int, ticks: int) -> np.ndarray:
    """``(batch, steps, lines)`` activities -> ``(batch, ticks, lines)`` uint8 spike trains."""
    a = np.asarray(activity)
    if a.ndim != 3:
        raise NscError(f"activities must have shape (batch, steps, lines), got {a.shape}")
    a = a.astype(np.int64)
    batch, steps, lines = a.shape
    if a.size and (a.min() < 0 or a.max() > window):
        raise NscError(
            f"activities must lie in [0, {window}] to fit a {window}-tick window, "
            f"got [{a.min()}, {a.max()}]"
        )
    out = np.zeros((batch, ticks, lines), np.uint8)
    phase = np.arange(window)[None, None, :, None]  # (1, 1, W, 1)
    on = (phase < a[:, :, None, :]).astype(np.uint8)  # (batch, steps, W, lines)
    flat = on.reshape(batch, steps * window, lines)
    end = min(ticks, delay + steps * window)
    if end > delay:
        out[:, delay:end] = flat[:, : end - delay]
    return out


def window_counts(spikes: np.ndarray, window: int, offset: int, steps: int) -> np.ndarray:
    """``(batch, ticks, lines)`` spikes -> ``(batch, steps, lines)`` int64 counts per window,
    window ``t`` covering ticks ``[t*W + offset, (t+1)*W + offset)``."""
    s = np.asarray(spikes)[:, offset : offset + steps * window].astype(np.int64)
    batch, got, lines = s.shape
    if got != steps * window:
        raise NscError(
            f"{steps} windows of {window} ticks from offset {offset} need "
            f"{offset + steps * window} ticks, the run has {spikes.shape[1]}"
        )
    return s.reshape(batch, steps, window, lines).sum(axis=2)
