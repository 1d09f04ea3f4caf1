"""Builders shared by the pass tests: float networks from torch modules, integer graphs by hand,
hand placements, and the standard pipelines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nsc.ir import (
    AxonSynapses,
    ElmanRNN,
    Graph,
    Input,
    Linear,
    Neurons,
    Output,
    ReLU,
    Synapses,
)
from nsc.passes import Context, parse_pipeline, run_pipeline
from nsc_runtime import hw

INTEGER = "quantize{levels=16},insert-delays,split-fanin{max=64},encode-weights"
LOWER = "replicate-fanout,lower-to-cores"


def rnn_network(
    n_in: int,
    hidden: int,
    seed: int,
    *,
    pre: int = 0,
    readout: int = 0,
    scale: float = 1.0,
) -> Graph:
    """Network-level IR of ``[Linear(n_in, pre) -> ReLU] -> RNN(relu) -> [Linear(readout)]``
    with torch's default random initialisation (seeded), weights multiplied by ``scale``."""
    torch.manual_seed(seed)
    g = Graph("net", attrs={"readout": "last"})
    g.add(Input("x", features=n_in))
    src, width = "x", n_in
    if pre:
        lin = torch.nn.Linear(n_in, pre)
        g.add(Linear("pre", source=src, weight=_np(lin.weight) * scale, bias=_np(lin.bias)))
        g.add(ReLU("pre_relu", source="pre"))
        src, width = "pre_relu", pre
    rnn = torch.nn.RNN(width, hidden, nonlinearity="relu")
    g.add(
        ElmanRNN(
            "rnn",
            source=src,
            w_ih=_np(rnn.weight_ih_l0) * scale,
            w_hh=_np(rnn.weight_hh_l0) * scale,
            bias=_np(rnn.bias_ih_l0) + _np(rnn.bias_hh_l0),
        )
    )
    src = "rnn"
    if readout:
        lin = torch.nn.Linear(hidden, readout)
        g.add(Linear("head", source=src, weight=_np(lin.weight), bias=_np(lin.bias)))
        src = "head"
    g.add(Output("out", source=src))
    g.verify()
    return g


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy().copy()


def activities(shape: Sequence[int], seed: int, levels: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, levels, size=tuple(shape))


def run(graph: Graph, spec: str, example: Any = None, **ctx: Any) -> Graph:
    return run_pipeline(graph, parse_pipeline(spec), Context(example_input=example, **ctx))


def place(graph: Graph, cores: dict[str, Any] | int = 0) -> Graph:
    """Set ``core`` of every population: an int for all, or per population name an int or an
    array of per-neuron cores (missing populations go to core 0)."""
    g = graph.copy()
    for p in g.of_type(Neurons):
        c = cores if isinstance(cores, int) else cores.get(p.name, 0)
        arr = np.broadcast_to(np.asarray(c, np.int32), (p.count,)).copy()
        g.nodes[p.name] = p.replace(core=arr)
    if "level" in g.attrs:
        g.attrs["level"] = "placed"
    return g


def same_nodes(a: Graph, b: Graph) -> bool:
    """Structural equality of the nodes and of every attribute but the level and pipeline."""
    skip = ("level", "pipeline")
    a, b = a.copy(), b.copy()
    for key in skip:
        a.attrs.pop(key, None), b.attrs.pop(key, None)
    return a.same_as(b)


def destinations(graph: Graph) -> dict[tuple[str, int], set[tuple[int, int, int]]]:
    """Per source neuron ``(population, index)``: the set of ``(type, core, delay)`` it drives."""
    out: dict[tuple[str, int], set[tuple[int, int, int]]] = {}
    for e in graph.of_type(AxonSynapses):
        if not isinstance(graph[e.source], Neurons):
            continue
        cores = graph[e.target].core
        for a in range(e.axon_source.shape[0]):
            targets = np.flatnonzero(e.crossbar[:, a])
            i = int(e.axon_source[a])
            for c in {int(cores[t]) for t in targets}:
                key = (int(e.axon_type[a]), c, int(e.delay[i]))
                out.setdefault((e.source, i), set()).add(key)
    return out


def neurons_per_core(graph: Graph) -> Counter[int]:
    load: Counter[int] = Counter()
    for p in graph.of_type(Neurons):
        load.update(int(c) for c in p.core)
    return load


def fits(graph: Graph) -> bool:
    return all(n <= hw.NEURONS_PER_CORE for n in neurons_per_core(graph).values())


def fanin(graph: Graph, target: str) -> np.ndarray:
    """Per neuron of ``target``: its number of distinct non-zero inputs over Synapses."""
    rows = [s.weight != 0 for s in graph.of_type(Synapses) if s.target == target]
    if not rows:
        return np.zeros(graph[target].size(graph), int)
    return np.concatenate(rows, axis=1).sum(axis=1)
