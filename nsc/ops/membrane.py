"""Host-side membrane readout: the non-spiking integrator of a spiking classifier's last layer.

- :class:`Membrane` (``membrane``): ``v[t] = decay * v[t-1] + weight @ x[t - delay] + bias``,
  ``v[-1] = 0``, ``x[t] = 0`` for ``t < 0``, in float64 on the host. It is what NIR's ``I``
  (``decay = 1``) and ``LI`` (``decay = 1 - dt/tau``, forward Euler) nodes compute when they
  are used as membrane readouts (the output is the potential, the prediction its argmax):
  nsc's cores only emit spikes, so the readout is computed from the preceding population's
  spikes per step (a :class:`~nsc.ir.nodes.SpikeCount` of window 1), exactly.

The equation is defined once here (:func:`integrate_membrane`) and used by the interpreter and
by the compiled network's host runner alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..ir.nodes import Node, attr, check_shape, operand, register_op

__all__ = ["Membrane", "integrate_membrane"]


def integrate_membrane(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, decay: np.ndarray, delay: int = 0
) -> np.ndarray:
    """``v[t] = decay * v[t-1] + weight @ x[t - delay] + bias`` for ``x (batch, steps, n_in)``,
    float64, ``v[-1] = 0``; returns ``(batch, steps, n)``."""
    x64 = np.asarray(x, np.float64)
    batch, steps = x64.shape[:2]
    if delay:
        pad = np.zeros((batch, min(delay, steps), x64.shape[2]))
        x64 = np.concatenate([pad, x64[:, : steps - min(delay, steps)]], axis=1)
    drive = x64 @ np.asarray(weight, np.float64).T + np.asarray(bias, np.float64)
    d = np.asarray(decay, np.float64)
    out = np.empty_like(drive)
    v = np.zeros((batch, drive.shape[2]))
    for t in range(steps):
        v = d * v + drive[:, t]
        out[:, t] = v
    return out


@register_op
@dataclass(eq=False)
class Membrane(Node):
    """Membrane readout (host): ``v[t] = decay * v[t-1] + weight @ x[t - delay] + bias``,
    ``v[-1] = 0``, float64; ``x`` is usually the spike count per step of a population."""

    op: ClassVar[str] = "membrane"
    level_range: ClassVar[tuple[str, str]] = ("integer", "core")
    source: str = operand()
    weight: np.ndarray = attr("array", dtype="f64")
    bias: np.ndarray = attr("array", dtype="f64")
    decay: np.ndarray = attr("array", dtype="f64")
    delay: int = attr("int", default=0)

    def size(self, graph: Any) -> int:
        return int(self.weight.shape[0]) if self.weight.ndim == 2 else 0

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return integrate_membrane(args[0], self.weight, self.bias, self.decay, self.delay)

    def verify(self, graph: Any) -> None:
        if self.weight.ndim != 2 or self.weight.shape[0] == 0:
            raise self.fail(f"weight must be a non-empty 2-D array, got shape {self.weight.shape}")
        n_in = graph[self.source].size(graph)
        n = self.weight.shape[0]
        check_shape(self, "weight", (n, n_in))
        check_shape(self, "bias", (n,))
        check_shape(self, "decay", (n,))
        if self.delay < 0:
            raise self.fail(f"delay must be >= 0 steps, got {self.delay}")
