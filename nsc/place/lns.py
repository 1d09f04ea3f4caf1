"""Large-neighbourhood refinement of a feasible assignment with CP-SAT (docs/placement.md).

Repeatedly pick a *neighbourhood* of a few cores (a core with few neurons, or the two cores
that exchange the most traffic, grown by the cores most connected to it), free the neurons on
those cores and solve the exact sub-problem over just those cores, everything else fixed:

- ``x[i,c]``: free neuron ``i`` on neighbourhood core ``c``; ``y[k,c]``: key ``k`` has an axon
  on ``c`` (implied by each free listener of ``k`` on ``c``); at most 256 axons per core;
- slots: a source ``s`` takes ``max(1, routes(s))`` slots on its core, where ``routes(s)`` counts
  the fixed cores outside the neighbourhood that hear ``(s, t)`` (a constant) plus
  ``sum_(t,c) y[(s,t),c]``. Free sources count on their new core (at most 256 per core), and
  fixed sources outside the neighbourhood whose listeners move change the slots of their own
  core, which must stay within 256 as well;
- objective, lexicographic in one weighted sum: fewest used cores among the neighbourhood, then
  the rate-weighted routes that leave their source's core (cut traffic), the same objective
  as the exact path's two stages.

The current assignment is the hint. A solution is taken only if, recounted exactly in floating
point, it uses fewer cores, or as many cores and strictly less cut traffic, and every touched
core fits. Budget: CP-SAT deterministic time plus a charge for building each model, counted in
the same units, and a cap on sub-problems, so one input and seed give one answer on any
machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from nsc_runtime import hw

from .cpsat import RATE_SCALE, solve
from .problem import TYPES, PlacementProblem
from .usage import core_pairs, evaluate

NEIGHBOURHOOD_CORES = 3  # cores freed at a time, at most
MAX_FREE_NEURONS = 512  # neurons freed at a time, at most
MAX_TERMS = 30_000  # (free neuron, key) entries x neighbourhood cores, at most
SOLVE_SECONDS = 1.0  # CP-SAT deterministic time per sub-problem, at most
BUILD_TERMS_PER_SECOND = 200_000  # budget charge for building a model
MAX_ROUNDS = 400  # sub-problems solved, at most
MAX_PASSES = 3  # recomputations of the candidate neighbourhoods
AXON_CAP, SLOT_CAP = hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE


@dataclass
class LnsResult:
    """The refined assignment (cores renumbered without gaps, order kept) and what LNS did."""

    core_of: np.ndarray
    n_cores: int
    rounds: int  # sub-problems solved
    moves: int  # improving sub-problems taken
    cores_before: int
    cut_before: float  # cut traffic (spikes per tick on routes leaving their core)
    cut_after: float
    work: float  # budget used (deterministic seconds)


def refine(
    problem: PlacementProblem,
    core_of: np.ndarray,
    n_cores: int,
    *,
    seconds: float,
    seed: int,
    max_rounds: int = MAX_ROUNDS,
) -> LnsResult:
    """Improve a feasible assignment by CP-SAT on a few cores at a time (module docstring);
    never increases the core count or the cut traffic, never leaves a core over capacity."""
    lns = _Lns(problem, core_of, n_cores, seed)
    cut_before = lns.total_cut()
    rounds = moves = 0
    work = 0.0
    for _ in range(MAX_PASSES):
        tried: set[frozenset[int]] = set()
        moved = False
        for hood in lns.candidates():
            if rounds >= max_rounds or work >= seconds:
                break
            if hood in tried or len(hood) < 2:
                continue
            tried.add(hood)
            spent, improved = lns.improve(sorted(hood), min(SOLVE_SECONDS, seconds - work))
            work += spent
            rounds += 1
            if improved:
                moves += 1
                moved = True
        if not moved or rounds >= max_rounds or work >= seconds:
            break
    out, used = lns.numbered()
    return LnsResult(out, used, rounds, moves, n_cores, cut_before, lns.total_cut(), work)


class _Lns:
    """Assignment, listeners of every key and exact per-core counts, updated per move."""

    def __init__(self, p: PlacementProblem, core_of: np.ndarray, n_cores: int, seed: int) -> None:
        self.p, self.seed, self.n_cores = p, seed, n_cores
        self.core_of = np.asarray(core_of, dtype=np.int64).copy()
        order = np.argsort(p.keys, kind="stable")
        self.listeners = p.rows[order].astype(np.int64)
        self.key_ptr = np.zeros(p.key_space + 1, np.int64)
        np.cumsum(p.degree, out=self.key_ptr[1:])
        usage = evaluate(p, self.core_of, n_cores)
        self.axons = usage.axons.astype(np.int64)
        self.slots = usage.slots.astype(np.int64)
        self.source_slots = usage.source_slots.astype(np.int64)
        by_core = np.argsort(self.core_of, kind="stable")
        bounds = np.searchsorted(self.core_of[by_core], np.arange(n_cores + 1))
        self.members = [by_core[bounds[c] : bounds[c + 1]].tolist() for c in range(n_cores)]
        rates = p.source_rates
        top = float(rates[: p.n_neurons].max(initial=0.0))
        self.unit = top / RATE_SCALE if top > 0 else 1.0

    # -- exact local counts --------------------------------------------------------------
    def key_listeners(self, k: int) -> np.ndarray:
        return self.listeners[self.key_ptr[k] : self.key_ptr[k + 1]]

    def routes(self, s: int) -> tuple[int, int]:
        """(routes of neuron source ``s``, those that stay on its own core)."""
        total = own = 0
        home = self.core_of[s]
        for t in range(TYPES):
            cores = np.unique(self.core_of[self.key_listeners(s * TYPES + t)])
            total += cores.size
            own += int(np.any(cores == home))
        return total, own

    def total_cut(self) -> float:
        usage = evaluate(self.p, self.core_of, self.n_cores)
        return float(core_pairs(self.p, self.core_of, usage)[1].sum())

    def core_axons(self, c: int) -> int:
        p = self.p
        found: set[int] = set()
        for i in self.members[c]:
            found.update(p.keys[p.ptr[i] : p.ptr[i + 1]].tolist())
        return len(found)

    # -- neighbourhoods ------------------------------------------------------------------
    def candidates(self) -> Iterator[frozenset[int]]:
        """Neighbourhoods, alternating: the next least-populated core grown by the cores that
        exchange most traffic with it, and the next heaviest pair, alone and grown."""
        usage = evaluate(self.p, self.core_of, self.n_cores)
        pairs, rate = core_pairs(self.p, self.core_of, usage)
        partner: list[dict[int, float]] = [{} for _ in range(self.n_cores)]
        for (a, b), r in zip(pairs.tolist(), rate.tolist(), strict=True):
            partner[a][b] = partner[a].get(b, 0.0) + r
            partner[b][a] = partner[b].get(a, 0.0) + r
        sizes = np.array([len(m) for m in self.members])
        small = [int(c) for c in np.argsort(sizes, kind="stable") if sizes[c] > 0]
        heavy = np.argsort(-rate, kind="stable")
        for j in range(max(len(small), heavy.size)):
            if j < len(small):
                yield self.grow([small[j]], partner)
            if j < heavy.size:
                a, b = pairs[heavy[j]].tolist()
                yield frozenset((a, b))  # small and quick first, then grown
                yield self.grow([a, b], partner)

    def grow(self, start: list[int], partner: list[dict[int, float]]) -> frozenset[int]:
        hood = list(start)
        while len(hood) < NEIGHBOURHOOD_CORES:
            score: dict[int, float] = {}
            for c in hood:
                for d, r in partner[c].items():
                    if d not in hood and self.members[d]:
                        score[d] = score.get(d, 0.0) + r
            if not score:
                break
            best = min(score, key=lambda d: (-score[d], d))
            if not self.fits_size([*hood, best]):
                break
            hood.append(best)
        return frozenset(hood)

    def fits_size(self, hood: list[int]) -> bool:
        free = [i for c in hood for i in self.members[c]]
        entries = int(sum(self.p.ptr[i + 1] - self.p.ptr[i] for i in free))
        return len(free) <= MAX_FREE_NEURONS and entries * len(hood) <= MAX_TERMS

    # -- one sub-problem -----------------------------------------------------------------
    def improve(self, hood: list[int], seconds: float) -> tuple[float, bool]:
        """Solve the sub-problem over ``hood``; apply it if it is a strict improvement.
        Returns (budget spent, whether it was applied)."""
        sub = _SubProblem(self, hood)
        spent = sub.terms / BUILD_TERMS_PER_SECOND
        if not sub.free:
            return spent, False
        result = solve(sub.model, seconds, self.seed)
        spent += result.solver.deterministic_time if result.found else seconds
        if not result.found or result.objective >= sub.start_objective - 0.5:
            return spent, False
        return spent, self.apply(sub, sub.decode(result.solver))

    def local_cost(self, hood: list[int], sources: list[int]) -> tuple[int, float]:
        rates = self.p.source_rates
        used = sum(1 for c in hood if self.members[c])
        cut = 0.0
        for s in sources:
            total, own = self.routes(s)
            cut += rates[s] * (total - own)
        return used, cut

    def apply(self, sub: _SubProblem, new_core: list[int]) -> bool:
        """Move the free neurons; keep the move only if it fits and strictly improves."""
        hood, free, sources = sub.hood, sub.free, sub.sources
        before = self.local_cost(hood, sources)
        old_members = {c: self.members[c] for c in hood}
        old_core = self.core_of[free].copy()
        self.core_of[free] = new_core
        for c in hood:
            self.members[c] = []
        for i, c in zip(free, new_core, strict=True):
            self.members[c].append(i)
        after = self.local_cost(hood, sources)
        new_slots = {s: max(1, self.routes(s)[0]) for s in sources}
        slots: dict[int, int] = {}
        for s in sources:  # every free neuron is among the sources
            j = sub.free_index.get(s)
            old_home = int(old_core[j]) if j is not None else int(self.core_of[s])
            home = int(self.core_of[s])
            slots[old_home] = slots.get(old_home, int(self.slots[old_home]))
            slots[old_home] -= int(self.source_slots[s])
            slots[home] = slots.get(home, int(self.slots[home])) + new_slots[s]
        axons = {c: self.core_axons(c) for c in hood}
        fits = all(v <= SLOT_CAP for v in slots.values()) and all(
            v <= AXON_CAP for v in axons.values()
        )
        better = after[0] < before[0] or (
            after[0] == before[0] and after[1] < before[1] - 1e-9 * max(1.0, before[1])
        )
        if not (fits and better):
            self.core_of[free] = old_core
            for c, m in old_members.items():
                self.members[c] = m
            return False
        for c, v in slots.items():
            self.slots[c] = v
        for c, v in axons.items():
            self.axons[c] = v
        for s, v in new_slots.items():
            self.source_slots[s] = v
        return True

    def numbered(self) -> tuple[np.ndarray, int]:
        """Cores renumbered without the emptied ones, in their old order."""
        alive = np.array([bool(m) for m in self.members], dtype=bool)
        new_id = np.cumsum(alive) - 1
        return new_id[self.core_of].astype(np.int32), int(alive.sum())


class _SubProblem:
    """The CP-SAT model over the neurons of ``hood`` (module docstring)."""

    def __init__(self, lns: _Lns, hood: list[int]) -> None:
        p, core_of = lns.p, lns.core_of
        self.hood = hood
        in_hood = set(hood)
        self.free = sorted(i for c in hood for i in lns.members[c])
        self.free_index = {i: j for j, i in enumerate(self.free)}
        k = len(hood)
        m = self.model = cp_model.CpModel()
        # local cores numbered by first free neuron (symmetry breaking, hint compatible)
        local: dict[int, int] = {}
        for i in self.free:
            local.setdefault(int(core_of[i]), len(local))
        for c in hood:
            local.setdefault(c, len(local))
        self.local_to_core = sorted(local, key=local.__getitem__)
        start = [local[int(core_of[i])] for i in self.free]
        self.x = [
            [m.new_bool_var(f"x{j}_{c}") for c in range(min(j, k - 1) + 1)]
            for j in range(len(self.free))
        ]
        key_list: dict[int, list[int]] = {}
        self.terms = 0
        for j, i in enumerate(self.free):
            for kk in p.keys[p.ptr[i] : p.ptr[i + 1]].tolist():
                key_list.setdefault(kk, []).append(j)
        self.terms = sum(len(v) for v in key_list.values()) * k
        self.y = {kk: [m.new_bool_var(f"y{kk}_{c}") for c in range(k)] for kk in key_list}
        for kk, js in key_list.items():
            row = self.y[kk]
            for j in js:
                for c, xv in enumerate(self.x[j]):
                    m.add_implication(xv, row[c])
        for c in range(k):
            m.add(sum(row[c] for row in self.y.values()) <= AXON_CAP)
        for row in self.x:
            m.add_exactly_one(row)
        # sources whose routes can change: free neurons and neuron sources of freed keys
        limit = p.n_neurons * TYPES
        srcs = set(self.free) | {kk // TYPES for kk in key_list if kk < limit}
        self.sources = sorted(srcs)
        rates = p.source_rates
        cut_terms: list[cp_model.LinearExprT] = []
        start_cut = 0
        big = 1
        fixed_load: dict[int, list[cp_model.LinearExprT]] = {}
        load: list[list[cp_model.LinearExprT]] = [[] for _ in range(k)]
        present = {(kk, start[j]) for kk, js in key_list.items() for j in js}
        for s in self.sources:
            own_keys = [s * TYPES + t for t in range(TYPES) if s * TYPES + t in self.y]
            outside = 0
            for t in range(TYPES):
                ls = lns.key_listeners(s * TYPES + t)
                cores = {int(c) for c in core_of[ls].tolist()} - in_hood
                outside += len(cores)
            span = [self.y[kk][c] for kk in own_keys for c in range(k)]
            weight = round(float(rates[s]) / lns.unit) if s < p.n_neurons else 0
            start_span = sum((kk, c) in present for kk in own_keys for c in range(k))
            fj = self.free_index.get(s)
            if weight:
                cut_terms.extend(weight * v for v in span)
                start_cut += weight * start_span
                big += weight * len(span)
            if fj is not None:
                home_start = start[fj]
                if weight:
                    for kk in own_keys:
                        for c, xv in enumerate(self.x[fj]):
                            w = m.new_bool_var("")
                            m.add_implication(w, xv)
                            m.add_implication(w, self.y[kk][c])
                            m.add_hint(w, c == home_start and (kk, c) in present)
                            cut_terms.append(-weight * w)
                        start_cut -= weight * int((kk, home_start) in present)
                if not own_keys and outside == 0:
                    for c, xv in enumerate(self.x[fj]):
                        load[c].append(xv)
                    continue
                top = max(1, outside + len(span))
                sl = m.new_int_var(1, top, f"sl{s}")
                m.add(sl >= outside + sum(span))
                m.add_hint(sl, max(1, outside + start_span))
                for c, xv in enumerate(self.x[fj]):
                    z = m.new_int_var(0, top, "")
                    m.add(z >= sl).only_enforce_if(xv)
                    m.add_hint(z, max(1, outside + start_span) if c == home_start else 0)
                    load[c].append(z)
            else:
                home = int(core_of[s])
                top = max(1, outside + len(span))
                sl = m.new_int_var(max(1, outside), top, f"sl{s}")
                m.add(sl >= outside + sum(span))
                m.add_hint(sl, max(1, outside + start_span))
                fixed_load.setdefault(home, []).append(sl)
                fixed_load[home].append(-int(lns.source_slots[s]))
        for c in range(k):
            m.add(sum(load[c]) <= SLOT_CAP)
        for home, terms in fixed_load.items():
            m.add(int(lns.slots[home]) + sum(terms) <= max(SLOT_CAP, int(lns.slots[home])))
        used = [m.new_bool_var(f"u{c}") for c in range(k)]
        for row in self.x:
            for c, xv in enumerate(row):
                m.add_implication(xv, used[c])
        for c in range(k - 1):
            m.add(used[c] >= used[c + 1])
        m.minimize(big * cp_model.LinearExpr.sum(used) + cp_model.LinearExpr.sum(cut_terms))
        self.start_objective = big * len({*start}) + start_cut
        for j, row in enumerate(self.x):
            for c, xv in enumerate(row):
                m.add_hint(xv, start[j] == c)
        for kk, row in self.y.items():
            for c, yv in enumerate(row):
                m.add_hint(yv, (kk, c) in present)
        for c, uv in enumerate(used):
            m.add_hint(uv, c in set(start))

    def decode(self, solver: cp_model.CpSolver) -> list[int]:
        out = []
        for row in self.x:
            c = next(c for c, xv in enumerate(row) if solver.boolean_value(xv))
            out.append(self.local_to_core[c])
        return out
