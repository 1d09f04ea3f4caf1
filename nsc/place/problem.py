"""The placement problem: which axon keys every neuron needs, extracted from a neuron-level graph.

Model (docs/placement.md). Logical neurons are all neurons of all :class:`Neurons` nodes,
numbered by concatenation in graph order. Sources are those neurons (ids ``0..n-1``) followed by
the host input lines (features of :class:`Input` / :class:`QLinear` nodes that feed an
:class:`AxonSynapses`; ids ``n..n_sources-1``), which are not placed. An *axon key* is
``source * 4 + axon_type``: target neuron ``j`` needs key ``(i, t)`` for every axon ``a`` of an
``AxonSynapses`` edge with ``crossbar[j, a]``, ``axon_source[a] == i``, ``axon_type[a] == t``.
Neurons on one core share axons: a core needs one axon per distinct key of its neurons.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nsc_runtime import hw

from ..errors import DoesNotFitError, PassError
from ..ir import AxonSynapses, Core, Graph, Input, Neurons, QLinear, Span, Synapses

TYPES = hw.AXON_TYPES  # key = source * TYPES + axon type


@dataclass(frozen=True)
class Segment:
    """A run of ``count`` consecutive ids that belong to one IR node."""

    name: str
    start: int
    count: int
    span: Span | None = None


@dataclass(frozen=True)
class Labels:
    """Names for messages: neuron ``i`` -> (node name, index in node), host line likewise.

    ``neurons`` cover neuron ids ``0..n-1``; ``host`` cover source ids ``n..n_sources-1``.
    """

    neurons: tuple[Segment, ...] = ()
    host: tuple[Segment, ...] = ()

    @staticmethod
    def _find(segments: tuple[Segment, ...], i: int) -> tuple[Segment, int] | None:
        starts = [s.start for s in segments]
        pos = bisect.bisect_right(starts, i) - 1
        if pos < 0 or i >= segments[pos].start + segments[pos].count:
            return None
        return segments[pos], i - segments[pos].start

    def neuron(self, i: int) -> tuple[str, int]:
        """(node name, index in node) of neuron ``i``."""
        found = self._find(self.neurons, i)
        return (found[0].name, found[1]) if found else ("neurons", i)

    def describe(self, source: int, n_neurons: int) -> str:
        """``%name[index]`` plus the node's source span, for a neuron or a host line id."""
        segments = self.neurons if source < n_neurons else self.host
        found = self._find(segments, source)
        if found is None:
            kind = "neuron" if source < n_neurons else "host line"
            return f"{kind} {source if source < n_neurons else source - n_neurons}"
        segment, index = found
        where = f" (defined at {segment.span})" if segment.span else ""
        return f"%{segment.name}[{index}]{where}"


@dataclass
class PlacementProblem:
    """Neuron ``i`` needs the axon keys ``keys[ptr[i]:ptr[i+1]]`` (sorted, distinct).

    ``key = source_id * 4 + axon_type``; source ids ``0..n_neurons-1`` are the neurons,
    ``n_neurons..n_sources-1`` host input lines. ``rates``: expected spikes per tick of each
    source (``None``: uniform). ``labels`` name neurons in messages.
    """

    n_neurons: int
    ptr: np.ndarray
    keys: np.ndarray
    n_sources: int
    rates: np.ndarray | None = None
    labels: Labels | None = None

    def __post_init__(self) -> None:
        n = int(self.n_neurons)
        self.ptr = np.ascontiguousarray(self.ptr, dtype=np.int64)
        self.keys = np.ascontiguousarray(self.keys, dtype=np.int64)
        if n < 0 or self.n_sources < n:
            raise ValueError(f"need 0 <= n_neurons <= n_sources, got {n}, {self.n_sources}")
        if self.ptr.shape != (n + 1,) or self.ptr[0] != 0 or self.ptr[-1] != self.keys.size:
            raise ValueError("ptr must have n_neurons + 1 entries from 0 to len(keys)")
        if np.any(np.diff(self.ptr) < 0):
            raise ValueError("ptr must be non-decreasing")
        if self.keys.size and (self.keys.min() < 0 or self.keys.max() >= self.key_space):
            raise ValueError(f"keys must lie in [0, {self.key_space})")
        if self.rates is not None:
            self.rates = np.ascontiguousarray(self.rates, dtype=np.float64)
            if self.rates.shape != (self.n_sources,):
                raise ValueError(f"rates must have shape ({self.n_sources},)")
            if not np.all(np.isfinite(self.rates)) or np.any(self.rates < 0):
                raise ValueError("rates must be finite and >= 0")
        self._normalize_rows()

    def _normalize_rows(self) -> None:
        """Sort each row and drop duplicate keys (a no-op check for well-formed input)."""
        if self.keys.size < 2:
            return
        step = np.diff(self.keys)
        inside = np.ones(step.size, dtype=bool)
        inside[self.ptr[1:-1][(self.ptr[1:-1] > 0) & (self.ptr[1:-1] < self.keys.size)] - 1] = 0
        if np.all(step[inside] > 0):
            return
        rows = self.rows
        order = np.lexsort((self.keys, rows))
        keys, rows = self.keys[order], rows[order]
        keep = np.ones(keys.size, dtype=bool)
        keep[1:] = (keys[1:] != keys[:-1]) | (rows[1:] != rows[:-1])
        self.keys = keys[keep]
        self.ptr = np.zeros(self.n_neurons + 1, np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=self.n_neurons), out=self.ptr[1:])
        self.__dict__.pop("rows", None)

    # -- derived arrays (computed once) ------------------------------------------------------
    @property
    def key_space(self) -> int:
        return self.n_sources * TYPES

    @property
    def n_host(self) -> int:
        return self.n_sources - self.n_neurons

    @cached_property
    def rows(self) -> np.ndarray:
        """The neuron of every entry of ``keys`` (int32)."""
        return np.repeat(np.arange(self.n_neurons, dtype=np.int32), np.diff(self.ptr))

    @cached_property
    def degree(self) -> np.ndarray:
        """Number of neurons that need each key (int64, length ``key_space``)."""
        return np.bincount(self.keys, minlength=self.key_space)

    @cached_property
    def source_rates(self) -> np.ndarray:
        """Spikes per tick of every source (1.0 each when no rates were given)."""
        if self.rates is None:
            return np.ones(self.n_sources)
        return self.rates

    def describe(self, source: int) -> str:
        """``%node[index] (defined at file:line:col)`` for a neuron or host-line id."""
        labels = self.labels or Labels()
        return labels.describe(source, self.n_neurons)


# ---------------------------------------------------------------------------------------------
# extraction from the IR


def extract_problem(graph: Graph) -> PlacementProblem:
    """The placement problem of a neuron-level graph whose edges are :class:`AxonSynapses`.

    Raises :class:`PassError` when the graph is not at that level (no ``Neurons`` at all, as
    in a network-level graph; ``Synapses`` not yet encoded; or already lowered to cores) and
    :class:`DoesNotFitError` when an edge cannot be expressed with shared axons (see
    :func:`_check_shared_axons`).
    """
    for node in graph:
        if isinstance(node, Synapses):
            raise PassError(
                f"place: %{node.name} is a synapses node; run encode-weights before placement"
            )
        if isinstance(node, Core):
            raise PassError(f"place: %{node.name} is already a core; the graph is placed")
    neurons: list[Neurons] = graph.of_type(Neurons)
    if not neurons:
        raise PassError(
            f"place: graph {graph.name!r} has no neurons nodes, so there is nothing to place; "
            "placement reads a neuron-level graph (after encode-weights): compile the network "
            "with 'nsc compile', or run its pipeline through encode-weights first"
        )
    offsets: dict[str, int] = {}
    segments: list[Segment] = []
    n = 0
    for node in neurons:
        offsets[node.name] = n
        segments.append(Segment(node.name, n, node.count, node.span))
        n += node.count
    edges: list[AxonSynapses] = graph.of_type(AxonSynapses)
    host_segments: list[Segment] = []
    total = n
    for edge in edges:
        src = graph[edge.source]
        if edge.source in offsets or not isinstance(src, (Input, QLinear)):
            continue
        offsets[edge.source] = total
        host_segments.append(Segment(src.name, total, src.size(graph), src.span))
        total += src.size(graph)

    labels = Labels(tuple(segments), tuple(host_segments))

    def describe(source: int) -> str:
        return labels.describe(source, n)

    consumers, keys, owners = [], [], []
    for e_idx, edge in enumerate(edges):
        j, a = np.nonzero(edge.crossbar)
        consumers.append(offsets[edge.target] + j.astype(np.int64))
        sid = offsets[edge.source] + edge.axon_source[a].astype(np.int64)
        keys.append(sid * TYPES + edge.axon_type[a].astype(np.int64))
        owners.append(np.full(j.size, e_idx, dtype=np.int64))
    if not consumers:
        empty = np.zeros(0, np.int64)
        return PlacementProblem(n, np.zeros(n + 1, np.int64), empty, total, None, labels)
    cons, key, owner = np.concatenate(consumers), np.concatenate(keys), np.concatenate(owners)
    _check_shared_axons(cons, key, owner, edges, total * TYPES, describe)
    _check_delays(graph, edges, offsets, describe)
    order = np.lexsort((key, cons))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(cons, minlength=n), out=ptr[1:])
    return PlacementProblem(n, ptr, key[order], total, None, labels)


def _check_shared_axons(
    cons: np.ndarray,
    key: np.ndarray,
    owner: np.ndarray,
    edges: list[AxonSynapses],
    key_space: int,
    describe: Callable[[int], str],
) -> None:
    """A neuron may listen to at most one axon per (source, type): a core holds one axon per key,
    so two such axons (from one edge or from two edges) would be merged and change the sum."""
    code = cons * key_space + key
    order = np.argsort(code, kind="stable")
    dup = np.flatnonzero(code[order][1:] == code[order][:-1])
    if dup.size == 0:
        return
    first, second = order[dup[0]], order[dup[0] + 1]
    source, axon_type = int(key[first]) // TYPES, int(key[first]) % TYPES
    via = sorted({edges[int(owner[first])].name, edges[int(owner[second])].name})
    raise DoesNotFitError(
        f"{describe(int(cons[first]))} listens to two axons of the same source "
        f"{describe(source)} and type {axon_type} (via %{' and %'.join(via)}); a core has one "
        "axon per (source, type), shared by all its neurons, so the two would merge. Re-run "
        "encode-weights so that each (source, type) pair appears once per target neuron."
    )


def _check_delays(
    graph: Graph,
    edges: list[AxonSynapses],
    offsets: dict[str, int],
    describe: Callable[[int], str],
) -> None:
    """A key (source neuron, type) is one axon per core, fed by copies of the source with one
    delay; two edges that use the same source and type with different delays cannot share it."""
    parts = []
    for e_idx, edge in enumerate(edges):
        if not isinstance(graph[edge.source], Neurons):
            continue
        i = edge.axon_source.astype(np.int64)
        key = (offsets[edge.source] + i) * TYPES + edge.axon_type.astype(np.int64)
        delay = edge.delay[i].astype(np.int64)
        parts.append(np.stack([key, delay, np.full(i.size, e_idx, np.int64)], axis=1))
    if not parts:
        return
    table = np.concatenate(parts)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    clash = np.flatnonzero((table[1:, 0] == table[:-1, 0]) & (table[1:, 1] != table[:-1, 1]))
    if clash.size == 0:
        return
    (key, d1, e1), (_, d2, e2) = table[clash[0]], table[clash[0] + 1]
    raise DoesNotFitError(
        f"{describe(int(key) // TYPES)} drives axon type {int(key) % TYPES} with delay {d1} via "
        f"%{edges[int(e1)].name} and delay {d2} via %{edges[int(e2)].name}; placement keys an "
        "axon by (source, type), so both uses need one delay. Give the two edges equal delays "
        "for this source, or let them use different axon types."
    )
