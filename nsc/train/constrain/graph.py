"""Exported integer parameters of a :class:`~nsc.train.constrain.model.ConstrainedNet` -> the exact
integer IR at level ``scheduled`` (delays aligned to the window, as insert-delays sets them).

Nodes: ``x`` (input: features, or 1 feature of token ids) -> ``xq`` (``quantize_input``) or
``emb`` (``embed``) -> ``act`` (host ``qlinear`` with levels: the projection, or the identity
when there is none) -> populations ``h0, h1, ...`` (``neurons`` with ``synapses``: host ->
``h0`` delay 0, ``h{k-1}`` -> ``h{k}`` and recurrent ``h{k}`` -> ``h{k}`` delay ``W``; a gated
layer ``k``: populations ``h{k}`` and its state copies ``h{k}_h``, two hops, :mod:`.gated`) ->
``count`` (``spike_count`` of the last population, offset ``depth * W``, ``depth`` = hops - 1)
-> ``readout`` (host ``qlinear``, raw integer logits) -> ``logits`` (output).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Graph, Input, Neurons, Output, QLinear, SpikeCount, Synapses
from ...ops.host_input import Embed, QuantizeInput
from .gated import add_gated_layer
from .model import NetSpec

__all__ = ["build_graph"]


def build_graph(params: dict[str, Any], spec: NetSpec) -> Graph:
    """The integer graph computing exactly what the constrained module computes."""
    window, levels = spec.window, spec.levels
    g = Graph(
        "constrained",
        attrs={"levels": levels, "window": window, "level": "scheduled", "readout": spec.readout},
    )
    if spec.input_kind == "features":
        g.add(Input("x", features=spec.features))
        g.add(
            QuantizeInput(
                "xq",
                source="x",
                scale=params["in_scale"],
                offset=params["in_offset"],
                levels=spec.input_levels,
            )
        )
        host = "xq"
    else:
        g.add(Input("x", features=1))
        g.add(Embed("emb", source="x", table=params["table"]))
        host = "emb"
    if spec.proj:
        act = QLinear(
            "act",
            source=host,
            weight=params["proj_w"],
            bias=params["proj_b"],
            divisor=int(params["proj_div"]),
            levels=levels,
        )
    else:
        n = spec.features
        act = QLinear(
            "act", source=host, weight=np.eye(n), bias=np.zeros(n), divisor=1, levels=levels
        )
    g.add(act)
    source = "act"
    for k, layer in enumerate(spec.layers):
        name = f"h{k}"
        if layer.gated:
            source = add_gated_layer(g, name, source, params, k, window)
            continue
        g.add(Neurons.relu(name, alpha=params[f"alpha{k}"], leak=params[f"leak{k}"]))
        delay = 0 if k == 0 else window
        g.add(
            Synapses(
                f"{name}_in",
                source=source,
                target=name,
                weight=params[f"w_in{k}"],
                delay=np.full(layer.inputs, delay),
            )
        )
        if layer.recurrent:
            g.add(
                Synapses(
                    f"{name}_rec",
                    source=name,
                    target=name,
                    weight=params[f"w_rec{k}"],
                    delay=np.full(layer.size, window),
                )
            )
        source = name
    depth = sum(layer.hops for layer in spec.layers) - 1
    g.add(SpikeCount("count", source=source, offset=depth * window))
    g.add(QLinear("readout", source="count", weight=params["readout_w"], bias=params["readout_b"]))
    g.add(Output("logits", source="readout"))
    return g
