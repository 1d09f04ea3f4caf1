"""Lower bound on the number of cores, and the explained does-not-fit checks.

The bound (docs/placement.md): let ``m_k = ceil(listeners(k) / 256)``, the fewest cores a key
``k`` can reach (a core holds at most 256 neurons). Then

- every needed key takes one axon on each core it reaches, so the cores hold at least
  ``A = sum_k m_k`` axons in all;
- neuron ``s`` takes ``max(1, routes(s))`` slots, with ``routes(s) >= sum_t m_(s,t)``, so the
  cores hold at least ``S = sum_s max(1, sum_t m_(s,t))`` neuron slots in all;

and ``cores >= max(ceil(A / 256), ceil(S / 256), 1)``.

:func:`lower_bound` also takes two bounds that see which neurons can share a core
(:mod:`.shares`): the order bound (every core pays its first neuron's keys whole; cheap,
always computed) and, given work, the shares bound (each neuron's least share of its core's
axons, from its overlaps with the neurons that may share its core). Its ``cores`` is the
largest of them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from nsc_runtime import hw

from ..errors import DoesNotFitError
from ..ir import AxonSynapses, Graph, Neurons
from .hardware import Hardware
from .problem import TYPES, PlacementProblem
from .shares import order_bound, shares_bound


@dataclass(frozen=True)
class LowerBound:
    """``cores`` >= every placement's core count; ``how`` says which bound gave it.
    ``counting``, ``order`` and ``shares`` are the three bounds (``shares`` None when not
    computed)."""

    cores: int
    how: str
    axons: int  # A: fewest axons the cores hold in all
    slots: int  # S: fewest neuron slots the cores hold in all
    min_slots: np.ndarray  # (n,) fewest slots of each neuron
    counting: int = 0
    order: int = 0
    shares: int | None = None
    counting_how: str = ""  # the counting bound's derivation (``how`` when it is the largest)


def lower_bound(problem: PlacementProblem, overlap_work: float = 0.0) -> LowerBound:
    """The larger of the counting bound (module docstring) and the order bound and, when
    ``overlap_work`` > 0, of the shares bound computed within that work (:func:`with_shares`)."""
    n = problem.n_neurons
    reach = -(-problem.degree // hw.NEURONS_PER_CORE)  # m_k, 0 for unused keys
    axons = int(reach.sum())
    min_slots = np.maximum(1, reach[: n * TYPES].reshape(n, TYPES).sum(axis=1))
    slots = int(min_slots.sum())
    by_axons = math.ceil(axons / hw.AXONS_PER_CORE)
    by_slots = math.ceil(slots / hw.NEURONS_PER_CORE)
    cores = max(by_axons, by_slots, 1 if n else 0)
    how = (
        f"max(ceil({slots:,} neuron slots / {hw.NEURONS_PER_CORE}) = {by_slots:,}, "
        f"ceil({axons:,} axons / {hw.AXONS_PER_CORE}) = {by_axons:,}): each neuron takes one "
        "slot plus one copy per (core, axon type) it feeds, at least one core per type it "
        "drives; each needed (source, type) key takes an axon on every core that listens to it"
    )
    counting = LowerBound(cores, how, axons, slots, min_slots, cores, counting_how=how)
    order = order_bound(problem)
    bound = _raised(dataclasses.replace(counting, order=order.cores), order.cores, order.how)
    return with_shares(bound, problem, overlap_work) if overlap_work > 0 else bound


def with_shares(bound: LowerBound, problem: PlacementProblem, overlap_work: float) -> LowerBound:
    """``bound`` (from :func:`lower_bound`) with the shares bound of ``problem`` computed
    within ``overlap_work``: the work :func:`.api.place` spends only when the placement
    misses the cheaper bounds."""
    shares = shares_bound(problem, overlap_work)
    return _raised(dataclasses.replace(bound, shares=shares.cores), shares.cores, shares.how)


def _raised(bound: LowerBound, cores: int, how: str) -> LowerBound:
    """``bound`` raised to ``cores`` when that is larger (``how`` then explains it, the
    counting bound beside)."""
    if cores <= bound.cores:
        return bound
    how = f"{how} (counting bound {bound.counting:,}: {bound.counting_how})"
    return dataclasses.replace(bound, cores=cores, how=how)


def check_fits(problem: PlacementProblem, hardware: Hardware, bound: LowerBound) -> None:
    """Raise :class:`DoesNotFitError` when no placement can exist, saying why and what to do."""
    _check_fanin(problem)
    _check_fanout(problem, bound)
    if bound.cores > hardware.n_cores:
        raise DoesNotFitError(
            f"the network needs at least {bound.cores:,} cores ({_largest_nodes(problem, bound)}"
            f"), but {hardware} chip(s) hold {hardware.n_cores:,}; "
            f"use --chips {suggest_chips(bound.cores)} (Hardware(chips="
            f"{_chips_tuple(bound.cores)})). Bound: {bound.how}."
        )


def check_fits_graph(graph: Graph, hardware: Hardware) -> None:
    """The fan-in check and the counting bound against the hardware, computed from the graph's
    edges alone (listeners per axon = crossbar column sums), before the placement problem is
    built: a network too large for the hardware is explained at once, with work and memory
    proportional to the graph's axons and neurons, not to its synapses' (neuron, key) entries.

    Exact for graphs that :func:`.problem.extract_problem` accepts (no neuron listens to two
    axons of one (source, type)); the full checks run again on the problem."""
    neurons = {node.name: node for node in graph.of_type(Neurons)}
    listeners: dict[str, np.ndarray] = {}
    fanin = {name: np.zeros(node.count, np.int64) for name, node in neurons.items()}
    for edge in graph.of_type(AxonSynapses):
        if edge.target not in fanin or edge.crossbar.ndim != 2:
            continue
        per_axon = edge.crossbar.sum(axis=0, dtype=np.int64)
        fanin[edge.target] += edge.crossbar.sum(axis=1, dtype=np.int64)
        size = graph[edge.source].size(graph)
        key = edge.axon_source.astype(np.int64) * TYPES + edge.axon_type.astype(np.int64)
        count = np.bincount(key, weights=per_axon, minlength=size * TYPES).astype(np.int64)
        if edge.source in listeners:
            listeners[edge.source] += count
        else:
            listeners[edge.source] = count
    for name, count in fanin.items():
        bad = np.flatnonzero(count > hw.AXONS_PER_CORE)
        if bad.size:
            _fanin_error(graph, neurons[name], int(bad[0]), int(count[bad[0]]), int(bad.size))
    counted = graph_bound({name: node.count for name, node in neurons.items()}, listeners)
    if counted is None or counted.cores <= hardware.n_cores:
        return  # (None: one neuron needs more copies than a core holds; check_fits explains)
    shares = sorted(((node.count, name) for name, node in neurons.items()), reverse=True)[:3]
    largest = "; ".join(f"%{name}: {count:,} neurons" for count, name in shares)
    raise DoesNotFitError(
        f"the network needs at least {counted.cores:,} cores ({largest}), but {hardware} "
        f"chip(s) hold {hardware.n_cores:,}; use --chips {suggest_chips(counted.cores)} "
        f"(Hardware(chips={_chips_tuple(counted.cores)})), or make the network smaller (fewer "
        f"hidden units or inputs). Bound (from the graph, before placement): {counted.how}."
    )


@dataclass(frozen=True)
class GraphBound:
    """The counting bound of a graph given per node: ``cores`` >= every placement's cores."""

    cores: int
    axons: int
    slots: int
    how: str


def graph_bound(sizes: dict[str, int], listeners: dict[str, np.ndarray]) -> GraphBound | None:
    """The counting bound (module docstring) from each neuron node's size and, per source node,
    the number of listeners of each of its keys (``listeners[name][i * 4 + t]``: target
    neurons that need axon type ``t`` of source ``i``; host nodes count axons only). Work and
    memory grow with the nodes' neurons and keys, never with synapses or placement. None
    when one neuron needs more copies than a core holds (no placement exists; the full checks
    explain it on the problem)."""
    axons = slots = 0
    for counts in listeners.values():
        axons += int((-(-counts // hw.NEURONS_PER_CORE)).sum())
    for name, count in sizes.items():
        found = listeners.get(name)
        if found is None:
            slots += count
            continue
        reach = -(-found.reshape(count, TYPES) // hw.NEURONS_PER_CORE)
        own = np.maximum(1, reach.sum(axis=1))
        if own.max(initial=0) > hw.NEURONS_PER_CORE:
            return None
        slots += int(own.sum())
    by_axons = math.ceil(axons / hw.AXONS_PER_CORE)
    by_slots = math.ceil(slots / hw.NEURONS_PER_CORE)
    how = (
        f"max(ceil({slots:,} neuron slots / {hw.NEURONS_PER_CORE}) = {by_slots:,}, "
        f"ceil({axons:,} axons / {hw.AXONS_PER_CORE}) = {by_axons:,}): each neuron takes one "
        "slot plus one copy per (core, axon type) it feeds; each (source, type) takes an axon "
        "on every core that listens to it"
    )
    return GraphBound(max(by_axons, by_slots, 1 if sizes else 0), axons, slots, how)


def _fanin_error(graph: Graph, node: Neurons, j: int, keys: int, more: int) -> None:
    """The fan-in message of :func:`_check_fanin` for neuron ``j`` of ``node``, from the graph."""
    sources: dict[tuple[str, int], set[int]] = {}
    for edge in graph.of_type(AxonSynapses):
        if edge.target != node.name:
            continue
        axons = np.flatnonzero(edge.crossbar[j])
        for a in axons.tolist():
            sources.setdefault((edge.source, int(edge.axon_source[a])), set()).add(
                int(edge.axon_type[a])
            )
    types = max((len(t) for t in sources.values()), default=1)
    where = f" (defined at {node.span})" if node.span else ""
    others = f"; {more - 1} more neuron(s) too" if more > 1 else ""
    raise DoesNotFitError(
        f"%{node.name}[{j}]{where} listens to {len(sources)} sources on up to {types} axon "
        f"type(s) each: {keys} distinct (source, type) axons, but a core has "
        f"{hw.AXONS_PER_CORE}{others}. Run split-fanin with max={hw.AXONS_PER_CORE // types} "
        f"({hw.AXONS_PER_CORE} axons / {types} types), or use fewer levels so each input "
        "needs fewer axon types."
    )


def suggest_chips(cores: int) -> str:
    rows, cols = _chips_tuple(cores)
    return f"{rows}x{cols}"


def _chips_tuple(cores: int) -> tuple[int, int]:
    """The most square chip grid with room for ``cores``."""
    chips = math.ceil(cores / hw.CORES_PER_CHIP)
    rows = math.isqrt(chips)
    cols = math.ceil(chips / rows)
    return rows, cols


def _check_fanin(problem: PlacementProblem) -> None:
    count = np.diff(problem.ptr)
    bad = np.flatnonzero(count > hw.AXONS_PER_CORE)
    if bad.size == 0:
        return
    i = int(bad[0])
    keys = problem.keys[problem.ptr[i] : problem.ptr[i + 1]]
    sources, per_source = np.unique(keys // TYPES, return_counts=True)
    types = int(per_source.max())
    fanin_max = hw.AXONS_PER_CORE // types
    others = f"; {bad.size - 1} more neuron(s) too" if bad.size > 1 else ""
    raise DoesNotFitError(
        f"{problem.describe(i)} listens to {sources.size} sources on up to {types} axon "
        f"type(s) each: {keys.size} distinct (source, type) axons, but a core has "
        f"{hw.AXONS_PER_CORE}{others}. Run split-fanin with max={fanin_max} "
        f"({hw.AXONS_PER_CORE} axons / {types} types), or use fewer levels so each input "
        "needs fewer axon types."
    )


def _check_fanout(problem: PlacementProblem, bound: LowerBound) -> None:
    bad = np.flatnonzero(bound.min_slots > hw.NEURONS_PER_CORE)
    if bad.size == 0:
        return
    s = int(bad[0])
    listeners = problem.degree[s * TYPES : (s + 1) * TYPES]
    raise DoesNotFitError(
        f"{problem.describe(s)} feeds {int(listeners.sum()):,} listeners (per axon type: "
        f"{', '.join(str(int(x)) for x in listeners)}); one core holds at most "
        f"{hw.NEURONS_PER_CORE} of them, so it needs at least {int(bound.min_slots[s])} copies "
        f"of itself, one per (core, type), and all copies sit on its own core of "
        f"{hw.NEURONS_PER_CORE} neurons. Reduce its fan-out: insert relay neurons (a fan-out "
        "tree) between it and its targets."
    )


def _largest_nodes(problem: PlacementProblem, bound: LowerBound) -> str:
    """The nodes that take most of the slots, for the does-not-fit message."""
    labels = problem.labels
    if labels is None or not labels.neurons:
        return f"{problem.n_neurons:,} neurons"
    shares = []
    for seg in labels.neurons:
        slots = int(bound.min_slots[seg.start : seg.start + seg.count].sum())
        shares.append((slots, seg.name, seg.count))
    shares.sort(reverse=True)
    total = max(bound.slots, 1)
    return "; ".join(
        f"%{name}: {count:,} neurons, {slots / total:.0%} of slots"
        for slots, name, count in shares[:3]
    )
