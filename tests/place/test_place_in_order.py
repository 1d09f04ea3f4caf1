"""The in-order start of the partition path (nsc.place.partition.sequential): cores filled in
neuron id order within capacity, and what it gains on layers of overlapping windows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nsc.place import Hardware, PlacementProblem, lower_bound, place
from nsc.place.partition import _fill_in_order, sequential
from nsc.place.usage import evaluate


@st.composite
def problems(draw: st.DrawFn) -> PlacementProblem:
    n = draw(st.integers(1, 300))
    n_sources = n + draw(st.integers(0, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = []
    for _ in range(n):
        size = int(rng.integers(0, 120))
        rows.append(np.unique(rng.integers(0, n_sources * 4, size=size)))
    ptr = np.cumsum([0] + [r.size for r in rows])
    return PlacementProblem(n, ptr, np.concatenate(rows).astype(np.int64), n_sources)


@settings(max_examples=40, deadline=None)
@given(problems())
def test_fill_in_order_is_greedy_within_capacity(problem: PlacementProblem) -> None:
    slots = np.random.default_rng(0).integers(1, 40, size=problem.n_neurons)
    core_of, n_cores = _fill_in_order(problem, slots)
    assert np.all(np.diff(core_of) >= 0) and core_of[0] == 0 and core_of[-1] == n_cores - 1
    for c in range(n_cores):
        ids = np.flatnonzero(core_of == c)
        keys = set()
        for i in ids:
            keys.update(problem.keys[problem.ptr[i] : problem.ptr[i + 1]].tolist())
        assert len(keys) <= 256 and slots[ids].sum() <= 256
        if c + 1 < n_cores:  # the next neuron did not fit: a core is closed only when full
            nxt = int(ids[-1]) + 1
            more = set(problem.keys[problem.ptr[nxt] : problem.ptr[nxt + 1]].tolist())
            assert len(keys | more) > 256 or slots[ids].sum() + slots[nxt] > 256


def _window(width: int, layers: int, radius: int) -> PlacementProblem:
    """Layers of ``width`` neurons, neuron j listening to all 4 types of neurons j-r..j+r of
    the layer before (host lines for the first): benchmarks/place_scale.py's window family."""
    n = width * layers
    rows, keys = [], []
    for layer in range(layers):
        base = n if layer == 0 else (layer - 1) * width
        for j in range(width):
            sources = base + np.arange(max(0, j - radius), min(width, j + radius + 1))
            rows.append(np.repeat(layer * width + j, sources.size * 4))
            keys.append((sources[:, None] * 4 + np.arange(4)).reshape(-1))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(np.concatenate(rows), minlength=n), out=ptr[1:])
    return PlacementProblem(n, ptr, np.concatenate(keys), n + width)


def test_in_order_start_fits_and_packs_windows_densely() -> None:
    """On 8 layers of 640 neurons with 49-neuron windows (more than the 4,096 neurons up to
    which best fit per node runs), the in-order start gives a complete assignment, and the
    placer uses fewer than 5,120 / 14 = 365 cores (319 measured; 426 without this start)."""
    problem = _window(640, 8, 24)
    bound = lower_bound(problem)
    core_of, n_cores = sequential(problem, bound.min_slots)
    usage = evaluate(problem, core_of, n_cores)
    assert usage.neurons.sum() == problem.n_neurons
    report = place(problem, Hardware(), time_limit=1.0, effort="fast").report
    assert report.cores < problem.n_neurons / 14
