"""The exported integer parameters of a constrained model -> the exact integer IR.

The dict (see :func:`nsc.demos.trec.export_integer_params`) describes, exactly: a host projection
``p = clip(floor((proj_w @ x + proj_b) / proj_div), 0, levels-1)``, a recurrent population of
ReLU-like spiking units (``alpha``, ``leak``, inputs ``w_in`` with delay 0 and recurrent
``w_rec`` with delay ``window``), spike counts per window, and a host readout
``readout_w @ h + readout_b``. The resulting graph computes what training computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FrontendError
from ..ir import Graph, Input, Neurons, Output, QLinear, SpikeCount, Synapses

REQUIRED = (
    "proj_w",
    "proj_b",
    "proj_div",
    "w_in",
    "w_rec",
    "alpha",
    "leak",
    "readout_w",
    "readout_b",
    "window",
    "levels",
)


def from_params(params: dict[str, Any]) -> Graph:
    missing = [k for k in REQUIRED if k not in params]
    if missing:
        raise FrontendError(f"integer parameters lack {', '.join(missing)}")
    arr = {k: np.asarray(params[k]) for k in REQUIRED}
    for k, v in arr.items():
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise FrontendError(f"integer parameter {k} holds NaN or infinite values")
        if v.dtype.kind == "f" and not np.all(np.equal(np.mod(v, 1), 0)):
            raise FrontendError(f"integer parameter {k} holds non-integer values")
    window, levels = int(arr["window"]), int(arr["levels"])
    hidden = int(arr["alpha"].shape[0])
    n_proj, n_in = arr["proj_w"].shape
    g = Graph("trained", attrs={"level": "scheduled", "window": window, "levels": levels})
    g.add(Input("x", features=int(n_in)))
    g.add(
        QLinear(
            "proj",
            source="x",
            weight=arr["proj_w"],
            bias=arr["proj_b"],
            divisor=int(arr["proj_div"]),
            levels=levels,
        )
    )
    g.add(Neurons.relu("h", alpha=arr["alpha"], leak=arr["leak"]))
    g.add(
        Synapses(
            "w_in", source="proj", target="h", weight=arr["w_in"], delay=np.zeros(n_proj, np.int32)
        )
    )
    g.add(
        Synapses(
            "w_rec",
            source="h",
            target="h",
            weight=arr["w_rec"],
            delay=np.full(hidden, window, np.int32),
        )
    )
    g.add(SpikeCount("h_count", source="h"))
    g.add(QLinear("readout", source="h_count", weight=arr["readout_w"], bias=arr["readout_b"]))
    g.add(Output("logits", source="readout"))
    return g
