"""Exact placement of small problems with CP-SAT, in two lexicographic stages.

Variables: ``x[i,c]`` (neuron ``i`` on core ``c``), ``y[k,c]`` (key ``k`` has an axon on core
``c``: implied by every listener of ``k`` on ``c``), and, when neuron slots can bind,
``z[s,c] >= sum_(t,c') y[(s,t),c']`` enforced when ``x[s,c]`` (the slots of source ``s``: one per
route, i.e. the neuron plus its copies). Constraints: each neuron on one core; per core at most
256 axons and 256 slots. Cores are interchangeable, so neuron ``i`` may only use cores
``0..i`` (cores numbered by their first neuron), which removes symmetric solutions.

1. **Cores**: minimize the number of used cores (skipped when the heuristic already meets the
   counting lower bound, which then proves it; CP-SAT stops at the first proof).
2. **Cut traffic**: with that many cores, minimize the rate-weighted number of routes that
   leave their source's core, ``sum_s rate_s * (routes(s) - routes of s to its own core)``.

Where the mesh distances come in is the next step, core-to-mesh assignment (:mod:`.mesh`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from nsc_runtime import hw

from .bounds import LowerBound
from .cpsat import RATE_SCALE, solve
from .problem import TYPES, PlacementProblem

EXACT_MAX_NEURONS = 512
EXACT_MAX_TERMS = 400_000  # (neuron, key) entries x cores: the model's implications


def exact_applies(problem: PlacementProblem, n_cores: int) -> bool:
    """Whether the exact model is small enough to build and solve quickly."""
    if problem.n_neurons > EXACT_MAX_NEURONS:
        return False
    return model_terms(problem, n_cores) <= EXACT_MAX_TERMS


@dataclass
class ExactResult:
    """Best assignment and what was proven about it."""

    core_of: np.ndarray
    n_cores: int
    cores_status: str  # OPTIMAL: core count proven minimal; FEASIBLE otherwise
    cores_bound: int  # proven lower bound on cores
    cut_status: str | None  # stage 2 status, None when not run (one core, or no routes)
    cut_traffic: float | None  # scaled objective of stage 2 (spike routes leaving a core)
    cut_bound: float | None


def solve_exact(
    problem: PlacementProblem,
    core_of: np.ndarray,
    n_cores: int,
    bound: LowerBound,
    *,
    seconds: tuple[float, float],
    seed: int,
) -> ExactResult:
    """Improve a feasible start assignment to a proven optimum when time allows;
    ``seconds`` = CP-SAT time for stage 1 (cores) and stage 2 (cut traffic); a stage with no
    time is skipped (status ``HEURISTIC``)."""
    cores = solve_cores(problem, core_of, n_cores, bound, seconds=seconds[0], seed=seed)
    cut = solve_cut(problem, cores.core_of, cores.n_cores, seconds=seconds[1], seed=seed)
    return ExactResult(
        cut.core_of,
        cores.n_cores,
        cores.status,
        cores.bound,
        cut.status,
        cut.objective,
        cut.bound,
    )


@dataclass
class CoresResult:
    """Stage 1: the assignment, its core count, ``status`` (``OPTIMAL``: proven minimal,
    ``FEASIBLE``: CP-SAT ran without proof, ``HEURISTIC``: not run) and the proven bound."""

    core_of: np.ndarray
    n_cores: int
    status: str
    bound: int


@dataclass
class CutResult:
    """Stage 2: the assignment, ``status`` (None: nothing to do, one core or no routes;
    ``HEURISTIC``: not run; else CP-SAT's status) and the scaled objective and bound."""

    core_of: np.ndarray
    status: str | None
    objective: float | None
    bound: float | None


def solve_cores(
    problem: PlacementProblem,
    core_of: np.ndarray,
    n_cores: int,
    bound: LowerBound,
    *,
    seconds: float,
    seed: int,
) -> CoresResult:
    """Stage 1: fewest cores, from a feasible start. Not run when the start meets the counting
    bound (then the bound proves it) or ``seconds <= 0``; CP-SAT stops at a proof."""
    core_of = _first_appearance(core_of)
    if n_cores <= bound.cores:
        return CoresResult(core_of, n_cores, "OPTIMAL", bound.cores)
    if seconds <= 0:
        return CoresResult(core_of, n_cores, "HEURISTIC", bound.cores)
    model = _Model(problem, n_cores, core_of)
    model.minimize_cores(bound.cores)
    result = solve(model.model, seconds, seed)
    cores_bound = bound.cores
    if result.found:
        core_of = _first_appearance(model.decode(result.solver))
        n_cores = round(result.objective)
        cores_bound = max(bound.cores, math.ceil(result.bound - 1e-6))
    status = "OPTIMAL" if cores_bound >= n_cores else "FEASIBLE"
    return CoresResult(core_of, n_cores, status, cores_bound)


def cut_applies(problem: PlacementProblem, n_cores: int) -> bool:
    """Whether stage 2 has anything to minimize (two or more cores and some neuron route)."""
    return n_cores >= 2 and bool(np.any(problem.degree[: problem.n_neurons * TYPES]))


def solve_cut(
    problem: PlacementProblem,
    core_of: np.ndarray,
    n_cores: int,
    *,
    seconds: float,
    seed: int,
) -> CutResult:
    """Stage 2: with ``n_cores`` cores, least rate-weighted cut traffic, from a feasible start
    (cores numbered by first appearance). Not run when there is nothing to cut or
    ``seconds <= 0``; CP-SAT stops at a proof."""
    core_of = _first_appearance(core_of)
    if not cut_applies(problem, n_cores):
        return CutResult(core_of, None, None, None)
    if seconds <= 0:
        return CutResult(core_of, "HEURISTIC", None, None)
    model = _Model(problem, n_cores, core_of)
    model.minimize_cut()
    result = solve(model.model, seconds, seed)
    if not result.found:
        return CutResult(core_of, "UNKNOWN", None, None)
    scale = model.rate_unit
    return CutResult(
        _first_appearance(model.decode(result.solver)),
        result.status,
        result.objective * scale,
        result.bound * scale,
    )


def model_terms(problem: PlacementProblem, n_cores: int) -> int:
    """Size of the exact model with ``n_cores`` cores: (neuron, key) entries x cores."""
    return int(problem.keys.size) * max(n_cores, 1)


def _first_appearance(core_of: np.ndarray) -> np.ndarray:
    """Renumber cores in order of their first neuron (the model's symmetry breaking)."""
    _, first, inverse = np.unique(core_of, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    return rank[inverse.reshape(-1)].astype(np.int32)


class _Model:
    """The CP-SAT model of the module docstring, with a start assignment as hint."""

    def __init__(self, problem: PlacementProblem, n_cores: int, start: np.ndarray) -> None:
        m = self.model = cp_model.CpModel()
        self.problem, self.n_cores = problem, n_cores
        n, cap_c = problem.n_neurons, n_cores
        used = np.flatnonzero(problem.degree)
        self.key_index = {int(k): j for j, k in enumerate(used)}
        self.rate_unit = 1.0
        self.x = [
            [m.new_bool_var(f"x{i}_{c}") for c in range(min(i, cap_c - 1) + 1)] for i in range(n)
        ]
        self.y = [[m.new_bool_var(f"y{k}_{c}") for c in range(cap_c)] for k in used]
        for i in range(n):
            m.add_exactly_one(self.x[i])
            for k in problem.keys[problem.ptr[i] : problem.ptr[i + 1]].tolist():
                row = self.y[self.key_index[k]]
                for c, xv in enumerate(self.x[i]):
                    m.add_implication(xv, row[c])
        for c in range(cap_c):
            m.add(sum(row[c] for row in self.y) <= hw.AXONS_PER_CORE)
        self.source_keys = self._source_keys()
        self._slots()
        self._hint(start)

    def _source_keys(self) -> dict[int, list[int]]:
        """Used neuron-source keys (as y indices) of each source."""
        out: dict[int, list[int]] = {}
        limit = self.problem.n_neurons * TYPES
        for k, j in self.key_index.items():
            if k < limit:
                out.setdefault(k // TYPES, []).append(j)
        return out

    def _slots(self) -> None:
        """Slot capacity, added only when some core could exceed it."""
        p, m, cap_c = self.problem, self.model, self.n_cores
        degree = p.degree[: p.n_neurons * TYPES].reshape(p.n_neurons, TYPES)
        worst = np.maximum(1, np.minimum(degree, cap_c).sum(axis=1)).sum()
        if worst <= hw.NEURONS_PER_CORE:
            return
        load: list[list[cp_model.LinearExprT]] = [[] for _ in range(cap_c)]
        for s in range(p.n_neurons):
            keys = self.source_keys.get(s)
            if not keys:
                for c, xv in enumerate(self.x[s]):
                    load[c].append(xv)
                continue
            span = sum(self.y[j][c] for j in keys for c in range(cap_c))
            for c, xv in enumerate(self.x[s]):
                z = m.new_int_var(0, len(keys) * cap_c, f"z{s}_{c}")
                m.add(z >= span).only_enforce_if(xv)
                load[c].append(z)
        for c in range(cap_c):
            m.add(sum(load[c]) <= hw.NEURONS_PER_CORE)

    def _hint(self, start: np.ndarray) -> None:
        p, m = self.problem, self.model
        for i, row in enumerate(self.x):
            for c, xv in enumerate(row):
                m.add_hint(xv, int(start[i]) == c)
        present = set(zip(p.keys.tolist(), start[p.rows].tolist(), strict=True))
        for k, j in self.key_index.items():
            for c, yv in enumerate(self.y[j]):
                m.add_hint(yv, (k, c) in present)

    def minimize_cores(self, lower: int) -> None:
        m = self.model
        used = [m.new_bool_var(f"u{c}") for c in range(self.n_cores)]
        for row in self.x:
            for c, xv in enumerate(row):
                m.add_implication(xv, used[c])
        for c in range(self.n_cores - 1):
            m.add(used[c] >= used[c + 1])
        m.add(sum(used) >= lower)
        for uv in used:
            m.add_hint(uv, True)
        m.minimize(sum(used))

    def minimize_cut(self) -> None:
        """Rate-weighted routes that leave their source's core (see module docstring)."""
        m, rates = self.model, self.problem.source_rates
        top = float(rates[: self.problem.n_neurons].max(initial=0.0))
        self.rate_unit = top / RATE_SCALE if top > 0 else 1.0
        terms = []
        for s, keys in self.source_keys.items():
            weight = round(rates[s] / self.rate_unit)
            if weight == 0:
                continue
            for j in keys:
                for c in range(self.n_cores):
                    terms.append(weight * self.y[j][c])
                for c, xv in enumerate(self.x[s]):
                    w = m.new_bool_var(f"w{s}_{j}_{c}")
                    m.add_implication(w, xv)
                    m.add_implication(w, self.y[j][c])
                    terms.append(-weight * w)
        m.minimize(sum(terms))

    def decode(self, solver: cp_model.CpSolver) -> np.ndarray:
        out = np.zeros(self.problem.n_neurons, np.int32)
        for i, row in enumerate(self.x):
            out[i] = next(c for c, xv in enumerate(row) if solver.boolean_value(xv))
        return out
