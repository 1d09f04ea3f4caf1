"""Two lower bounds on the cores' axons that see which neurons can share a core.

The counting bound (:mod:`.bounds`) charges each key ``k`` to ``ceil(listeners(k) / 256)``
cores, as if its listeners could always be gathered. Both bounds here are sums over cores of
a per-core inequality ``axons(c) >= ...`` that holds for every set of neurons a core can
hold, so ``256 * cores >= sum over cores`` gives a bound on the cores of every placement
(docs/placement.md, "Lower bound"). Notation: ``K_i`` the keys of neuron ``i``, ``d_i =
|K_i|``, ``S`` the neurons of one core (``|S| <= 256``: each takes a neuron slot) and
``c(k)`` the neurons of ``S`` that need key ``k``.

**Shares** (second moment). ``axons(S) = sum_{i in S} sum_{k in K_i} 1 / c(k)``, so each
neuron carries the share ``sum_{k in K_i} 1 / c(k)``. Whatever ``S`` is, ``1 <= c(k) <=
u_k = min(listeners(k), 256)`` and ``sum_{k in K_i} c(k) = sum_{j in S} |K_i & K_j| <= Q_i``,
where ``Q_i = d_i`` plus the sum of ``i``'s 255 largest overlaps ``|K_i & K_j|`` with other
neurons. The least share under these constraints is a water-filling (``c(k) = min(u_k,
tau)``, ``sum = Q_i``), at least both the counting share ``sum 1 / u_k`` and the
Cauchy-Schwarz share ``d_i^2 / Q_i``; so ``cores >= sum_i share_i / 256``. Neurons whose
keys overlap little with any 255 others (a split-fanin part population whose random weight
types spread over its chunk's 256 keys) carry about one axon each where counting says a
quarter. The overlaps come from dense Gram matrices of the groups of neurons that share keys
(connected components); groups too large for the work budget keep the counting share.

**Order** (first neurons). Fix an order of the neurons; ``nu_i`` = the keys of ``i`` that no
earlier neuron needs, ``g_i = d_i - nu_i``. On a core whose earliest neuron is ``f``,
``axons(S) >= d_f + sum_{i in S, i != f} nu_i = g_f + sum_{i in S} nu_i`` (a later neuron's
first-needed keys are new on the core). Summed over cores, with distinct first neurons:
``256 C >= sum_i nu_i + (sum of the C smallest g_i)``, and the least ``C`` that satisfies it
is a bound. In a layer of overlapping windows (neuron ``j`` hears sources ``j - r .. j + r``)
every core pays its first neuron's whole window once: at most ``64 - 2 r`` such neurons per
core, where counting allows 64.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nsc_runtime import hw

from .problem import PlacementProblem

CORE_AXONS = hw.AXONS_PER_CORE
NEIGHBOURS = hw.NEURONS_PER_CORE - 1  # others on a core with a neuron: at most 255
# Work of the overlaps is counted in multiply-adds of the dense Gram products (float32 BLAS,
# about 4-6 * 10^9 a second on one of this machine's CPUs); a listener pair of the sparse
# count costs about as much as PAIR_COST of them. Budgets: nsc.place.effort.OVERLAP_WORK.
PAIR_COST = 1000.0
SAMPLE = 8  # members checked before a group's overlaps are computed
CHUNK = 1 << 22  # keys per pass of the per-entry computations
GRAM_ROWS = 8192  # largest group computed densely
GRAM_CELLS = 1 << 25  # neurons x keys of one group's dense incidence matrix (128 MiB)
MAX_PAIRS = 5 * 10**7  # largest group computed sparsely (listener pairs)
HOOK_ROUNDS = 64  # union rounds of the components; beyond it the shares fall back
EPS = 1e-9  # relative slack before the ceiling (the shares are float sums of reciprocals)


@dataclass(frozen=True)
class SharesBound:
    """``cores`` >= every placement's cores by the shares of the module docstring."""

    cores: int
    total: float  # sum of the neurons' axon shares
    counted: int  # neurons whose overlaps were computed (the others keep the counting share)

    @property
    def how(self) -> str:
        return (
            f"ceil({self.total:,.1f} axon shares / {CORE_AXONS}) = {self.cores:,}: a core's "
            "axons are the sum over its neurons of sum_k 1/c(k), c(k) its neurons that need "
            "key k, at most min(listeners, 256) each and summing to at most the neuron's "
            f"overlap with its 255 most overlapping neurons ({self.counted:,} neurons' "
            "overlaps computed)"
        )


@dataclass(frozen=True)
class OrderBound:
    """``cores`` >= every placement's cores by the first-neuron argument of the docstring."""

    cores: int
    keys: int  # distinct keys (sum of nu)
    order: str

    @property
    def how(self) -> str:
        return (
            f"least C with {CORE_AXONS} C >= {self.keys:,} distinct keys + the C smallest "
            f"first-neuron costs = {self.cores:,}: a core holds its first neuron's keys (in "
            f"{self.order} order) and every key its other neurons are the first to need"
        )


def shares_bound(problem: PlacementProblem, work: float) -> SharesBound:
    """The shares bound; overlaps computed within ``work`` (the rest keep the counting share)."""
    q, counted = overlap_caps(problem, work)
    share = neuron_shares(problem, q)
    total = float(share.sum())
    cores = max(int(np.ceil(total / CORE_AXONS * (1 - EPS))), 1 if problem.n_neurons else 0)
    return SharesBound(cores, total, counted)


def order_bound(problem: PlacementProblem) -> OrderBound:
    """The better of the order bound in index order and in order of each neuron's least key."""
    best = OrderBound(0, 0, "index")
    n = problem.n_neurons
    if n == 0:
        return best
    least = np.full(n, problem.key_space, np.int64)  # a neuron without keys goes last
    has = np.diff(problem.ptr) > 0
    least[has] = problem.keys[problem.ptr[:-1][has]]  # rows are sorted: the first is least
    orders = {"index": np.arange(n), "least-key": np.lexsort((np.arange(n), least))}
    for name, order in orders.items():
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        cores, keys = _order_cores(problem, rank)
        if cores > best.cores:
            best = OrderBound(cores, keys, name)
    return best


def _order_cores(problem: PlacementProblem, rank: np.ndarray) -> tuple[int, int]:
    """(least C, distinct keys) of the order bound with neuron ``i`` at position ``rank[i]``."""
    n = problem.n_neurons
    if problem.keys.size == 0:
        return 1, 0
    first = np.full(problem.key_space, n, np.int64)  # earliest position that needs each key
    for _lo, _hi, keys, rows in _chunks(problem):
        np.minimum.at(first, keys, rank[rows])
    nu = np.zeros(n, np.int64)
    for lo, hi, keys, rows in _chunks(problem):
        nu[lo:hi] = np.bincount(rows[rank[rows] == first[keys]] - lo, minlength=hi - lo)
    g = np.diff(problem.ptr) - nu
    distinct = int(nu.sum())
    c = np.arange(1, n + 1, dtype=np.int64)
    room = CORE_AXONS * c - np.cumsum(np.sort(g))  # non-decreasing: each g <= 256
    enough = np.flatnonzero(room >= distinct)
    return (int(enough[0]) + 1 if enough.size else n), distinct


def _chunks(
    problem: PlacementProblem, entries: int = CHUNK
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Rows ``lo..hi-1`` with their keys and the row of each key, about ``entries`` keys at a
    time (so that per-entry temporaries stay small on networks of 10^8 entries)."""
    ptr = problem.ptr
    lo = 0
    while lo < problem.n_neurons:
        hi = max(lo + 1, int(np.searchsorted(ptr, ptr[lo] + entries, side="right")) - 1)
        hi = min(hi, problem.n_neurons)
        rows = np.repeat(np.arange(lo, hi, dtype=np.int32), np.diff(ptr[lo : hi + 1]))
        yield lo, hi, problem.keys[ptr[lo] : ptr[hi]], rows
        lo = hi


def neuron_shares(problem: PlacementProblem, q: np.ndarray) -> np.ndarray:
    """Each neuron's least axon share: ``min sum_k 1/c_k`` over ``1 <= c_k <= u_k``,
    ``sum_k c_k <= q_i`` (water-filling; ``q_i = inf``: the counting share ``sum 1/u_k``)."""
    share = np.zeros(problem.n_neurons)
    for lo, hi, keys, rows in _chunks(problem):
        caps = np.minimum(problem.degree[keys], hw.NEURONS_PER_CORE).astype(np.float64)
        share[lo:hi] = _water_fill(
            problem.ptr[lo : hi + 1] - problem.ptr[lo], rows - lo, caps, q[lo:hi]
        )
    return share


def _water_fill(ptr: np.ndarray, rows: np.ndarray, caps: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`neuron_shares` for rows ``0..len(q)-1`` (CSR ``ptr``, entry rows, entry caps)."""
    share = np.zeros(q.size)
    if caps.size == 0:
        return share
    order = np.lexsort((caps, rows))  # rows stay grouped, caps ascending within each
    us, rs = caps[order], rows[order]
    pos = np.arange(caps.size) - ptr[rs]  # position within the row
    csum = np.cumsum(us)
    row_start_sum = np.concatenate([[0.0], csum])[ptr[:-1]]  # sum of earlier rows' caps
    before = csum - us - row_start_sum[rs]  # caps of the row's earlier entries
    d = np.diff(ptr)
    tau = (q[rs] - before) / (d[rs] - pos)  # water level if entries pos.. are at the level
    level = us >= tau  # the first such entry in a row starts the levelled part
    inv = 1.0 / us
    icsum = np.cumsum(inv)
    irow_start = np.concatenate([[0.0], icsum])[ptr[:-1]]
    share += np.bincount(rs, inv, minlength=q.size)  # counting share: every c_k at its cap
    hit = np.flatnonzero(level)
    if hit.size:
        first = hit[np.unique(rs[hit], return_index=True)[1]]
        r = rs[first]
        capped = icsum[first] - inv[first] - irow_start[r]  # entries below the level
        share[r] = capped + (d[r] - pos[first]) / tau[first]
    return share


def overlap_caps(problem: PlacementProblem, work: float) -> tuple[np.ndarray, int]:
    """``Q_i`` of the module docstring per neuron (``inf`` where not computed), and how many
    neurons got a finite one. Groups of neurons that share keys are computed in order of
    their least neuron while ``work`` lasts (multiply-adds of the dense Gram products; a
    listener pair of the sparse count costs :data:`PAIR_COST`); a group whose sampled members
    cannot gain is skipped (:func:`_may_gain`), and a group of at most 256 neurons needs no
    work (every other member is among the 255 most overlapping, so ``Q_i`` is the sum of
    ``i``'s keys' listeners)."""
    n = problem.n_neurons
    q = np.full(n, np.inf)
    if n == 0 or problem.keys.size == 0:
        return q, 0
    label = components(problem)
    if label is None:
        return q, 0
    d = np.diff(problem.ptr)
    order = np.argsort(label, kind="stable")
    cut = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1], True])
    size = np.diff(cut)
    small = np.repeat(size <= NEIGHBOURS + 1, size)[np.argsort(order)]
    for lo, hi, keys, rows in _chunks(problem):  # a small group: Q_i = sum_k listeners(k)
        listeners = problem.degree[keys].astype(np.float64)
        q[lo:hi][small[lo:hi]] = np.bincount(rows - lo, listeners, minlength=hi - lo)[small[lo:hi]]
    counted = int(small.sum())
    spent = 0.0
    big = size > NEIGHBOURS + 1
    for lo, hi in zip(cut[:-1][big].tolist(), cut[1:][big].tolist(), strict=True):
        members = np.sort(order[lo:hi])
        row, entry = _group_entries(problem, members)
        keys, col = np.unique(problem.keys[entry], return_inverse=True)
        m, k = members.size, keys.size
        pairs = float(np.square(problem.degree[keys], dtype=np.float64).sum()) * PAIR_COST
        dense = float(m) * m * k if m <= GRAM_ROWS and m * k <= GRAM_CELLS else np.inf
        cost = min(dense, pairs if pairs <= MAX_PAIRS * PAIR_COST else np.inf)
        listeners = problem.degree[problem.keys[entry]]
        if spent + cost > work or not _may_gain(row, col, m, listeners):
            continue
        spent += cost
        top = _top_dense(row, col, m, k) if dense <= pairs else _top_sparse(row, col, m)
        q[members] = d[members] + top
        counted += m
    return q, counted


def _may_gain(row: np.ndarray, col: np.ndarray, m: int, listeners: np.ndarray) -> bool:
    """Whether the overlaps may raise some share above the counting one, judged on
    :data:`SAMPLE` evenly spaced members (a group whose sampled members each overlap at most
    255 others, like a layer of windows, is skipped: their ``Q_i`` is the counting one)."""
    by_key = np.argsort(col, kind="stable")
    cuts = np.flatnonzero(np.r_[True, col[by_key][1:] != col[by_key][:-1], True])
    members = row[by_key]
    caps = np.minimum(listeners, hw.NEURONS_PER_CORE)
    for i in np.unique(np.linspace(0, m - 1, SAMPLE).astype(np.int64)).tolist():
        own = col[row == i]
        partners = np.concatenate([members[cuts[c] : cuts[c + 1]] for c in own.tolist()])
        overlap = np.bincount(partners, minlength=m)
        overlap[i] = 0
        top = np.sort(overlap)[-NEIGHBOURS:].sum()
        if own.size + top < caps[row == i].sum():
            return True
    return False


def _top_dense(row: np.ndarray, col: np.ndarray, m: int, k: int) -> np.ndarray:
    """Per member, the sum of its 255 largest overlaps, from the group's dense Gram matrix."""
    incidence = np.zeros((m, k), np.float32)
    incidence[row, col] = 1.0
    gram = (incidence @ incidence.T).astype(np.int64)  # exact: integers below 2^24
    np.fill_diagonal(gram, 0)
    top_value = int(gram.max())
    hist = np.bincount(
        (np.arange(m)[:, None] * (top_value + 1) + gram).reshape(-1), minlength=m * (top_value + 1)
    ).reshape(m, top_value + 1)
    return _top_from_histogram(hist)


def _top_from_histogram(hist: np.ndarray) -> np.ndarray:
    """Sum of the :data:`NEIGHBOURS` largest values per row, given each row's value counts."""
    values = np.arange(hist.shape[1] - 1, -1, -1, dtype=np.int64)
    counts = hist[:, ::-1]  # largest values first
    taken = np.minimum(counts, np.maximum(0, NEIGHBOURS - (np.cumsum(counts, axis=1) - counts)))
    return (taken * values).sum(axis=1).astype(np.float64)


def _top_sparse(row: np.ndarray, col: np.ndarray, m: int) -> np.ndarray:
    """As :func:`_top_dense`, from the listener pairs of each key (for sparse groups)."""
    by_key = np.argsort(col, kind="stable")
    members = row[by_key]
    cuts = np.flatnonzero(np.r_[True, col[by_key][1:] != col[by_key][:-1], True])
    deg = np.diff(cuts)
    rep = np.repeat(deg, deg)  # each entry is paired with every entry of its key
    first = np.repeat(cuts[:-1], deg)
    a = np.repeat(members, rep)
    offset = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
    b = members[np.repeat(first, rep) + offset]
    keep = a != b
    code, overlap = np.unique(a[keep] * m + b[keep], return_counts=True)
    owner = code // m
    top_value = int(overlap.max(initial=0))
    hist = np.bincount(owner * (top_value + 1) + overlap, minlength=m * (top_value + 1))
    hist = hist.reshape(m, top_value + 1)
    return _top_from_histogram(hist)


def _group_entries(problem: PlacementProblem, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local row, entry index) of every key entry of the neurons ``members`` (sorted)."""
    ptr = problem.ptr
    lengths = ptr[members + 1] - ptr[members]
    local = np.repeat(np.arange(members.size), lengths)
    start = np.repeat(ptr[members] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return local, start + np.arange(int(lengths.sum()))


def components(problem: PlacementProblem) -> np.ndarray | None:
    """A label per neuron, equal for neurons joined by chains of shared keys (the least id of
    the group); None when the union rounds run past :data:`HOOK_ROUNDS`."""
    n = problem.n_neurons
    first = np.full(problem.key_space, n, np.int64)  # every listener joins its key's first
    for _, _, keys, rows in _chunks(problem):
        np.minimum.at(first, keys, rows)
    parent = np.arange(n, dtype=np.int64)
    for _ in range(HOOK_ROUNDS):
        changed = False
        for _, _, keys, rows in _chunks(problem):
            pa, pb = parent[rows], parent[first[keys]]
            differ = pa != pb
            if differ.any():
                changed = True
                pa, pb = pa[differ], pb[differ]
                np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))
        if not changed:
            return parent
        while True:  # point every neuron at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return None
