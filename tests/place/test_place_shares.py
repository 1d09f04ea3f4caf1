"""The order and shares lower bounds (nsc/place/shares.py): each per-core inequality holds on
every set of neurons a core could hold, the bounds never exceed a real placement's cores, and
they are tighter than the counting bound where the docs say they are."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsc.place import Hardware, PlacementProblem, evaluate, lower_bound, place
from nsc.place.shares import (
    NEIGHBOURS,
    _order_cores,
    _top_dense,
    _top_sparse,
    components,
    neuron_shares,
    order_bound,
    overlap_caps,
    shares_bound,
)
from nsc_runtime import hw

UNLIMITED = float("inf")


def problem_from_rows(rows: list[np.ndarray], n_sources: int) -> PlacementProblem:
    ptr = np.zeros(len(rows) + 1, np.int64)
    ptr[1:] = np.cumsum([r.size for r in rows])
    keys = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return PlacementProblem(len(rows), ptr, keys, n_sources)


def typed_pool(n: int, sources: int, seed: int, host: bool = True) -> PlacementProblem:
    """A split-fanin part population in small: ``n`` neurons, each hearing every one of
    ``sources`` host lines on one random axon type (so they share one pool of 4 * sources
    keys but rarely the same keys)."""
    rng = np.random.default_rng(seed)
    first = n if host else 0
    rows = [
        np.sort((first + np.arange(sources)) * 4 + rng.integers(0, 4, sources)) for _ in range(n)
    ]
    return problem_from_rows(rows, n + sources if host else max(n, sources))


def pool_and_private() -> PlacementProblem:
    """A part population of 1,024 neurons hearing 64 neuron sources on random types, and 128
    neurons that each hear 64 private host lines (four of them fill a core's axons)."""
    pool = typed_pool(1024, 64, seed=0, host=False)
    private = [np.arange(64) * 4 + 4 * (1024 + 64 * j) for j in range(128)]
    rows = [pool.keys[pool.ptr[i] : pool.ptr[i + 1]] for i in range(1024)] + private
    return problem_from_rows(rows, 1024 + 128 + 64 * 128)


def window(width: int, radius: int, layers: int = 2) -> PlacementProblem:
    """Layers of ``width`` neurons, neuron j hearing all 4 types of sources j-r..j+r of the
    layer before (host lines for the first)."""
    n = width * layers
    rows = []
    for layer in range(layers):
        base = n if layer == 0 else (layer - 1) * width
        for j in range(width):
            src = base + np.arange(max(0, j - radius), min(width, j + radius + 1))
            rows.append((src[:, None] * 4 + np.arange(4)).reshape(-1))
    return problem_from_rows(rows, n + width)


def axons(problem: PlacementProblem, members: np.ndarray) -> int:
    """Distinct keys of a set of neurons: the axons a core holding them needs."""
    keys = [problem.keys[problem.ptr[i] : problem.ptr[i + 1]] for i in members.tolist()]
    return int(np.unique(np.concatenate(keys)).size) if keys else 0


def candidate_cores(problem: PlacementProblem, rng: np.random.Generator) -> list[np.ndarray]:
    """Sets of up to 256 neurons a core could be asked to hold: random ones, and blocks of
    neurons with similar keys (sorted by their key lists), the sets whose keys overlap most."""
    n = problem.n_neurons
    rows = [tuple(problem.keys[problem.ptr[i] : problem.ptr[i + 1]].tolist()) for i in range(n)]
    similar = np.array(sorted(range(n), key=lambda i: rows[i]), dtype=np.int64)
    sets = []
    for size in (1, 2, 7, 64, 255, 256):
        size = min(size, n)
        sets.append(rng.choice(n, size, replace=False))
        start = int(rng.integers(0, n - size + 1))
        sets.append(similar[start : start + size])
        sets.append(np.arange(start, start + size))  # consecutive ids (windows)
    return sets


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(257, 520),
    sources=st.integers(4, 64),
    seed=st.integers(0, 2**16),
)
def test_every_core_holds_at_least_its_neurons_shares(n: int, sources: int, seed: int) -> None:
    problem = typed_pool(n, sources, seed)
    assert overlap_caps(problem, UNLIMITED)[1] in (0, n)  # one group: all or none computed
    _, col = np.unique(problem.keys, return_inverse=True)
    top = _top_dense(problem.rows, col, n, int(col.max()) + 1)
    share = neuron_shares(problem, np.diff(problem.ptr) + top)  # computed even if no gain
    rng = np.random.default_rng(seed)
    for members in candidate_cores(problem, rng):
        assert axons(problem, members) >= share[members].sum() - 1e-6


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(20, 300),
    radius=st.integers(0, 12),
    seed=st.integers(0, 2**16),
    shuffle=st.booleans(),
)
def test_every_core_pays_its_first_neurons_keys(
    width: int, radius: int, seed: int, shuffle: bool
) -> None:
    problem = window(width, radius)
    n = problem.n_neurons
    rng = np.random.default_rng(seed)
    rank = rng.permutation(n) if shuffle else np.arange(n)
    rows, keys = problem.rows, problem.keys
    first = np.full(problem.key_space, n, np.int64)
    np.minimum.at(first, keys, rank[rows])
    nu = np.bincount(rows[rank[rows] == first[keys]], minlength=n)
    d = np.diff(problem.ptr)
    for members in candidate_cores(problem, rng):
        f = members[np.argmin(rank[members])]
        assert axons(problem, members) >= d[f] - nu[f] + nu[members].sum()
    cores, distinct = _order_cores(problem, rank)
    assert distinct == np.count_nonzero(problem.degree)
    assert 1 <= cores <= n


def test_water_filling_matches_a_direct_search() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        d = int(rng.integers(1, 12))
        caps = np.minimum(rng.integers(1, 400, d), hw.NEURONS_PER_CORE).astype(float)
        q = float(rng.integers(d, int(caps.sum()) + 40))
        # the problem: neuron 0 needs d keys with given listener counts (caps)
        keys = np.arange(d) * 4
        rows = [keys]
        extra = []
        for k, c in enumerate(caps.astype(int).tolist()):
            extra += [np.array([k * 4])] * (c - 1)
        problem = problem_from_rows(rows + extra, max(d, 1 + len(extra)))
        got = neuron_shares(problem, np.r_[q, np.full(len(extra), np.inf)])[0]
        lo, hi = 1.0, float(hw.NEURONS_PER_CORE)  # bisection on the water level
        for _ in range(200):
            tau = (lo + hi) / 2
            lo, hi = (tau, hi) if np.minimum(caps, tau).sum() < q else (lo, tau)
        want = (1 / np.minimum(caps, hi)).sum() if caps.sum() > q else (1 / caps).sum()
        assert got == pytest.approx(want, rel=1e-9)


def test_dense_and_sparse_overlaps_agree() -> None:
    problem = typed_pool(400, 24, seed=5)
    row, col = problem.rows, problem.keys - problem.keys.min()
    _, col = np.unique(col, return_inverse=True)
    dense = _top_dense(row, col, problem.n_neurons, int(col.max()) + 1)
    sparse = _top_sparse(row, col, problem.n_neurons)
    assert np.array_equal(dense, sparse)
    gram = np.zeros((400, 400), np.int64)
    sets = [set(problem.keys[problem.ptr[i] : problem.ptr[i + 1]].tolist()) for i in range(400)]
    for i in range(400):
        for j in range(400):
            gram[i, j] = len(sets[i] & sets[j]) if i != j else 0
    want = np.sort(gram, axis=1)[:, -NEIGHBOURS:].sum(axis=1)
    assert np.array_equal(dense, want)


def test_components_join_neurons_that_share_keys() -> None:
    # neurons 0-1 share a key, 1-2 share another, 3 is alone, 4-5 share one
    rows = [np.array([0]), np.array([0, 4]), np.array([4]), np.array([8]), [12], [12]]
    problem = problem_from_rows([np.asarray(r, np.int64) for r in rows], 6)
    label = components(problem)
    assert label is not None
    assert label.tolist() == [0, 0, 0, 3, 4, 4]


def test_shares_beat_counting_on_a_typed_pool_and_hold_against_placement() -> None:
    problem = pool_and_private()
    counting = lower_bound(problem)
    tight = lower_bound(problem, overlap_work=UNLIMITED)
    assert counting.shares is None and tight.shares is not None
    # 1,024 neurons hearing 64 sources on random types: counting sees 256 keys with ~256
    # listeners each (1 axon per key per core, 1 core's worth); any 256 of these neurons need
    # nearly all 256 keys (about 3 cores' worth in all), which the shares bound sees
    assert counting.cores == 34  # ceil((256 + 128 * 64) / 256)
    assert tight.shares >= 36
    placed = place(problem, Hardware(), time_limit=2.0, seed=0)
    assert evaluate(problem, placed.core_of, placed.n_cores).fits
    assert tight.cores <= placed.n_cores
    assert placed.report.lower_bounds["shares"] == tight.shares


def test_order_bound_is_tight_on_a_window_layer() -> None:
    # r = 8: a core holding s neurons of one layer needs 4 (s + 16) axons, so at most 48
    problem = window(960, 8, layers=1)
    bound = lower_bound(problem)
    assert bound.counting == 15  # 3,840 keys / 256
    assert bound.order >= 19 and bound.cores == bound.order  # 960 / 48 = 20, less the edges
    assert "first-neuron" in bound.how and "counting bound 15" in bound.how
    placed = place(problem, Hardware(), time_limit=2.0, seed=0)
    assert evaluate(problem, placed.core_of, placed.n_cores).fits
    assert bound.cores <= placed.n_cores <= 21


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 300),
    pool=st.integers(1, 300),
    per=st.integers(1, 120),
    seed=st.integers(0, 2**16),
    neuron_sources=st.booleans(),
)
def test_no_bound_exceeds_a_placement(
    n: int, pool: int, per: int, seed: int, neuron_sources: bool
) -> None:
    rng = np.random.default_rng(seed)
    keys = (n + pool) * 4  # neurons' keys (their sources need copies) and host lines'
    first = 0 if neuron_sources else n * 4
    rows = [
        np.sort(rng.choice(np.arange(first, keys), min(per, keys - first), replace=False))
        for _ in range(n)
    ]
    problem = problem_from_rows(rows, n + pool)
    bound = lower_bound(problem, overlap_work=UNLIMITED)
    placed = place(problem, Hardware(), time_limit=1.0, seed=0, effort="fast")
    assert evaluate(problem, placed.core_of, placed.n_cores).fits
    assert max(bound.counting, bound.order, bound.shares or 0) == bound.cores <= placed.n_cores


def test_shares_skip_groups_they_cannot_improve() -> None:
    problem = window(600, 4, layers=2)  # each neuron overlaps 16 others: counting share
    q, counted = overlap_caps(problem, UNLIMITED)
    assert counted == 0 and np.isinf(q).all()
    assert shares_bound(problem, UNLIMITED).cores == lower_bound(problem).counting


def test_work_budget_limits_the_overlaps() -> None:
    problem = typed_pool(600, 32, seed=1)
    assert overlap_caps(problem, 0.0)[1] == 0
    assert overlap_caps(problem, UNLIMITED)[1] == 600
    assert order_bound(problem).cores >= 1


def test_fast_effort_skips_the_shares_bound_and_says_so() -> None:
    problem = pool_and_private()  # the start misses the counting and order bounds
    fast = place(problem, Hardware(), time_limit=1.0, seed=0, effort="fast").report
    assert "shares" not in fast.lower_bounds and "no budget" in fast.decisions["bound"]
    assert fast.lower_bound == fast.lower_bounds["counting"] == 34
    normal = place(problem, Hardware(), time_limit=1.0, seed=0).report
    assert normal.decisions["bound"].startswith("ran the shares bound")
    assert normal.lower_bound == normal.lower_bounds["shares"] >= 36
    bounds = normal.lower_bounds
    assert (
        f"lower bound {normal.lower_bound:,} (counting 34, order {bounds['order']:,}, shares "
        in (normal.summary())
    )
    assert normal.lower_bound_how.startswith("ceil(") and "counting bound 34: max(" in (
        normal.lower_bound_how
    )
