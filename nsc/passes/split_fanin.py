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

The tree is built on the non-zero weights (work and memory grow with the synapses); only
the finished tree's :class:`Synapses` are stored densely, as the IR stores every synapse
node. Before that, when the hardware is known (``nsc compile``), the tree is checked: the
counting lower bound on cores of the tree as encode-weights will encode it
(:func:`nsc.place.bounds.graph_bound`; splitting adds part neurons and, through them, copies
of every source) must fit the hardware, else :class:`DoesNotFitError` names the bound; and the
dense weight matrices of the new synapse nodes must stay within :data:`MAX_TREE_CELLS`, else
:class:`PassError` says how large the tree would be and what makes it smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..defaults import DEFAULT_MAX_FANIN
from ..errors import DoesNotFitError, PassError
from ..ir import Graph, Neurons, SpikeCount, Synapses
from ..ops.gated import refuse_split
from .encode_weights import axon_bits, units
from .pipeline import Context, Pass, register

if TYPE_CHECKING:
    from ..place.bounds import GraphBound

MAX_TREE_CELLS = 2**30
"""Most weight cells (int32 each, so 4 GiB) the new synapse nodes of one split may hold: the IR
stores synapses densely, so a tree over a population of ``n`` neurons costs about ``parts x
n x sources`` cells although it holds only the original weights plus one per part neuron."""


@register
@dataclass(frozen=True)
class SplitFanin(Pass):
    """Split populations whose neurons have more than ``max`` inputs into trees."""

    name = "split-fanin"
    requires = "integer"
    produces = "fanin"
    max: int = DEFAULT_MAX_FANIN

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        tree = _grow(graph, self.max)
        if tree.created:
            fits = tree.check_fits(ctx.hardware) if ctx.hardware is not None else ""
            tree.check_size(self.max, fits)
        return tree.materialize()


def split_bound(graph: Graph, limit: int = DEFAULT_MAX_FANIN) -> GraphBound | None:
    """The counting lower bound on cores of ``graph`` after ``split-fanin{max=limit}`` and
    encode-weights, computed on the tree's non-zero weights without building it densely
    (None when encode-weights would refuse a weight, or when one neuron needs more copies
    than a core holds)."""
    return _grow(graph, limit).bound()


def _grow(graph: Graph, limit: int) -> _Tree:
    if limit < 2:
        raise PassError(f"split-fanin: max must be >= 2, got {limit}")
    tree = _Tree(graph.copy())
    for _ in range(64):
        wide = [p for p in tree.g.of_type(Neurons) if tree.fanin(p.name) > limit]
        if not wide:
            return tree
        for pop in wide:
            refuse_split(tree.g, pop.name, tree.fanin(pop.name), limit)  # gated units
            tree.split(pop, limit)
    raise PassError("split-fanin: fan-in did not converge after 64 rounds")


@dataclass
class _Edge:
    """A synapse node's non-zero weights ``w[j, i]`` (row-major order) and its shape."""

    j: np.ndarray
    i: np.ndarray
    w: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, s: Synapses) -> _Edge:
        j, i = np.nonzero(s.weight)
        return cls(j, i, s.weight[j, i], (int(s.weight.shape[0]), int(s.weight.shape[1])))


class _Tree:
    """The graph being split: nodes in ``g`` (new synapse nodes with a placeholder weight
    until :meth:`materialize`) and every synapse node's non-zero weights in ``edges``."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.edges: dict[str, _Edge] = {}
        self.into: dict[str, list[str]] = {}  # target -> its synapse nodes, in graph order
        for n in g:
            if isinstance(n, Synapses):
                self.edges[n.name] = _Edge.of(n)
                self.into.setdefault(n.target, []).append(n.name)
            elif isinstance(g.nodes.get(getattr(n, "target", None) or ""), Neurons):
                raise n.fail("split-fanin runs before encode-weights (found encoded synapses)")
        self.created: dict[str, None] = {}  # new synapse nodes, in order of creation
        self.parts: dict[str, int] = {}  # split population -> parts made for it
        self._fanin: dict[str, int] = {}

    def incoming(self, target: str) -> list[Synapses]:
        out = []
        for name in self.into.get(target, []):
            node = self.g.nodes[name]
            assert isinstance(node, Synapses)
            out.append(node)
        return out

    def fanin(self, target: str) -> int:
        if target not in self._fanin:
            count = self.g[target].size(self.g)
            per_row = sum(
                (
                    np.bincount(self.edges[name].j, minlength=count)
                    for name in self.into.get(target, [])
                ),
                np.zeros(count, np.int64),
            )
            self._fanin[target] = int(per_row.max(initial=0))
        return self._fanin[target]

    def chunks(
        self, incoming: list[Synapses], count: int, limit: int
    ) -> tuple[list[np.ndarray], int]:
        """The chunk of every non-zero weight of every incoming synapse node, and the number
        of chunks: a neuron's inputs are its non-zero ``(synapse node, source)`` pairs in node
        then source order, cut into chunks of at most ``limit``.

        Dense-ish populations (every neuron hears most of the population's sources) are cut at
        the same source positions for every neuron (chunk = the source's rank among all sources
        any neuron hears, divided by ``limit``), so all neurons of one part share their sources
        and pack onto few cores. Sparse ones (e.g. re-emitters, which hear one neuron per part)
        are cut per neuron (chunk = the input's position in the neuron's own list, divided by
        ``limit``), which keeps the number of parts small.
        """
        edges = [self.edges[s.name] for s in incoming]
        used = []
        for e in edges:
            mask = np.zeros(e.shape[1], bool)
            mask[e.i] = True
            used.append(mask)
        union = sum(int(u.sum()) for u in used)
        per_row = [np.bincount(e.j, minlength=count) for e in edges]
        lengths = sum(per_row, np.zeros(count, np.int64))
        widest = int(lengths.max(initial=0))
        n_parts = -(-union // limit)
        if union <= 2 * widest and n_parts < widest:  # dense, and the split makes progress
            chunks, offset = [], 0
            for u, e in zip(used, edges, strict=True):
                rank = offset + np.cumsum(u) - 1
                chunks.append(rank[e.i] // limit)
                offset += int(u.sum())
            return chunks, n_parts
        chunks, before = [], np.zeros(count, np.int64)
        for e, counts in zip(edges, per_row, strict=True):
            first = np.cumsum(counts) - counts  # first entry of each row in this node
            position = before[e.j] + np.arange(e.j.size) - first[e.j]
            chunks.append(position // limit)
            before += counts
        return chunks, max(1, -(-widest // limit))

    def add_edge(self, node: Synapses, edge: _Edge) -> None:
        self.g.add(node)
        self.edges[node.name] = edge
        self.created[node.name] = None
        self.into.setdefault(node.target, []).append(node.name)
        self._fanin.pop(node.target, None)

    def split(self, pop: Neurons, limit: int) -> None:
        g = self.g
        incoming = self.incoming(pop.name)
        chunks, n_parts = self.chunks(incoming, pop.count, limit)
        edges = [self.edges.pop(s.name) for s in incoming]
        for s in incoming:
            del g.nodes[s.name]
            self.created.pop(s.name, None)
        self.into[pop.name] = []
        self._fanin.pop(pop.name, None)
        placeholder = np.zeros((0, 0), np.int32)
        groups = []  # per incoming edge: entries sorted by chunk (stable), where each starts
        for chunk in chunks:
            order = np.argsort(chunk, kind="stable")
            groups.append((order, np.searchsorted(chunk[order], np.arange(n_parts + 1))))
        for k in range(n_parts):
            part_name = g.fresh_name(f"{pop.name}_part{k}")
            leak = pop.leak if k == 0 else np.zeros_like(pop.leak)
            part = Neurons.relu(part_name, alpha=pop.alpha, leak=leak)
            part.span = pop.span
            g.add(part)
            for s, e, (order, starts) in zip(incoming, edges, groups, strict=True):
                mine = order[starts[k] : starts[k + 1]]
                if not mine.size:
                    continue
                from_neurons = isinstance(g[s.source], Neurons)
                delay = np.where(s.delay >= 2, s.delay - 1, s.delay) if from_neurons else s.delay
                piece = Synapses(
                    g.fresh_name(f"{s.name}_{k}"),
                    source=s.source,
                    target=part_name,
                    weight=placeholder,
                    delay=delay,
                )
                piece.span = s.span
                self.add_edge(piece, _Edge(e.j[mine], e.i[mine], e.w[mine], e.shape))
            diagonal = np.arange(pop.count)
            relay = Synapses(
                g.fresh_name(f"{part_name}_out"),
                source=part_name,
                target=pop.name,
                weight=placeholder,
                delay=np.ones(pop.count, np.int32),
            )
            relay.span = pop.span
            ones = np.ones(pop.count, np.int32)
            self.add_edge(relay, _Edge(diagonal, diagonal, ones, (pop.count, pop.count)))
        g.nodes[pop.name] = pop.replace(alpha=np.ones_like(pop.alpha), leak=np.zeros_like(pop.leak))
        self.parts[pop.name] = self.parts.get(pop.name, 0) + n_parts
        if any(not isinstance(g[s.source], Neurons) or (s.delay < 2).any() for s in incoming):
            for c in g.of_type(SpikeCount):
                if c.source == pop.name:
                    g.nodes[c.name] = c.replace(offset=c.offset + 1)

    def bound(self) -> GraphBound | None:
        """The counting bound of the tree as encode-weights will encode it
        (:func:`nsc.place.bounds.graph_bound`), from the non-zero weights."""
        from ..place.bounds import graph_bound

        g = self.g
        neurons = {p.name: p.count for p in g.of_type(Neurons)}
        by_target: dict[str, list[Synapses]] = {}
        for s in g.of_type(Synapses):
            by_target.setdefault(s.target, []).append(s)
        listeners: dict[str, np.ndarray] = {}
        for target, incoming in by_target.items():
            edges = [self.edges[s.name] for s in incoming]
            columns = sum(e.shape[1] for e in edges)
            unit, bad = units(neurons[target], [e.j for e in edges], [e.w for e in edges], columns)
            if bad is not None:
                return None  # encode-weights explains it
            for s, e in zip(incoming, edges, strict=True):
                _, key = axon_bits(e.j, e.i, e.w, unit)
                count = np.bincount(key, minlength=e.shape[1] * 4)
                if s.source in listeners:
                    listeners[s.source] = listeners[s.source] + count
                else:
                    listeners[s.source] = count
        return graph_bound(neurons, listeners)

    def check_fits(self, hardware: Any) -> str:
        """The tree's counting bound against the hardware, before any dense matrix is built;
        raises :class:`DoesNotFitError` when it does not fit, else says how it fits."""
        from ..place.bounds import suggest_chips

        bound = self.bound()
        neurons = {p.name: p.count for p in self.g.of_type(Neurons)}
        n_cores = getattr(hardware, "n_cores", 0)
        if bound is None:
            return ""
        if bound.cores <= n_cores:
            return (
                f" (the tree itself would fit the hardware: it needs at least {bound.cores:,} "
                f"cores by the counting bound, and {hardware} chip(s) hold {n_cores:,})"
            )
        grown = ", ".join(
            f"%{name}: {neurons[name]:,} neurons, {parts:,} parts"
            for name, parts in list(self.parts.items())[:3]
        )
        raise DoesNotFitError(
            f"after split-fanin the network needs at least {bound.cores:,} cores, but "
            f"{hardware} chip(s) hold {n_cores:,} (split: {grown}; {sum(neurons.values()):,} "
            f"neurons in all). Bound (from the split graph, before the dense rewrite and "
            f"placement): {bound.how}. Use --chips {suggest_chips(bound.cores)}, or fewer "
            "hidden units or inputs (a population of n neurons with fan-in f splits into about "
            "f / max parts of n neurons each), or fewer levels (fewer axon types per input)."
        )

    def check_size(self, limit: int, fits: str = "") -> None:
        """Refuse a tree whose new synapse nodes would hold more than MAX_TREE_CELLS cells."""
        cells = sum(self.edges[n].shape[0] * self.edges[n].shape[1] for n in self.created)
        if cells <= MAX_TREE_CELLS:
            return
        weights = sum(self.edges[n].w.size for n in self.created)
        names = ", ".join(f"%{name}" for name in list(self.parts)[:3])
        raise PassError(
            f"split-fanin: the tree for {names} would store {cells:,} dense weight cells "
            f"({cells * 4 / 2**30:.1f} GiB) to hold {weights:,} non-zero weights, over the "
            f"compiler's limit of {MAX_TREE_CELLS:,} cells: the IR stores every synapse node "
            f"densely, and each of the tree's parts listens to the whole source population{fits}. "
            "Use fewer hidden units (the cells grow with the cube of a recurrent layer's size; "
            "max="
            f"{limit} splits it into fan-in / {limit} parts)."
        )

    def materialize(self) -> Graph:
        """Store the new synapse nodes' weights densely, as the IR does."""
        for name in self.created:
            e = self.edges[name]
            node = self.g.nodes[name]
            assert isinstance(node, Synapses)
            w = np.zeros(e.shape, np.int32)
            w[e.j, e.i] = e.w
            self.g.nodes[name] = node.replace(weight=w)
        return self.g
