"""insert-delays: schedule each sequence step into a window of ticks.

Before: an integer spiking graph (:class:`Synapses` or :class:`AxonSynapses`, any delays).
After: every host -> neuron synapse has delay 0 (the host sends a burst at the start of the
window); every neuron -> neuron synapse has delay ``W`` (= the window), so a spike fired at
phase ``k`` of step ``t``'s window arrives at phase ``k`` of the next window: the recurrence
``h[t] = f(W x[t] + U h[t-1] + b)`` is carried from one window to the next, for any sequence
length; every :class:`SpikeCount` counts its population's window ``depth * W`` ticks later,
where ``depth`` is the number of feed-forward neuron -> neuron hops from the host.

Requires ``W <= 15`` (the longest hardware delay); relays for longer windows are not needed
because quantize caps the window at ``levels - 1 <= 15``.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from nsc_runtime import hw

from ..errors import PassError
from ..ir import AxonSynapses, Graph, Neurons, SpikeCount, Synapses
from .pipeline import Context, Pass, register


@register
@dataclass(frozen=True)
class InsertDelays(Pass):
    """Set window-aligned delays and the matching spike-count offsets."""

    name = "insert-delays"
    requires = "integer"
    produces = "scheduled"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        window = graph.window
        if not 1 <= window <= hw.DELAY_MAX:
            raise PassError(
                f"insert-delays: window {window} ticks exceeds the longest delay "
                f"({hw.DELAY_MAX}); use levels <= {hw.DELAY_MAX + 1}"
            )
        g = graph.copy()
        edges = [n for n in g if isinstance(n, (Synapses, AxonSynapses))]
        for node in edges:
            host = not isinstance(g[node.source], Neurons)
            g.nodes[node.name] = node.replace(delay=np.full_like(node.delay, 0 if host else window))
        depth = _depths(g, edges)
        for count in g.of_type(SpikeCount):
            g.nodes[count.name] = count.replace(offset=depth[count.source] * window)
        return g


def _depths(graph: Graph, edges: list[Synapses | AxonSynapses]) -> dict[str, int]:
    """Longest feed-forward path (in populations) from the host to each population."""
    pops: nx.DiGraph[str] = nx.DiGraph()
    pops.add_nodes_from(n.name for n in graph.of_type(Neurons))
    pops.add_edges_from(
        (e.source, e.target)
        for e in edges
        if isinstance(graph[e.source], Neurons) and e.source != e.target
    )
    try:
        cycle = nx.find_cycle(pops)
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:
        raise PassError(
            f"insert-delays: populations form a feed-forward cycle through %{cycle[0][0]}; "
            "only self-recurrence is scheduled"
        )
    depth: dict[str, int] = {}
    for p in nx.topological_sort(pops):
        depth[p] = max((depth[q] + 1 for q in pops.predecessors(p)), default=0)
    return depth
