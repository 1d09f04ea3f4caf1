"""Lower bound on the number of cores, and the explained does-not-fit checks.

The bound (docs/placement.md): let ``m_k = ceil(listeners(k) / 256)``, the fewest cores a key
``k`` can reach (a core holds at most 256 neurons). Then

- every needed key takes one axon on each core it reaches, so the cores hold at least
  ``A = sum_k m_k`` axons in all;
- neuron ``s`` takes ``max(1, routes(s))`` slots, with ``routes(s) >= sum_t m_(s,t)``, so the
  cores hold at least ``S = sum_s max(1, sum_t m_(s,t))`` neuron slots in all;

and ``cores >= max(ceil(A / 256), ceil(S / 256), 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nsc_runtime import hw

from ..errors import DoesNotFitError
from .hardware import Hardware
from .problem import TYPES, PlacementProblem


@dataclass(frozen=True)
class LowerBound:
    """``cores`` >= every placement's core count; ``how`` says which count gave it."""

    cores: int
    how: str
    axons: int  # A: fewest axons the cores hold in all
    slots: int  # S: fewest neuron slots the cores hold in all
    min_slots: np.ndarray  # (n,) fewest slots of each neuron


def lower_bound(problem: PlacementProblem) -> LowerBound:
    """The counting bound of the module docstring."""
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
    return LowerBound(cores, how, axons, slots, min_slots)


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
