"""Small builders shared by the IR tests: populations, host graphs, core padding, rasters."""

from __future__ import annotations

from typing import Any

import numpy as np

from nsc.ir import Core, Graph, Input, Neurons
from nsc.ir.interpret import run_trace
from nsc_runtime import hw

NEURON_DEFAULTS: dict[str, int] = {
    "alpha": 1,
    "leak": 0,
    "beta": 0,
    "kappa": 1,
    "reset_mode": hw.RESET_LINEAR,
    "reset": 0,
    "v0": 0,
    "tm": 0,
    "leak_reversal": 0,
    "stoch_leak": 0,
    "stoch_synapse": 0,
}


def pop(name: str, count: int = 1, **params: Any) -> Neurons:
    """A deterministic population; every parameter is a scalar (broadcast) or a per-neuron list.
    Defaults: the ReLU-like unit with threshold 1 (linear reset, floor at 0, no leak)."""
    unknown = set(params) - set(NEURON_DEFAULTS) - {"type_weights", "core"}
    assert not unknown, unknown
    arrays = {}
    for key, default in NEURON_DEFAULTS.items():
        value = np.asarray(params.get(key, default))
        arrays[key] = np.broadcast_to(value, (count,)).copy() if value.ndim == 0 else value
    return Neurons(
        name,
        count=count,
        type_weights=params.get("type_weights"),
        core=params.get("core"),
        **arrays,
    )


def host_graph(window: int, features: int = 1, levels: int | None = None, name: str = "t") -> Graph:
    """A graph with attribute ``window`` and an integer input ``%x``."""
    g = Graph(name, attrs={"window": window})
    g.add(Input("x", features=features, levels=window + 1 if levels is None else levels))
    return g


def raster(graph: Graph, x: Any, node: str) -> np.ndarray:
    """Spike raster ``(batch, ticks, count)`` of a population or core, as 0/1 ints."""
    graph.verify()
    trace = run_trace(graph, np.asarray(x), keep_spikes=True)
    assert trace.spikes is not None
    lo, hi = trace.neuron_index[node]
    return trace.spikes[:, :, lo:hi].astype(int)


def ticks_of(train: np.ndarray) -> list[int]:
    """Ticks at which a 1-D spike train is 1."""
    return [int(t) for t in np.flatnonzero(train)]


def core(
    name: str,
    *,
    axon_types: Any = (),
    crossbar: Any = None,
    weights: Any = None,
    dest_core: Any = (),
    dest_axon: Any = (),
    delay: Any = (),
    x: int = 0,
    y: int = 0,
    **params: Any,
) -> Core:
    """A core whose first ``k`` neurons and first ``m`` axons are given; the rest are idle
    (never fire: no input, threshold ALPHA_MAX, no reset). ``crossbar`` is ``(m, k)``,
    ``weights`` ``(k, 4)``, per-neuron ``params`` are length-``k`` lists or scalars."""
    n, a = hw.NEURONS_PER_CORE, hw.AXONS_PER_CORE
    k = len(dest_core)
    m = len(axon_types)
    full: dict[str, np.ndarray] = {}
    for key, default in NEURON_DEFAULTS.items():
        arr = np.zeros(n, np.int64)
        arr[:k] = np.broadcast_to(np.asarray(params.get(key, default)), (k,))
        full[key] = arr
    full["alpha"][k:] = hw.ALPHA_MAX
    full["reset_mode"][k:] = hw.RESET_NONE
    types = np.zeros(a, np.uint8)
    types[:m] = np.asarray(axon_types, np.uint8)
    xbar = np.zeros((a, n), bool)
    if m and k:
        xbar[:m, :k] = np.asarray(crossbar, bool).reshape(m, k)
    w = np.zeros((n, hw.AXON_TYPES), np.int32)
    if k:
        w[:k] = np.asarray(weights, np.int32).reshape(k, hw.AXON_TYPES)
    dc = np.full(n, -1, np.int32)
    dc[:k] = np.asarray(dest_core, np.int32)
    da = np.zeros(n, np.int32)
    da[:k] = np.asarray(dest_axon, np.int32)
    dl = np.ones(n, np.int32)
    dl[:k] = np.asarray(delay, np.int32)
    return Core(
        name,
        x=x,
        y=y,
        axon_types=types,
        crossbar=xbar,
        weights=w,
        dest_core=dc,
        dest_axon=da,
        delay=dl,
        **full,
    )
