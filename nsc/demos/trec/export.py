"""The demo's integer parameters: the constrained network of :func:`nsc.constrain` as the dict
``nsc compile params.npz`` reads (:mod:`nsc.frontend.params`), plus the host lookup table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nsc.errors import NscError
from nsc.train.constrain import ConstrainedNet

__all__ = ["export_integer_params", "quantize_inputs"]


def export_integer_params(net: ConstrainedNet, vocab: Sequence[str]) -> dict[str, Any]:
    """Everything the host and the chip need, as numpy arrays and plain values.

    Keys read by the compiler: ``proj_w (P, 50)``, ``proj_b (P,)``, ``proj_div``, ``w_in (H,
    P)``, ``w_rec (H, H)``, ``alpha (H,)``, ``leak (H,)``, ``readout_w (6, H)``, ``readout_b
    (6,)`` (int64), ``window`` (15), ``levels`` (16). For the host: ``table (V, 50)`` (the
    integer embedding rows the projection reads, the network's input), ``vocab`` (its words),
    ``fan_in_mask (H, P + H)`` (bool).
    """
    spec = net.spec
    if spec.input_kind != "embedding" or not spec.proj or len(spec.layers) != 1:
        raise NscError("the TREC demo exports an embedding, a projection and one population")
    p = net.export_params()
    return {
        "proj_w": p["proj_w"],
        "proj_b": p["proj_b"],
        "proj_div": int(p["proj_div"]),
        "w_in": p["w_in0"],
        "w_rec": p["w_rec0"],
        "alpha": p["alpha0"],
        "leak": p["leak0"],
        "readout_w": p["readout_w"],
        "readout_b": p["readout_b"],
        "window": int(p["window"]),
        "levels": int(p["levels"]),
        "table": p["table"],
        "vocab": np.asarray(list(vocab), dtype=str),
        "fan_in_mask": net.mask0.numpy().copy(),
    }


def quantize_inputs(
    params: dict[str, Any], token_lists: Sequence[Sequence[str]]
) -> list[np.ndarray]:
    """Host input of each question: its words' integer table rows, an int64 array ``(T, 50)``
    per token list (a word outside the vocabulary raises :class:`NscError`)."""
    index = {str(w): i for i, w in enumerate(params["vocab"])}
    table = np.asarray(params["table"], np.int64)
    out = []
    for toks in token_lists:
        missing = [w for w in toks if w not in index]
        if missing:
            raise NscError(f"words outside the vocabulary: {', '.join(missing[:5])}")
        out.append(table[[index[w] for w in toks]])
    return out
