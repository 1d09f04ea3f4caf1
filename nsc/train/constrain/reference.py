"""A second, plain-numpy implementation of the constrained network, written from the spike
protocol on one global tick axis (independent of the per-window torch code), used to check
the constrained module bit for bit.

All populations share the tick axis: the host sends activity ``a`` of step ``t`` as spikes at
ticks ``t*W .. t*W + a - 1`` into population 0; a spike of population ``k`` at tick ``tau``
reaches population ``k + 1`` and (if recurrent) population ``k`` itself at tick ``tau + W``.
The last population's spikes are counted in windows starting at ``depth * W``.

A gated layer (``gated{k}`` in the parameters; docs/gated-units.md) is written here from its
documented logic, not from its neurons: keep gates ``f`` and write units ``u`` (rows of
``w_in{k}``, ``w_rec{k}``) integrate as ReLU-like units, reading the state at ``tau - W``; the
state at tick ``tau`` is ``u or (f and h)`` at ``tau - W``; its output copy is one hop further,
so a gated layer adds two hops to ``depth``.
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


def _source(act: np.ndarray, spikes: list[np.ndarray], tau: int, window: int) -> np.ndarray:
    """What the next layer reads at tick ``tau``: host bursts, or the previous layer's output
    spikes of tick ``tau - W``."""
    if not spikes:
        step, phase = divmod(tau, window)
        return (act[step] > phase).astype(np.int64) if step < act.shape[0] else 0 * act[0]
    prev = spikes[-1]
    return prev[tau - window] if tau >= window else 0 * prev[0]


def _gated_layer(
    params: dict[str, Any],
    k: int,
    act: np.ndarray,
    spikes: list[np.ndarray],
    ticks: int,
    window: int,
) -> np.ndarray:
    """The output copies' spikes ``(ticks, H)`` of gated layer ``k``."""
    w_in = params[f"w_in{k}"].astype(np.int64)
    w_rec = params[f"w_rec{k}"].astype(np.int64)
    alpha = params[f"alpha{k}"].astype(np.int64)
    leak = params[f"leak{k}"].astype(np.int64)
    hidden = w_rec.shape[1]
    units = np.zeros((ticks, 2 * hidden), np.int64)
    state = np.zeros((ticks, hidden), np.int64)
    v = np.zeros(2 * hidden, np.int64)
    for tau in range(ticks):
        current = w_in @ _source(act, spikes, tau, window) + leak
        if tau >= window:
            f, u = units[tau - window, :hidden], units[tau - window, hidden:]
            h = state[tau - window]
            state[tau] = u | (f & h)
            current = current + w_rec @ h
        v = v + current
        fired = v >= alpha
        units[tau] = fired
        v = np.where(fired, v - alpha, np.maximum(v, 0))
        v = np.clip(v, hw.V_MIN, hw.V_MAX)
    # the copies fire with the state, one hop further: the next layer reads them at tau + W
    return state


def reference_logits(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Integer logits ``(T, C)`` at every step of one sequence, tick by tick in int64."""
    window = int(params["window"])
    act = _host_activities(params, x)
    steps = act.shape[0]
    n_layers = sum(1 for k in params if k.startswith("alpha"))
    depth = sum(2 if params.get(f"gated{k}") else 1 for k in range(n_layers)) - 1
    ticks = (steps + depth) * window
    spikes: list[np.ndarray] = []  # per layer: its output's spikes (ticks, H) 0/1
    for k in range(n_layers):
        if params.get(f"gated{k}"):
            spikes.append(_gated_layer(params, k, act, spikes, ticks, window))
            continue
        w_in = params[f"w_in{k}"].astype(np.int64)
        w_rec = params.get(f"w_rec{k}")
        alpha = params[f"alpha{k}"].astype(np.int64)
        leak = params[f"leak{k}"].astype(np.int64)
        s = np.zeros((ticks, w_in.shape[0]), np.int64)
        v = np.zeros(w_in.shape[0], np.int64)
        for tau in range(ticks):
            current = w_in @ _source(act, spikes, tau, window) + leak
            if w_rec is not None and tau >= window:
                current = current + w_rec.astype(np.int64) @ s[tau - window]
            v = v + current
            fired = v >= alpha
            s[tau] = fired
            v = np.where(fired, v - alpha, np.maximum(v, 0))
            v = np.clip(v, hw.V_MIN, hw.V_MAX)
        spikes.append(s)
    start = depth * window
    counts = spikes[-1][start : start + steps * window].reshape(steps, window, -1).sum(1)
    return counts @ params["readout_w"].astype(np.int64).T + params["readout_b"].astype(np.int64)
