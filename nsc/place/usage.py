"""Exact resource accounting of an assignment of neurons to cores, and its spike traffic.

For an assignment ``core_of`` (neuron -> core):

- axons of core ``c`` = number of distinct keys needed by the neurons on ``c``;
- a *route* is a pair (neuron-source key ``(s, t)``, core ``c'``) such that some neuron on
  ``c'`` needs ``(s, t)``: one copy of ``s`` (on ``s``'s core) drives that axon of ``c'``;
- slots of source ``s`` = ``max(1, number of routes of s)``; slots of core ``c`` = sum of the
  slots of the neurons on ``c``;
- traffic = sum over routes of ``rate[s] * cost(position of s's core, position of c')``.

Everything is vectorized (numpy): the keys whose listeners sit on one core (the common case of
a good placement) are found with two scatter-min/max passes, and only the others are sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsc_runtime import hw

from .hardware import Hardware
from .problem import TYPES, PlacementProblem


@dataclass
class Usage:
    """Resource use of an assignment with ``n_cores`` cores."""

    n_cores: int
    axons: np.ndarray  # (C,) distinct keys per core
    slots: np.ndarray  # (C,) neurons plus copies per core
    neurons: np.ndarray  # (C,) logical neurons per core
    source_slots: np.ndarray  # (n,) slots of each neuron: max(1, its routes)
    route_key: np.ndarray  # (R,) key of each route (neuron sources only)
    route_core: np.ndarray  # (R,) destination core of each route
    pair_key: np.ndarray  # (P,) every distinct (key, core) pair: the key...
    pair_core: np.ndarray  # (P,) ...the core...
    pair_count: np.ndarray  # (P,) ...and how many neurons on that core need the key

    @property
    def over(self) -> np.ndarray:
        """Cores over capacity (axons or neuron slots)."""
        return np.flatnonzero((self.axons > hw.AXONS_PER_CORE) | (self.slots > hw.NEURONS_PER_CORE))

    @property
    def fits(self) -> bool:
        return self.over.size == 0


def key_core_pairs(
    problem: PlacementProblem, core_of: np.ndarray, n_cores: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All distinct (key, core) pairs such that a neuron on the core needs the key, with the
    number of such neurons: ``(pair_key, pair_core, pair_count)``."""
    keys = problem.keys
    if keys.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    entry_core = core_of[problem.rows]
    lo = np.full(problem.key_space, n_cores, dtype=entry_core.dtype)
    hi = np.full(problem.key_space, -1, dtype=entry_core.dtype)
    np.minimum.at(lo, keys, entry_core)
    np.maximum.at(hi, keys, entry_core)
    single = np.flatnonzero((hi >= 0) & (lo == hi))
    multi_entry = (lo != hi)[keys]
    code, count = np.unique(
        keys[multi_entry] * n_cores + entry_core[multi_entry], return_counts=True
    )
    pair_key = np.concatenate([single, code // n_cores])
    pair_core = np.concatenate([lo[single].astype(np.int64), code % n_cores])
    pair_count = np.concatenate([problem.degree[single], count])
    return pair_key, pair_core, pair_count


def evaluate(problem: PlacementProblem, core_of: np.ndarray, n_cores: int) -> Usage:
    """Exact axons, slots and routes of an assignment."""
    core_of = np.asarray(core_of, dtype=np.int32)
    n = problem.n_neurons
    pair_key, pair_core, pair_count = key_core_pairs(problem, core_of, n_cores)
    axons = np.bincount(pair_core, minlength=n_cores)
    route = pair_key < n * TYPES
    route_key, route_core = pair_key[route], pair_core[route]
    routes_per_source = np.bincount(route_key // TYPES, minlength=n)
    source_slots = np.maximum(1, routes_per_source)
    slots = np.bincount(core_of, weights=source_slots, minlength=n_cores).astype(np.int64)
    neurons = np.bincount(core_of, minlength=n_cores)
    return Usage(
        n_cores,
        axons,
        slots,
        neurons,
        source_slots,
        route_key,
        route_core,
        pair_key,
        pair_core,
        pair_count,
    )


# ---------------------------------------------------------------------------------------------
# traffic


def core_pairs(
    problem: PlacementProblem, core_of: np.ndarray, usage: Usage
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (source core, destination core) pairs of routes that leave their core, shape
    ``(P, 2)``, and the spike rate each pair carries (sum over its routes)."""
    source = usage.route_key // TYPES
    src_core = core_of[source].astype(np.int64)
    inter = src_core != usage.route_core
    c = max(usage.n_cores, 1)
    code, inverse = np.unique(src_core[inter] * c + usage.route_core[inter], return_inverse=True)
    rate = np.bincount(
        inverse.reshape(-1), weights=problem.source_rates[source[inter]], minlength=code.size
    )
    return np.stack([code // c, code % c], axis=1), rate


def traffic(
    problem: PlacementProblem,
    core_of: np.ndarray,
    usage: Usage,
    positions: np.ndarray,
    hardware: Hardware,
) -> tuple[float, float]:
    """``(total, mean_hops)``: total = sum over routes of rate x route cost (spike-hops per
    tick, chip crossings weighted); mean_hops = total / sum of source rates over all used
    neuron-source keys (the average cost of one spike on one axon type)."""
    rates = problem.source_rates
    source = usage.route_key // TYPES
    cost = hardware.cost(positions[core_of[source]], positions[usage.route_core])
    total = float(np.dot(rates[source], cost))
    used = np.flatnonzero(problem.degree[: problem.n_neurons * TYPES] > 0)
    denominator = float(rates[used // TYPES].sum())
    return total, total / denominator if denominator else 0.0


def random_traffic(
    problem: PlacementProblem, usage: Usage, positions: np.ndarray, hardware: Hardware
) -> tuple[float, float]:
    """Expected (traffic, mean_hops) if the same neurons were shuffled uniformly at random over
    the same cores (same positions, same neurons per core).

    Closed form with independent draws: a neuron lands on core ``c`` with probability
    ``p_c = neurons_c / n``; a key with ``d`` listeners reaches core ``c'`` with probability
    ``1 - (1 - p_c')^d``, and its source sits on ``c`` with probability ``p_c``.
    """
    n = problem.n_neurons
    if n == 0 or usage.n_cores == 0:
        return 0.0, 0.0
    p = usage.neurons / n
    return _random_total(problem, p, _expected_cost_from_random_core(p, positions, hardware))


def chip_traffic(
    problem: PlacementProblem, core_of: np.ndarray, usage: Usage, positions: np.ndarray
) -> float:
    """Spikes per tick on routes whose source and destination cores lie on different chips
    (each route counted once, at its source's rate)."""
    side = hw.CORES_PER_CHIP_SIDE
    chip = positions.astype(np.int64) // side
    source = usage.route_key // TYPES
    a, b = chip[core_of[source]], chip[usage.route_core]
    crossing = np.any(a != b, axis=1)
    return float(problem.source_rates[source][crossing].sum())


def random_chip_traffic(problem: PlacementProblem, usage: Usage, positions: np.ndarray) -> float:
    """Expected :func:`chip_traffic` if the same neurons were shuffled uniformly at random
    over the same cores (the closed form of :func:`random_traffic`, with cost 1 for a route
    between two chips)."""
    n = problem.n_neurons
    if n == 0 or usage.n_cores == 0:
        return 0.0
    p = usage.neurons / n
    side = hw.CORES_PER_CHIP_SIDE
    chip = positions.astype(np.int64) // side
    _, chip_id = np.unique(chip[:, 0] * (1 << 32) + chip[:, 1], return_inverse=True)
    chip_id = chip_id.reshape(-1)
    if chip_id.max(initial=0) == 0:
        return 0.0  # one chip: no route can cross
    on_chip = np.bincount(chip_id, weights=p)  # probability a random neuron is on each chip
    return _random_total(problem, p, np.clip(1.0 - on_chip[chip_id], 0.0, 1.0))[0]


def _random_total(
    problem: PlacementProblem, p: np.ndarray, expected_cost: np.ndarray
) -> tuple[float, float]:
    """Expected total and per-spike cost when neurons land on core ``c`` with probability
    ``p[c]`` and a route to core ``c'`` costs ``expected_cost[c']`` on average over its
    source's core."""
    n = problem.n_neurons
    degree = problem.degree[: n * TYPES]
    used = np.flatnonzero(degree > 0)
    rates = problem.source_rates[used // TYPES]
    distinct, inverse = np.unique(degree[used], return_inverse=True)
    per_degree = np.empty(distinct.size)
    log_miss = np.log1p(-np.minimum(p, 1.0 - 1e-12))
    for lo in range(0, distinct.size, 64):
        d = distinct[lo : lo + 64, None].astype(np.float64)
        hit = -np.expm1(d * log_miss[None, :])
        per_degree[lo : lo + 64] = hit @ expected_cost
    total = float(np.dot(rates, per_degree[inverse.reshape(-1)]))
    denominator = float(rates.sum())
    return total, total / denominator if denominator else 0.0


def _expected_cost_from_random_core(
    p: np.ndarray, positions: np.ndarray, hardware: Hardware
) -> np.ndarray:
    """``g[c'] = sum_c p_c * cost(c, c')`` in O(C log C): the cost is a sum of 1-D terms."""
    side = hw.CORES_PER_CHIP_SIDE
    pos = positions.astype(np.int64)
    out = _weighted_abs_sum(pos[:, 0], p) + _weighted_abs_sum(pos[:, 1], p)
    chip = _weighted_abs_sum(pos[:, 0] // side, p) + _weighted_abs_sum(pos[:, 1] // side, p)
    return out + (hardware.chip_hop_weight - 1) * chip


def _weighted_abs_sum(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``out[j] = sum_i weights[i] * |values[i] - values[j]|`` via sorting and prefix sums."""
    order = np.argsort(values, kind="stable")
    v, w = values[order].astype(np.float64), weights[order]
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwv = np.concatenate([[0.0], np.cumsum(w * v)])
    below = np.searchsorted(v, values, side="right")
    left = values * cw[below] - cwv[below]
    right = (cwv[-1] - cwv[below]) - values * (cw[-1] - cw[below])
    return left + right
