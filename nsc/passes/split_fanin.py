"""split-fanin: bound every neuron's fan-in so its axons fit one core.

Before: integer :class:`Synapses`. After: no neuron has more than ``max`` distinct inputs
(source neurons or host lines with a non-zero weight).

A population whose neurons see more than ``max`` inputs gets a tree: each neuron's inputs are
cut into chunks of at most ``max`` (at the same source positions for every neuron when the
population is dense, see :func:`_chunks`); chunk ``k`` of neuron ``j`` feeds neuron ``j`` of a new
population ``<name>_part<k>`` of the same size (ReLU-like units with the target's threshold;
chunk 0 also takes the leak); each part neuron feeds its target neuron with weight 1 and delay
1, and the target becomes a unit with threshold 1 and no leak that re-emits the parts' spikes.
Neuron -> part delays shrink by that tick (``d - 1`` when ``d >= 2``), so a recurrent loop
through the tree still takes exactly one window. The spike count of the target is then ``sum_k
relu_k``, not ``relu(sum_k)``: splitting changes the integer function, and the reference
interpreter models the tree exactly (docs/conversion.md). Host inputs (and inputs whose delay
cannot shrink) reach the target one tick later, so such a split population is counted one tick
later (its :class:`SpikeCount` offset grows by 1). Trees deeper than one level are built by
repeating the split until every fan-in fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..defaults import DEFAULT_MAX_FANIN
from ..errors import PassError
from ..ir import Graph, Neurons, SpikeCount, Synapses
from ..ops.gated import refuse_split
from .pipeline import Context, Pass, register


@register
@dataclass(frozen=True)
class SplitFanin(Pass):
    """Split populations whose neurons have more than ``max`` inputs into trees."""

    name = "split-fanin"
    requires = "integer"
    produces = "fanin"
    max: int = DEFAULT_MAX_FANIN

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        if self.max < 2:
            raise PassError(f"split-fanin: max must be >= 2, got {self.max}")
        g = graph.copy()
        for _ in range(64):
            wide = [p for p in g.of_type(Neurons) if _fanin(g, p.name) > self.max]
            if not wide:
                return g
            for pop in wide:
                refuse_split(g, pop.name, _fanin(g, pop.name), self.max)  # gated units
                _split(g, pop, self.max)
        raise PassError("split-fanin: fan-in did not converge after 64 rounds")


def _incoming(g: Graph, target: str) -> list[Synapses]:
    out = []
    for n in g:
        if isinstance(n, Synapses) and n.target == target:
            out.append(n)
        elif getattr(n, "target", None) == target:
            raise n.fail("split-fanin runs before encode-weights (found encoded synapses)")
    return out


def _fanin(g: Graph, target: str) -> int:
    incoming = _incoming(g, target)
    if not incoming:
        return 0
    nonzero = np.concatenate([s.weight != 0 for s in incoming], axis=1)
    return int(nonzero.sum(axis=1).max())


def _chunks(incoming: list[Synapses], count: int, limit: int) -> list[list[list[tuple[int, int]]]]:
    """Per target neuron, its inputs ``(synapse node, source)`` cut into chunks of ``limit``.

    Dense-ish populations (every neuron hears most of the population's sources) are cut at the
    same source positions for every neuron, so all neurons of one part share their sources
    and pack onto few cores. Sparse ones (e.g. re-emitters, which hear one neuron per part)
    are cut per neuron, which keeps the number of parts small.
    """
    union = [(n, int(i)) for n, s in enumerate(incoming) for i in np.flatnonzero(s.weight.any(0))]
    lists = [
        [(n, int(i)) for n, s in enumerate(incoming) for i in np.flatnonzero(s.weight[j])]
        for j in range(count)
    ]
    widest = max(len(x) for x in lists)
    n_parts = -(-len(union) // limit)
    if len(union) <= 2 * widest and n_parts < widest:  # dense, and the split makes progress
        rank = {src: r for r, src in enumerate(union)}
        aligned = []
        for inputs in lists:
            per_part: list[list[tuple[int, int]]] = [[] for _ in range(n_parts)]
            for src in inputs:
                per_part[rank[src] // limit].append(src)
            aligned.append(per_part)
        return aligned
    return [[x[k : k + limit] for k in range(0, len(x), limit)] for x in lists]


def _split(g: Graph, pop: Neurons, limit: int) -> None:
    incoming = _incoming(g, pop.name)
    chunks = _chunks(incoming, pop.count, limit)
    n_parts = max(len(c) for c in chunks)
    for s in incoming:
        del g.nodes[s.name]
    for k in range(n_parts):
        part_name = g.fresh_name(f"{pop.name}_part{k}")
        leak = pop.leak if k == 0 else np.zeros_like(pop.leak)
        part = Neurons.relu(part_name, alpha=pop.alpha, leak=leak)
        part.span = pop.span
        g.add(part)
        weights = [np.zeros_like(s.weight) for s in incoming]
        for j, neuron_chunks in enumerate(chunks):
            for n, i in neuron_chunks[k] if k < len(neuron_chunks) else []:
                weights[n][j, i] = incoming[n].weight[j, i]
        for s, w in zip(incoming, weights):
            if not w.any():
                continue
            from_neurons = isinstance(g[s.source], Neurons)
            delay = np.where(s.delay >= 2, s.delay - 1, s.delay) if from_neurons else s.delay
            piece = Synapses(
                g.fresh_name(f"{s.name}_{k}"),
                source=s.source,
                target=part_name,
                weight=w,
                delay=delay,
            )
            piece.span = s.span
            g.add(piece)
        relay = Synapses(
            g.fresh_name(f"{part_name}_out"),
            source=part_name,
            target=pop.name,
            weight=np.eye(pop.count, dtype=np.int32),
            delay=np.ones(pop.count, np.int32),
        )
        relay.span = pop.span
        g.add(relay)
    g.nodes[pop.name] = pop.replace(alpha=np.ones_like(pop.alpha), leak=np.zeros_like(pop.leak))
    if any(not isinstance(g[s.source], Neurons) or (s.delay < 2).any() for s in incoming):
        for c in g.of_type(SpikeCount):
            if c.source == pop.name:
                g.nodes[c.name] = c.replace(offset=c.offset + 1)
