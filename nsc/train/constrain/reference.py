"""A second, plain-numpy implementation of the constrained network, written from the spike
protocol on one global tick axis (independent of the per-window torch code), used to check
the constrained module bit for bit.

All populations share the tick axis: the host sends activity ``a`` of step ``t`` as spikes at
ticks ``t*W .. t*W + a - 1`` into population 0; a spike of population ``k`` at tick ``tau``
reaches population ``k + 1`` and (if recurrent) population ``k`` itself at tick ``tau + W``.
The last population's spikes are counted in windows starting at ``depth * W``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nsc_runtime import hw

__all__ = ["reference_logits"]


def _host_activities(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Integer activities ``(T, P)`` of one sequence ``x`` (features ``(T, F)`` or ids ``(T,)``)."""
    levels = int(params["levels"])
    if "table" in params:
        ids = np.asarray(x).reshape(-1).astype(np.int64)
        a = np.asarray(params["table"], np.int64)[ids]
    else:
        z = np.asarray(x, np.float64) * params["in_scale"] + params["in_offset"]
        a = np.clip(np.floor(z), 0, int(params["input_levels"]) - 1).astype(np.int64)
    if "proj_w" in params:
        z = a @ params["proj_w"].astype(np.int64).T + params["proj_b"].astype(np.int64)
        a = np.clip(z // int(params["proj_div"]), 0, levels - 1)
    return a


def reference_logits(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Integer logits ``(T, C)`` at every step of one sequence, tick by tick in int64."""
    window = int(params["window"])
    act = _host_activities(params, x)
    steps = act.shape[0]
    n_layers = sum(1 for k in params if k.startswith("alpha"))
    ticks = (steps + n_layers - 1) * window
    spikes: list[np.ndarray] = []  # per population: (ticks, H) 0/1
    for k in range(n_layers):
        w_in = params[f"w_in{k}"].astype(np.int64)
        w_rec = params.get(f"w_rec{k}")
        alpha = params[f"alpha{k}"].astype(np.int64)
        leak = params[f"leak{k}"].astype(np.int64)
        s = np.zeros((ticks, w_in.shape[0]), np.int64)
        v = np.zeros(w_in.shape[0], np.int64)
        for tau in range(ticks):
            if k == 0:
                step, phase = divmod(tau, window)
                src = (act[step] > phase).astype(np.int64) if step < steps else 0 * act[0]
            else:
                src = spikes[k - 1][tau - window] if tau >= window else 0 * spikes[k - 1][0]
            current = w_in @ src + leak
            if w_rec is not None and tau >= window:
                current = current + w_rec.astype(np.int64) @ s[tau - window]
            v = v + current
            fired = v >= alpha
            s[tau] = fired
            v = np.where(fired, v - alpha, np.maximum(v, 0))
            v = np.clip(v, hw.V_MIN, hw.V_MAX)
        spikes.append(s)
    start = (n_layers - 1) * window
    counts = spikes[-1][start : start + steps * window].reshape(steps, window, -1).sum(1)
    return counts @ params["readout_w"].astype(np.int64).T + params["readout_b"].astype(np.int64)
