"""Gated layers in ``nsc.constrain``: ``nn.GRU`` / ``nn.LSTM`` trained as the hardware-native
gated unit (HGU) of docs/gated-units.md, whose per-tick function the constrained module
computes exactly.

A gated layer ``k`` of a :class:`~nsc.train.constrain.model.ConstrainedNet` holds ``2H``
ReLU-like units (rows ``[f | u]``: keep gates, write units; the same latent parameters as an
Elman population: ``w_in{k} (2H, n_in)``, ``w_rec{k} (2H, H)`` reading the state spikes,
``log_alpha{k}``, ``leak{k}``, ``mask{k}``) and ``H`` state neurons whose spike at phase ``k``
of window ``w`` is the threshold function of :mod:`nsc.ops.gated` (one definition: the
constants ``STATE_WEIGHT_*``, ``STATE_LEAK``, ``STATE_ALPHA`` there) of the units' and its own
spikes at phase ``k`` of window ``w - 1``: ``h = u or (f and h)``. The layer occupies two hops
of the shared tick axis (the units at depth ``d``, the state copies the next layer and the
readout read at depth ``d + 1``), as in the compiled graph (:func:`add_gated_layer`).

Backward (training only): the units' counts by the rate proxy of the Elman populations; a
window's state count by ``max(u, min(f, h))`` of the previous window (exact for bursts), both
evaluated at the exact values (straight-through).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...errors import NscError
from ...ops.gated import (
    STATE_ALPHA,
    STATE_LEAK,
    STATE_WEIGHT_F,
    STATE_WEIGHT_H,
    STATE_WEIGHT_U,
    IntUnit,
    add_hgu,
)
from .model import integrate_window

__all__ = [
    "add_gated_layer",
    "gated_counts",
    "gated_float_rows",
    "gated_group_mask",
    "gated_latent",
    "mask_float_rnn",
    "rate_gated",
    "reset_at_rest",
    "simulate_gated",
    "state_spikes",
]


def state_spikes(f: np.ndarray, u: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The state neurons' spikes (0/1, float32) in the window after the one in which the keep
    gates fired ``f``, the write units ``u`` and the state neurons ``h`` (same shapes): the
    stateless threshold neuron of nsc.ops.gated, evaluated per phase."""
    v = STATE_WEIGHT_U * u + STATE_WEIGHT_F * f + STATE_WEIGHT_H * h + STATE_LEAK
    return (v >= STATE_ALPHA).astype(np.float32)


def simulate_gated(
    train_in: np.ndarray,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    alpha: np.ndarray,
    leak: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One gated layer, tick by tick. ``train_in (B, T, W, n_in)`` input spikes of each window
    (0/1), integer-valued ``w_in (2H, n_in)``, ``w_rec (2H, H)``, ``alpha``, ``leak (2H,)``.
    Returns the units' spikes ``(B, T, W, 2H)`` (rows ``[f | u]``), the state neurons' spikes
    ``(B, T, W, H)`` (window ``w`` from the units' and the state's window ``w - 1``; window 0
    is at rest) and the units' potentials at each window start ``(B, T, 2H)`` (float32 arrays
    of integers below 2**24: exact)."""
    b, t_len, window, _ = train_in.shape
    units, hidden = w_rec.shape
    f32 = np.float32
    w_in_t = np.ascontiguousarray(w_in.T, f32)
    w_rec_t = np.ascontiguousarray(w_rec.T, f32)
    alpha32, leak32 = alpha.astype(f32), leak.astype(f32)
    v = np.zeros((b, units), f32)
    spikes = np.zeros((b, t_len, window, units), f32)
    state = np.zeros((b, t_len, window, hidden), f32)
    v_start = np.zeros((b, t_len, units), f32)
    prev_units = np.zeros((b, window, units), f32)
    prev_state = np.zeros((b, window, hidden), f32)
    for t in range(t_len):
        if t:
            state[:, t] = state_spikes(
                prev_units[..., :hidden], prev_units[..., hidden:], prev_state
            )
        # the units read the state's spikes of the previous window (delay W)
        current = train_in[:, t].astype(f32) @ w_in_t + prev_state @ w_rec_t + leak32
        v_start[:, t] = v
        out = integrate_window(v, current, alpha32, spikes[:, t])
        prev_units, prev_state = out, state[:, t]
    return spikes, state, v_start


def gated_counts(
    train: np.ndarray,
    counts_in: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    alpha: torch.Tensor,
    leak: torch.Tensor,
    window: int,
    slope: float,
) -> tuple[np.ndarray, torch.Tensor]:
    """A gated layer's state spikes ``(B, T, W, H)`` and state counts ``(B, T, H)`` per window
    of the shared tick axis (exact values; with grad enabled, proxy gradients)."""
    spikes, state, v_exact = simulate_gated(
        train,
        w_in.detach().numpy(),
        w_rec.detach().numpy(),
        alpha.detach().numpy(),
        leak.detach().numpy(),
    )
    counts = torch.from_numpy(state.sum(2))
    if not torch.is_grad_enabled():
        return state, counts
    hidden = w_rec.shape[1]
    unit_counts = torch.from_numpy(spikes.sum(2))
    v_ex = torch.from_numpy(v_exact)
    top = float(window)
    h_prev = torch.zeros_like(counts[:, 0])
    units_prev = torch.zeros_like(unit_counts[:, 0])
    v = torch.zeros_like(unit_counts[:, 0])
    windows = []
    for t in range(counts.shape[1]):
        if t:
            f, u = units_prev[:, :hidden], units_prev[:, hidden:]
            proxy = torch.maximum(u, torch.minimum(f, h_prev))
            h_t = counts[:, t] + (proxy - proxy.detach())
        else:
            h_t = counts[:, 0]
        v = v_ex[:, t] + (v - v.detach())
        drive = counts_in[:, t] @ w_in.T + h_prev @ w_rec.T + window * leak
        rate = (v + drive) / alpha
        inside = rate.clamp(0.0, top)
        proxy_units = inside + slope * (rate - inside)
        units_t = unit_counts[:, t] + (proxy_units - proxy_units.detach())
        v = torch.relu(v + drive - alpha * units_t)
        windows.append(h_t)
        h_prev, units_prev = h_t, units_t
    return state, torch.stack(windows, 1)


def rate_gated(
    c_in: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    alpha: torch.Tensor,
    leak: torch.Tensor,
    window: int,
) -> torch.Tensor:
    """The rate relaxation of a gated layer (training warm-up, not exact): per step
    ``f, u = clamp((Wq_in c_in + Wq_rec s[t-2] + W leak_q) / alpha, 0, W)``,
    ``s[t] = max(u, min(f, s[t-1]))`` (the gates read the state one step older, as on the
    cores). Returns ``s (B, T, H)``."""
    hidden = w_rec.shape[1]
    top = float(window)
    drive_in = c_in @ w_in.T + window * leak
    s1 = c_in.new_zeros(c_in.shape[0], hidden)  # s[t-1]
    s2 = s1  # s[t-2]
    steps = []
    for t in range(c_in.shape[1]):
        units = ((drive_in[:, t] + s2 @ w_rec.T) / alpha).clamp(0.0, top)
        f, u = units[:, :hidden], units[:, hidden:]
        s = torch.maximum(u, torch.minimum(f, s1))
        steps.append(s)
        s2, s1 = s1, s
    return torch.stack(steps, 1)


def gated_float_rows(node: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The float affine maps of a ``gru`` / ``lstm`` node's keep gates and write units for a
    state carried with an offset (:func:`offset_maps`), stacked as rows ``[keep | write]``:
    ``w_in (2H, n_in)``, ``w_rec (2H, H)``, ``bias (2H,)``."""
    maps = offset_maps(node)
    return (
        np.concatenate([maps.keep[0], maps.write[0]]),
        np.concatenate([maps.keep[1], maps.write[1]]),
        np.concatenate([maps.keep[2], maps.write[2]]),
    )


def reset_at_rest(node: Any) -> np.ndarray:
    """A GRU's reset gate ``r = sigmoid(b_ir + b_hr)`` per unit at zero input and state: the
    value :func:`offset_maps` folds into the candidate (the HGU has no reset gate)."""
    _, _, bi, bh = node._blocks()
    return np.asarray(1.0 / (1.0 + np.exp(-(bi[0] + bh[0]))))


def offset_maps(node: Any) -> Any:
    """Gate maps for a state carried as ``(h + 1) / 2`` of the window: the write unit is the
    Lukasiewicz AND on ``[0, 1]`` of the candidate ``(n + 1) / 2`` and ``1 - z`` (GRU:
    ``n - a_z / 2``), or of ``(g + 1) / 2`` and ``i`` (LSTM: ``g + a_i / 2``), in units of
    half a window. The GRU's candidate ``n = tanh(W_n x + b_in + r * (U_n h + b_hn))`` is
    taken with its reset gate fixed at its value at rest, ``r0 = sigmoid(b_ir + b_hr)``
    (:func:`reset_at_rest`): ``U_n`` and ``b_hn`` scaled by ``r0`` per unit (with ``r = 1``, the
    earlier start, a unit whose reset gate is mostly closed wrote from a state its float
    candidate ignores)."""
    from ...ops.gated import GRU, GateMaps

    ws, us, bi, bh = node._blocks()
    b = [p + q for p, q in zip(bi, bh)]
    if isinstance(node, GRU):
        (_, wz, wn), (_, uz, un), (_, bz, _) = ws, us, b
        r0 = reset_at_rest(node)
        un = un * r0[:, None]
        bn = bi[2] + r0 * bh[2]
        return GateMaps(keep=(wz, uz, bz), write=(wn - wz / 2, un - uz / 2, bn - bz / 2))
    (wi, wf, wg, _), (ui, uf, ug, _) = ws, us
    return GateMaps(keep=(wf, uf, b[1]), write=(wg + wi / 2, ug + ui / 2, b[2] + b[0] / 2))


def gated_latent(
    w_in: np.ndarray,
    w_rec: np.ndarray,
    bias: np.ndarray,
    c_in: float,
    c_out: float,
    levels: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent ``(w_in, w_rec, leak)`` of a gated layer from its float rows ``[keep | write]``
    (:func:`gated_float_rows`, input weights in the units of the layer's input, ``c_in``
    activity levels per unit; ``c_out`` levels per unit of the state), in the units the
    constrained module uses (levels out per level in; levels per window): the keep gate counts
    ``W * (1/2 + pre/4)`` (the sigmoid's tangent, as quantize), the write unit ``c_out * pre``;
    the state ``h`` is carried as ``c_out * (h + 1)`` (``c_out = W / 2``), so every reader of it
    (this layer, the next, the readout) subtracts its weights' row sums from its bias."""
    window = levels - 1
    hidden = w_rec.shape[1]
    keep, write = slice(0, hidden), slice(hidden, 2 * hidden)
    k = window / 4.0
    bias = bias - w_rec.sum(1)  # the layer reads its state h as counts / c_out - 1
    lat_in = np.concatenate([k * w_in[keep] / c_in, c_out * w_in[write] / c_in])
    lat_rec = np.concatenate([k * w_rec[keep] / c_out, w_rec[write]])
    leak = np.concatenate([k * bias[keep] + window / 2.0, c_out * bias[write]])
    return lat_in, lat_rec, leak


def gated_group_mask(inputs: int, hidden: int, max_fanin: int, groups: int) -> np.ndarray:
    """The group mask (:func:`nsc.train.constrain.masks.group_mask`) of a gated layer: a bool
    ``(2H, n_in + H)`` mask over ``[w_in | w_rec]`` of its trained units, rows ``[keep |
    write]``, the keep gate and the write unit of hidden unit ``j`` both with row ``j`` of
    ``group_mask(inputs, hidden, max_fanin, groups)`` (the recurrent columns are the state
    neurons, which a group reads only of itself and the groups after it). The state neurons and
    their copies read only their own unit's keep gate, write unit and state, so a group's whole
    circuit shares one input set. Pass it to :func:`nsc.constrain` as that population's mask,
    and train the float GRU/LSTM under it (:func:`mask_float_rnn`)."""
    from .masks import group_mask

    mask = group_mask(inputs, hidden, max_fanin, groups)
    return np.concatenate([mask, mask])


@torch.no_grad()
def mask_float_rnn(rnn: torch.nn.Module, mask: np.ndarray) -> None:
    """Zero, in place, the weights of a one-layer ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` outside
    ``mask`` (``(H, n_in + H)`` of :func:`~nsc.train.constrain.masks.group_mask`, or the
    ``(2H, n_in + H)`` of :func:`gated_group_mask`, whose two halves must be equal): every
    gate block of unit ``j`` (GRU ``r, z, n``; LSTM ``i, f, g, o``) keeps row ``j``'s inputs.
    Call it after each optimizer step of float training, so the float model is trained under
    the mask nsc.constrain will keep."""
    hidden = int(rnn.hidden_size)
    keep = np.asarray(mask, dtype=bool)
    if keep.shape[0] == 2 * hidden:
        if not np.array_equal(keep[:hidden], keep[hidden:]):
            raise NscError("a gated mask whose keep and write rows differ has no float form")
        keep = keep[:hidden]
    w_ih, w_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    n_in = w_ih.shape[1]
    if keep.shape != (hidden, n_in + hidden):
        raise NscError(f"mask {keep.shape}, the layer needs ({hidden}, {n_in + hidden})")
    blocks = w_ih.shape[0] // hidden
    m = torch.from_numpy(keep).to(w_ih.dtype)
    w_ih.view(blocks, hidden, n_in).mul_(m[:, :n_in])
    w_hh.view(blocks, hidden, hidden).mul_(m[:, n_in:])


def add_gated_layer(
    g: Any, name: str, source: str, params: dict[str, Any], k: int, window: int
) -> str:
    """Add the gated layer ``k`` of exported parameters ``params`` to the scheduled graph
    ``g`` (populations ``name`` and ``name_h``, neuron -> neuron delays ``W``); return the
    output population (the state copies)."""
    w_in, w_rec = params[f"w_in{k}"], params[f"w_rec{k}"]
    alpha, leak = params[f"alpha{k}"], params[f"leak{k}"]
    hidden = w_rec.shape[1]
    rows = [slice(0, hidden), slice(hidden, 2 * hidden)]
    keep, write = (IntUnit(w_in[r], w_rec[r], alpha[r], leak[r]) for r in rows)
    return add_hgu(g, name, source, keep, write, neuron_delay=window)
