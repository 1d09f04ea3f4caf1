"""The scalable placement path: recursive bisection until every part fits one core, then the
exact repair and compaction of :mod:`.pack`.

1. **Graph.** Neurons that need the same key should share a core: one axon instead of one per
   core and, for a neuron source, one copy instead of several. Each key is a hyperedge over its
   listeners, expanded into a path through them (weight 2 for a neuron-source key: an axon and
   a copy; 1 for a host line). Above two million (neuron, key) entries the keys are sampled
   consistently (keys whose fixed hash is 0 modulo ``r``, so a sampled key keeps all its
   listeners) down to about 8 keys per neuron.
2. **Recursive bisection.** Start from all neurons. A part is one core when its distinct keys
   (counted exactly) and its fewest slots (:func:`.bounds.lower_bound`'s per-neuron count,
   copies as if every key's listeners sat together) are both at most 256. Otherwise it needs
   about ``q = ceil(max(keys, slots) / 256)`` cores (for large parts the keys are estimated
   by the axon share ``sum_k listeners_in_part(k) / listeners(k)``). A part that needs at most
   8 cores is filled best fit (:func:`fill_best`): a core takes next the neuron whose keys it
   already holds the largest share of, while keys and slots fit. A larger part is split in two by
   pymetis with target weights ``floor(q/2) : ceil(q/2)``, cutting as few shared keys as it
   can, balancing the weight of the scarcer resource (axon share or fewest slots), with a
   30 % imbalance allowed so that the cut can follow natural groups (a counting estimate of
   ``q`` is often low), fixed seed. Parts become cores in depth-first order, so consecutive
   core numbers are close in the hierarchy.
   A second start, :func:`best_fit`, fills cores best-fit within each IR node (small
   nodes only; :func:`node_greedy` under three ranking rules, each refilled with the copies
   of its previous fill), a third, :func:`sequential`, in neuron order (large problems);
   every start is repaired and the one with fewer cores, then slots, wins.
3. **Compaction, repair, compaction** (:mod:`.pack`): with copies counted exactly, the
   least-loaded cores (often fragments of a group the bisection cut) are emptied into cores
   that hold their keys (when a start has at most 64 cores, also into the roomiest cores),
   overfull cores are relieved, and compaction runs again; compaction stops after a budget of
   work.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pymetis

from nsc_runtime import hw

from ..errors import DoesNotFitError
from .bounds import LowerBound
from .pack import PackState
from .problem import TYPES, PlacementProblem
from .usage import evaluate

SAMPLE_ENTRIES = 2_000_000  # sample keys above this many (neuron, key) entries
SAMPLED_KEYS_PER_NEURON = 8
EXACT_COUNT_NEURONS = 4096  # count a part's distinct keys exactly up to this many neurons
GREEDY_CORES = 8  # parts that need at most this many cores are filled greedily
UFACTOR = 300  # METIS imbalance tolerance, per mille
WORK_PER_SECOND = 600_000  # compaction work units (keys + (key, core) pairs examined) per s
AXON_CAP, SLOT_CAP = hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE
GREEDY_NODE_NEURONS = 4096  # node_greedy runs when every node has at most this many neurons
GREEDY_ENTRIES = 4_000_000  # ... and the problem has at most this many (neuron, key) entries
GREEDY_CELLS = 80_000_000  # ... and no node's (neuron x distinct key) matrix is larger
SPARE_MAX_CORES = 64  # compaction also tries the roomiest cores when a start has this few
SEQUENTIAL_MIN_NEURONS = 512  # the in-order start runs above this many neurons
SEQUENTIAL_FILLS = 3  # in-order fills, each with the copies of the one before as slots
RULES = ("new", "ratio", "shared")  # node_greedy's ways to rank the next neuron (best_fit)
FILL_RULE = "ratio"  # the rule of the bisection's fill of parts of up to GREEDY_CORES cores


def partition(
    problem: PlacementProblem, bound: LowerBound, *, seed: int, compact_seconds: float
) -> tuple[np.ndarray, int]:
    """Assign neurons to cores within capacity. Returns ``(core_of, n_cores)``, cores numbered
    along the bisection hierarchy. Compaction stops after about ``compact_seconds``, counted
    as work (keys and (key, core) pairs examined, :data:`WORK_PER_SECOND`) so that the result
    does not depend on the machine's speed; bisection and repair always run to the end."""
    if problem.n_neurons == 0:
        return np.zeros(0, np.int32), 0
    budget = int(compact_seconds * WORK_PER_SECOND) // 2
    starts = [_Bisection(problem, sharing_graph(problem), bound.min_slots, seed).run]
    if _greedy_applies(problem):
        starts.append(lambda: best_fit(problem, bound.min_slots, bound.cores))
    if problem.n_neurons > SEQUENTIAL_MIN_NEURONS:
        starts.append(lambda: sequential(problem, bound.min_slots))
    best: tuple[tuple[int, int], tuple[np.ndarray, int]] | None = None
    failure: DoesNotFitError | None = None
    for start in starts:
        core_of, n_cores = start()
        state = PackState(problem, core_of, evaluate(problem, core_of, n_cores))
        spare = n_cores <= SPARE_MAX_CORES
        try:
            state.compact(budget, spare=spare)  # fragments of cut groups go home first
            state.repair()
            state.compact(budget, spare=spare)
        except DoesNotFitError as err:
            failure = failure or err
            continue
        result = state.numbered()
        score = (result[1], int(sum(state.slots)))
        if best is None or score < best[0]:
            best = (score, result)
    if best is None:
        assert failure is not None
        raise failure
    return best[1]


def sequential(problem: PlacementProblem, min_slots: np.ndarray) -> tuple[np.ndarray, int]:
    """Cores filled in neuron id order (graph order: each IR node's neurons by index): a
    neuron joins the current core while its new keys and its slots fit, else opens the next
    core. Neurons numbered along the network's structure (split-fanin parts, which share
    their chunk's keys; layers of local windows) land on cores with their key-sharing
    neighbours. Slots are first the fewest each neuron needs, then, for a second fill, the
    copies the first fill gave each neuron (at least its fewest); the fill with fewer cores
    over capacity wins, and the repair step fixes the rest. Work: one pass over the (neuron,
    key) entries per fill."""
    _, core_of, n_cores = _refilled(problem, min_slots, lambda s: _fill_in_order(problem, s))
    return core_of, n_cores


Fill = Callable[[np.ndarray], tuple[np.ndarray, int]]
Scored = tuple[tuple[int, int, int], np.ndarray, int]


def _refilled(problem: PlacementProblem, min_slots: np.ndarray, fill: Fill) -> Scored:
    """The best of up to :data:`SEQUENTIAL_FILLS` fills, each given as its neurons' slots the
    copies the previous fill gave them (at least their fewest), scored by cores over capacity,
    then cores, then slots (the first of equals); it stops at a fill within capacity."""
    slots = min_slots.astype(np.int64)
    best: Scored | None = None
    for _ in range(SEQUENTIAL_FILLS):
        core_of, n_cores = fill(slots)
        usage = evaluate(problem, core_of, n_cores)
        score = (int(usage.over.size), n_cores, int(usage.slots.sum()))
        if best is None or score < best[0]:
            best = (score, core_of, n_cores)
        if score[0] == 0:
            break
        slots = np.maximum(slots, usage.source_slots)
    assert best is not None
    return best


def _fill_in_order(problem: PlacementProblem, slots: np.ndarray) -> tuple[np.ndarray, int]:
    ptr, keys = problem.ptr, problem.keys
    stamp = np.full(problem.key_space, -1, np.int64)
    core_of = np.empty(problem.n_neurons, np.int64)
    core, axons, used = 0, 0, 0
    for i, own in enumerate(slots.tolist()):
        mine = keys[ptr[i] : ptr[i + 1]]
        new = mine[stamp[mine] != core]
        if used and (axons + new.size > AXON_CAP or used + own > SLOT_CAP):
            core, axons, used = core + 1, 0, 0
            new = mine
        stamp[new] = core
        axons += new.size
        used += own
        core_of[i] = core
    return core_of, core + 1


def _greedy_applies(problem: PlacementProblem) -> bool:
    """Whether every node (labelled segment, or the whole problem without labels) is small
    enough for :func:`node_greedy`."""
    if problem.keys.size > GREEDY_ENTRIES:
        return False
    for ids in _segments(problem):
        if ids.size > GREEDY_NODE_NEURONS:
            return False
        keys = np.unique(problem.keys[_row_entries(problem.ptr, ids)]).size
        if ids.size * keys > GREEDY_CELLS:
            return False
    return True


def _segments(problem: PlacementProblem) -> list[np.ndarray]:
    """Neuron ids of each IR node in graph order (all neurons when there are no labels); ids
    that no label covers form one more group."""
    n = problem.n_neurons
    labels = problem.labels
    groups = []
    covered = np.zeros(n, bool)
    for seg in labels.neurons if labels else ():
        ids = np.arange(seg.start, min(seg.start + seg.count, n), dtype=np.int64)
        covered[ids] = True
        groups.append(ids)
    if not covered.all():
        groups.append(np.flatnonzero(~covered).astype(np.int64))
    return [g for g in groups if g.size]


def node_greedy(
    problem: PlacementProblem, min_slots: np.ndarray, rule: str = "new"
) -> tuple[np.ndarray, int]:
    """Best-fit cores per IR node: neurons of one node (for split-fanin parts, chunks of
    similar inputs) fill cores one at a time; a core starts with the remaining neuron that
    needs most keys and then repeatedly takes the best neuron by ``rule`` (:data:`RULES`)
    whose keys and slots (``min_slots``) fit (ties: lowest id). Compaction later merges the
    partly filled last cores of different nodes."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    core_of = np.empty(problem.n_neurons, np.int64)
    cores = 0
    for ids in _segments(problem):
        local, count = fill_best(problem, ids, min_slots[ids], rule)
        core_of[ids] = cores + local
        cores += count
    return core_of, cores


def fill_best(
    problem: PlacementProblem, ids: np.ndarray, slots: np.ndarray, rule: str
) -> tuple[np.ndarray, int]:
    """Cores for the neurons ``ids`` (with ``slots`` each), filled one at a time: a core
    starts with the remaining neuron that needs most keys, then repeatedly takes the
    neuron that ``rule`` ranks best (:func:`_fit_score`) among those whose keys and slots
    still fit, until none fits. Returns ``(local core of each of ids, cores)``.

    Under ``ratio`` and ``shared`` a neuron that shares no key with the core joins it only
    if no other remaining neuron needs any of its keys (it has no group to wait for: e.g. a
    re-emitter with private keys); otherwise it waits for a core of its own group, since
    taking it here would cut its group (its keys on two cores, its sources' copies on two
    cores). ``new`` (the former rule) takes any neuron that fits. Work: a dense (neuron x
    distinct key) matrix of the ids, and per taken neuron one pass over the columns of the
    keys it adds."""
    ptr = problem.ptr
    local = np.empty(ids.size, np.int64)
    entries = _row_entries(ptr, ids)
    local_keys, col = np.unique(problem.keys[entries], return_inverse=True)
    row = np.repeat(np.arange(ids.size), ptr[ids + 1] - ptr[ids])
    # key x neuron, so that the sums over the keys a neuron adds read contiguous rows
    needs = np.zeros((max(local_keys.size, 1), ids.size), np.uint8)
    needs[col.reshape(-1), row] = 1
    count = needs.sum(axis=0, dtype=np.int64)
    slots = np.asarray(slots, np.int64)
    wait = rule != "new"
    listeners = needs.sum(axis=1, dtype=np.int64)  # remaining neurons that need each key
    grouped = needs[listeners > 1].sum(axis=0, dtype=np.int64)  # keys shared with others
    left = np.ones(ids.size, bool)
    cores = 0

    def take(i: int) -> None:
        nonlocal grouped
        left[i] = False
        local[i] = cores
        if wait:
            mine = needs[:, i].astype(bool)
            listeners[mine] -= 1
            alone = mine & (listeners == 1)  # keys that only one remaining neuron needs now
            if alone.any():
                grouped = grouped - needs[alone].sum(axis=0, dtype=np.int64)

    while left.any():
        cand = np.flatnonzero(left)
        first = int(cand[np.argmax(count[cand])])
        used = needs[:, first].astype(bool)
        new = count - needs[used].sum(axis=0, dtype=np.int64)
        axons, slot_sum = int(count[first]), int(slots[first])
        take(first)
        while True:
            fits = left & (axons + new <= AXON_CAP) & (slot_sum + slots <= SLOT_CAP)
            if wait:
                fits &= (new < count) | (grouped == 0)
            if not fits.any():
                break
            free = np.flatnonzero(fits & (new == 0))
            if free.size and rule != "shared":
                # neurons whose keys the core holds score 0, the lowest score under "new" and
                # "ratio": take them in id order (what one pick at a time does) while slots fit
                for i in free[np.cumsum(slots[free]) <= SLOT_CAP - slot_sum].tolist():
                    slot_sum += int(slots[i])
                    take(i)
                continue
            pick = int(np.argmin(np.where(fits, _fit_score(rule, new, count), np.inf)))
            added = needs[:, pick].astype(bool) & ~used
            axons += int(new[pick])
            slot_sum += int(slots[pick])
            used |= added
            if added.any():
                new -= needs[added].sum(axis=0, dtype=np.int64)
            take(pick)
        cores += 1
    return local, cores


def _fit_score(rule: str, new: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Score of each candidate neuron for :func:`node_greedy` (lowest is taken): ``new`` keys
    it adds to the core; their share of its keys (``ratio``); or most keys it shares with the
    core, then fewest new (``shared``)."""
    if rule == "new":
        return new.astype(np.float64)
    if rule == "ratio":
        return new / np.maximum(count, 1)
    return (new - (AXON_CAP + 1) * (count - new)).astype(np.float64)


def best_fit(
    problem: PlacementProblem, min_slots: np.ndarray, bound_cores: int = 0
) -> tuple[np.ndarray, int]:
    """:func:`node_greedy` under each rule of :data:`RULES`, each refilled up to
    :data:`SEQUENTIAL_FILLS` times with the copies its previous fill gave every neuron as its
    slots (at least its fewest), as :func:`sequential` does; the fill with the fewest cores
    over capacity, then fewest cores, then fewest slots wins (the first such in rule and fill
    order). Stops at a fill within capacity that meets ``bound_cores``.

    Why several rules: taking the neuron that adds the fewest new keys (``new``, the first
    rule) favours neurons with few keys, wherever their keys come from, so on a layer of
    groups that each fill a core's 256 axons exactly (an Elman layer under a group mask,
    each group reading two groups) it mixes groups and every later core overflows; ranking
    by the share of a neuron's keys the core already holds (``ratio``) or by the keys it
    shares (``shared``) keeps groups together (docs/placement.md, "Grouped layers")."""
    best: Scored | None = None
    for rule in RULES:
        got = _refilled(problem, min_slots, functools.partial(node_greedy, problem, rule=rule))
        if best is None or got[0] < best[0]:
            best = got
        if best[0][0] == 0 and best[0][1] <= bound_cores:
            break
    assert best is not None
    return best[1], best[2]


def sharing_graph(problem: PlacementProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR ``(xadj, adjncy, weights)`` of the (sampled) key-sharing graph of the docstring."""
    n = problem.n_neurons
    rows, keys = problem.rows, problem.keys
    rate = max(1, int(np.ceil(keys.size / max(SAMPLE_ENTRIES, SAMPLED_KEYS_PER_NEURON * n))))
    if rate > 1:
        mixed = (keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        keep = mixed % np.uint64(rate) == 0
        rows, keys = rows[keep], keys[keep]
    order = np.lexsort((rows, keys))
    rows, keys = rows[order].astype(np.int64), keys[order]
    same = keys[1:] == keys[:-1]
    a, b = rows[:-1][same], rows[1:][same]
    w = np.where(keys[1:][same] < n * TYPES, 2, 1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    code, inverse = np.unique(lo * n + hi, return_inverse=True)
    weight = np.bincount(inverse.reshape(-1), weights=w).astype(np.int64)
    u, v = code // n, code % n
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    ew = np.concatenate([weight, weight])
    order = np.argsort(src, kind="stable")
    xadj = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=xadj[1:])
    return xadj, dst[order], ew[order]


def vertex_weights(problem: PlacementProblem, slots: np.ndarray) -> np.ndarray:
    """Integer METIS vertex weights from the scarcer resource: each neuron's axon share
    ``sum_k 1/listeners(k)``, or its estimated slots, whichever totals more."""
    degree = problem.degree[problem.keys].astype(np.float64)
    share = np.bincount(problem.rows, weights=1.0 / degree, minlength=problem.n_neurons)
    if slots.sum() > share.sum():
        share = slots.astype(np.float64)
    return np.maximum(1, np.rint(share / max(share.mean(), 1e-12) * 100)).astype(np.int64)


class _Bisection:
    """Recursive bisection of the sharing graph until every part fits (module docstring)."""

    def __init__(
        self,
        problem: PlacementProblem,
        graph: tuple[np.ndarray, np.ndarray, np.ndarray],
        slots: np.ndarray,
        seed: int,
    ) -> None:
        n = problem.n_neurons
        self.problem, self.seed = problem, seed
        self.xadj, self.adjncy, self.eweights = graph
        self.degree = np.diff(self.xadj)
        self.vweights = vertex_weights(problem, slots)
        degree = problem.degree[problem.keys].astype(np.float64)
        self.share = np.bincount(problem.rows, weights=1.0 / degree, minlength=n)
        self.min_slots = slots
        self.stamp = np.full(problem.key_space, -1, np.int64)
        self.local = np.full(n, -1, np.int64)

    def run(self) -> tuple[np.ndarray, int]:
        """``(core_of, n_cores)``: one core per leaf part, numbered depth-first."""
        n = self.problem.n_neurons
        core_of = np.empty(n, np.int64)
        cores = 0
        stack = [np.arange(n, dtype=np.int64)]
        while stack:
            part = stack.pop()
            q = self.cores_needed(part)
            if q <= 1 or part.size == 1:
                core_of[part] = cores
                cores += 1
            elif q <= GREEDY_CORES and part.size <= EXACT_COUNT_NEURONS:
                for group in self.fill(part):
                    core_of[group] = cores
                    cores += 1
            else:
                left, right = self.split(part, q)
                stack.extend((right, left))
        return core_of, cores

    def cores_needed(self, part: np.ndarray) -> int:
        """1 when the part fits one core, else about how many cores it needs."""
        slots = int(self.min_slots[part].sum())
        estimate = math.ceil(max(self.share[part].sum() / AXON_CAP, slots / SLOT_CAP))
        if part.size <= EXACT_COUNT_NEURONS and estimate <= 2 * GREEDY_CORES:
            keys = self.problem.keys[_row_entries(self.problem.ptr, part)]
            self.stamp[keys] = np.arange(keys.size)
            axons = int(np.count_nonzero(self.stamp[keys] == np.arange(keys.size)))
        else:
            axons = math.ceil(self.share[part].sum())
        return max(1, math.ceil(max(axons / AXON_CAP, slots / SLOT_CAP)))

    def subgraph(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR ``(xadj, adjncy, eweights)`` of the graph induced by ``part`` (local ids)."""
        self.local[part] = np.arange(part.size)
        entries = _row_entries(self.xadj, part)
        neighbour = self.local[self.adjncy[entries]]
        inside = neighbour >= 0
        owner = np.repeat(np.arange(part.size), self.degree[part])
        xadj = np.zeros(part.size + 1, np.int64)
        np.cumsum(np.bincount(owner[inside], minlength=part.size), out=xadj[1:])
        self.local[part] = -1
        return xadj, neighbour[inside], self.eweights[entries][inside]

    def fill(self, part: np.ndarray) -> list[np.ndarray]:
        """Cores filled best fit (:func:`fill_best`, rule ``ratio``): a core takes next the
        neuron whose keys it already holds the largest share of, while keys and fewest slots
        fit. (Filling along a breadth-first order of the sharing graph, as before, took
        neighbours' neighbours from other groups while the core had room: on a layer of
        groups that each fill 256 axons exactly it mixed groups and every core overflowed.)"""
        local, cores = fill_best(self.problem, part, self.min_slots[part], FILL_RULE)
        return [part[local == c] for c in range(cores)]

    def split(self, part: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        """METIS bisection of the part with target weights ``floor(q/2) : ceil(q/2)``."""
        xadj, adjncy, eweights = self.subgraph(part)
        share = (q // 2) / q
        idx = pymetis.zero_copy_dtype()
        _, membership = pymetis.part_graph(
            2,
            adjacency=pymetis.CSRAdjacency(
                adj_starts=xadj.astype(idx), adjacent=adjncy.astype(idx)
            ),
            vweights=self.vweights[part].astype(idx),
            eweights=eweights.astype(idx),
            tpwgts=[share, 1.0 - share],
            recursive=True,
            options=pymetis.Options(ufactor=UFACTOR, seed=self.seed),
        )
        side = np.asarray(membership, dtype=bool)
        if side.all() or not side.any():  # METIS left a side empty: split by weight order
            weight = np.cumsum(self.vweights[part])
            side = weight > share * weight[-1]
        return part[~side], part[side]


def _row_entries(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Indices of the CSR entries of ``rows``, concatenated in row order."""
    start = ptr[rows]
    length = ptr[rows + 1] - start
    offset = np.cumsum(length) - length
    return np.repeat(start - offset, length) + np.arange(int(length.sum()))
