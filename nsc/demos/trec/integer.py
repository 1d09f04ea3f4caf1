"""The integer parameters of a constrained model, and a second, plain-numpy implementation of
the spiking protocol (independent of the torch code) used to check it bit for bit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nsc_runtime import hw

from .constrained import LEVELS, WINDOW, X_MAX, ConstrainedRNN

__all__ = ["export_integer_params", "integer_forward", "quantize_inputs"]


def _ints(t: Any) -> np.ndarray:
    a = t.detach().cpu().double().numpy()
    if not np.array_equal(a, np.round(a)):
        raise ValueError("quantized parameter is not integer-valued")
    return a.astype(np.int64).astype(np.int32)


def export_integer_params(model: ConstrainedRNN) -> dict[str, Any]:
    """Everything the host and the chip need, as numpy arrays and plain values.

    Keys: ``in_scale`` (float), ``proj_w (P, 50)``, ``proj_b (P,)``, ``proj_div`` (int),
    ``w_in (H, P)``, ``w_rec (H, H)``, ``alpha (H,)``, ``leak (H,)``, ``readout_w (6, H)``,
    ``readout_b (6,)`` (int32 arrays), ``fan_in_mask (H, P + H)`` (bool), ``window`` (15),
    ``levels`` (16), ``vocab`` (list of words) and ``embedding (V, 50)`` float32 (GloVe rows;
    zero rows for words GloVe lacks; an unknown word also maps to zeros).
    """
    readout_w, readout_b = model.q_readout()
    return {
        "in_scale": float(model.in_scale),
        "proj_w": _ints(model.q_proj_w()),
        "proj_b": _ints(model.q_proj_b()),
        "proj_div": int(model.proj_div),
        "w_in": _ints(model.q_w_in()),
        "w_rec": _ints(model.q_w_rec()),
        "alpha": _ints(model.q_alpha()),
        "leak": _ints(model.q_leak()),
        "readout_w": _ints(readout_w),
        "readout_b": _ints(readout_b),
        "fan_in_mask": model.mask.cpu().numpy().copy(),
        "window": WINDOW,
        "levels": LEVELS,
        "vocab": list(model.vocab),
        "embedding": model.embedding.cpu().numpy().astype(np.float32).copy(),
    }


def quantize_inputs(
    params: dict[str, Any], token_lists: Sequence[Sequence[str]]
) -> list[np.ndarray]:
    """Host input of each question: ``x_q = clip(round(e * in_scale), -127, 127)`` as an
    int64 array ``(T, 50)`` per token list (unknown words: ``e = 0``)."""
    index = {w: i for i, w in enumerate(params["vocab"])}
    emb = np.asarray(params["embedding"], np.float64)
    zero = np.zeros(emb.shape[1])
    out = []
    for toks in token_lists:
        e = np.stack([emb[index[w]] if w in index else zero for w in toks])
        x = np.clip(np.round(e * params["in_scale"]), -X_MAX, X_MAX)
        out.append(x.astype(np.int64))
    return out


def integer_forward(params: dict[str, Any], x_q: np.ndarray) -> np.ndarray:
    """Logits ``(T, 6)`` int64 of one question ``x_q (T, 50)``, tick by tick, in int64.

    Written from the protocol independently of :mod:`nsc.demos.trec.constrained`.
    """
    x = np.asarray(x_q, np.int64)
    w_p = params["proj_w"].astype(np.int64)
    b_p = params["proj_b"].astype(np.int64)
    levels, window = int(params["levels"]), int(params["window"])
    act = np.clip((x @ w_p.T + b_p) // int(params["proj_div"]), 0, levels - 1)  # (T, P)
    w_in = params["w_in"].astype(np.int64)
    w_rec = params["w_rec"].astype(np.int64)
    alpha = params["alpha"].astype(np.int64)
    leak = params["leak"].astype(np.int64)
    n_hidden = w_in.shape[0]
    n_ticks = x.shape[0] * window
    spikes = np.zeros((n_ticks, n_hidden), np.int64)
    v = np.zeros(n_hidden, np.int64)
    for tau in range(n_ticks):
        word, k = divmod(tau, window)
        current = w_in @ (act[word] > k).astype(np.int64) + leak
        if tau >= window:
            current = current + w_rec @ spikes[tau - window]
        v = v + current
        fired = v >= alpha
        spikes[tau] = fired
        v = np.where(fired, v - alpha, np.maximum(v, 0))
        v = np.clip(v, hw.V_MIN, hw.V_MAX)
    counts = spikes.reshape(x.shape[0], window, n_hidden).sum(1)  # (T, H)
    return counts @ params["readout_w"].astype(np.int64).T + params["readout_b"].astype(np.int64)
