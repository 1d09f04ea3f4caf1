"""One way to run OR-Tools CP-SAT everywhere in placement: fixed workers, seed and limits."""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

WORKERS = 2


@dataclass(frozen=True)
class Solved:
    """Outcome of one solve: ``status`` is ``OPTIMAL``, ``FEASIBLE``, ``INFEASIBLE`` or
    ``UNKNOWN``; ``bound`` is the proven bound on the (minimized) objective."""

    status: str
    objective: float
    bound: float
    solver: cp_model.CpSolver

    @property
    def found(self) -> bool:
        return self.status in ("OPTIMAL", "FEASIBLE")


RATE_SCALE = 1000
"""Spike rates are scaled to integers 0..RATE_SCALE for CP-SAT objectives (one definition)."""


def solve(model: cp_model.CpModel, time_limit: float, seed: int) -> Solved:
    """Solve with ``WORKERS`` interleaved workers, stopping after ``time_limit`` units of
    CP-SAT's deterministic time (about seconds), so one input and seed give one answer on any
    machine. A generous wall-clock cap (ten times the limit plus 10 s) only guards against a
    solver that stops counting work; it is far enough that load on the machine never decides
    the answer."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = WORKERS
    params.interleave_search = True
    params.random_seed = seed
    params.max_deterministic_time = max(time_limit, 0.05)
    params.max_time_in_seconds = 10 * max(time_limit, 0.05) + 10
    status = solver.solve(model)
    name = solver.status_name(status)
    found = name in ("OPTIMAL", "FEASIBLE")
    objective = solver.objective_value if found else float("nan")
    bound = solver.best_objective_bound if found else float("nan")
    return Solved(name, objective, bound, solver)
