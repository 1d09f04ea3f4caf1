"""Builders shared by the placement tests: the paper-size graph and hand-made problems."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nsc.ir import AxonSynapses, Graph, Input, Neurons, Span, SpikeCount
from nsc.place import PlacementProblem
from nsc_runtime import hw

TYPES = hw.AXON_TYPES


def population(name: str, count: int) -> Neurons:
    """ReLU-like neurons with type weights (1, 2, 4, -8), as encode-weights leaves them."""
    pop = Neurons.relu(name, alpha=np.full(count, 16), leak=np.zeros(count))
    weights = np.tile(np.array([1, 2, 4, -8]), (count, 1))
    return pop.replace(type_weights=weights)  # type: ignore[return-value]


def full_edge(
    name: str, source: str, target: str, n_src: int, n_tgt: int, delay: int
) -> AxonSynapses:
    """Every target listens to all 4 types of every source."""
    return AxonSynapses(
        name,
        source=source,
        target=target,
        axon_source=np.repeat(np.arange(n_src), TYPES),
        axon_type=np.tile(np.arange(TYPES), n_src),
        crossbar=np.ones((n_tgt, n_src * TYPES), dtype=bool),
        delay=np.full(n_src, delay),
    )


def paper_graph(hidden: int = 16, inputs: int = 47) -> Graph:
    """The seed paper's on-chip part: ``hidden`` recurrent neurons, each listening to all 4
    types of every hidden neuron and of ``inputs`` host lines (47 + 16 = 63 sources, 252 axons)."""
    g = Graph("paper", attrs={"window": 15})
    g.add(Input("x", features=inputs, levels=16))
    h = g.add(population("h", hidden))
    h.span = Span("paper.nsir", 3, 1)
    g.add(full_edge("in", "x", "h", inputs, hidden, 0))
    g.add(full_edge("rec", "h", "h", hidden, hidden, 15))
    g.add(SpikeCount("count", source="h"))
    g.verify()
    return g


def problem(n: int, n_sources: int, needs: Sequence[Sequence[int]]) -> PlacementProblem:
    """A problem from per-neuron key lists."""
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum([len(k) for k in needs])
    keys = np.concatenate([np.sort(np.asarray(k, np.int64)) for k in needs]) if n else []
    return PlacementProblem(n, ptr, np.asarray(keys, np.int64), n_sources)


def modular_problem(modules: int, size: int = 40, seed: int = 0) -> PlacementProblem:
    """Modules of ``size`` neurons, shuffled ids. Module ``m`` listens to a pool of 200 keys:
    type 0 of its own neurons, types 1-3 of module ``m - 1`` (ring), and host lines to fill
    up; each neuron listens to each pool key with probability 1/3."""
    rng = np.random.default_rng(seed)
    n = modules * size
    ids = rng.permutation(n).reshape(modules, size)
    pool_size = 200
    host_per = pool_size - 4 * size
    host = n + np.arange(modules * host_per).reshape(modules, host_per)
    needs: list[list[int]] = [[] for _ in range(n)]
    for m in range(modules):
        prev = ids[m - 1]
        pool = np.concatenate(
            [ids[m] * 4, (prev[:, None] * 4 + np.arange(1, 4)).reshape(-1), host[m] * 4]
        )
        listen = rng.random((size, pool.size)) < 1 / 3
        listen[0] |= ~listen.any(axis=0)
        for j in range(size):
            needs[int(ids[m, j])] = pool[listen[j]].tolist()
    return problem(n, n + host.size, needs)
