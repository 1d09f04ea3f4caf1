"""Anytime placement: a good answer at once, CP-SAT only while it can win, effort levels.

Issue 11 item 5: a 222-neuron RNN (30 inputs, 74 hidden, split into two fan-in parts) took the
exact placer's whole time limit (about 14 s of compile) and ended on 4 cores above a counting
bound of 3. Now compaction finds 3 cores, which meets the bound, so the core-count model is
never built. The assertions are on the report, never on wall time.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from placetest_util import modular_problem, paper_graph, problem

import nsc
from nsc.place import Hardware, place
from nsc.place.effort import Effort
from nsc.place.mesh import assign_positions


class _Elman(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, hidden, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@pytest.fixture(scope="module")
def small_rnn_graph() -> nsc.ir.Graph:
    """The graph that reaches the place pass for a 30-input, 74-hidden Elman RNN."""
    torch.manual_seed(1)
    x = np.random.default_rng(1).integers(0, 16, size=(8, 5, 30)).astype(np.float64)
    compiled = nsc.compile(_Elman(30, 74), x)
    names = list(compiled.stages)
    report = compiled.placement.report
    # before this change: 4 cores, placement FEASIBLE after the whole time limit
    assert report.neurons == 222 and report.cores <= 4
    return compiled.stages[names[names.index("place") - 1]]


def test_small_rnn_meets_the_bound_without_the_exact_core_model(small_rnn_graph) -> None:
    report = place(small_rnn_graph).report
    assert report.neurons == 222
    assert report.cores == 3 == report.lower_bound  # was 4 cores (bound 3)
    assert report.stages["cores"] == "OPTIMAL" and report.gap == 0
    assert report.decisions["cores"].startswith("skipped: the start meets the lower bound")
    assert report.effort == "normal"


def test_fast_effort_runs_no_cp_sat_and_finds_the_same_cores(small_rnn_graph) -> None:
    report = place(small_rnn_graph, effort="fast").report
    assert report.cores == 3 and report.effort == "fast"
    assert report.stages["cut"] == "HEURISTIC" and report.stages["mesh"] == "HEURISTIC"
    assert report.decisions["cut"].startswith("skipped: effort fast")


def test_small_rnn_placement_is_deterministic(small_rnn_graph) -> None:
    first, second = place(small_rnn_graph), place(small_rnn_graph)
    assert np.array_equal(first.core_of, second.core_of)
    assert np.array_equal(first.positions, second.positions)
    assert first.report.decisions == second.report.decisions


def test_exact_core_model_runs_and_stops_at_its_proof() -> None:
    # 3 groups x 4 neurons, 150 private host keys per group: counting bound 2, optimum 3
    needs = [[(12 + g * 150 + k) * 4 for k in range(150)] for g in range(3) for _ in range(4)]
    report = place(problem(12, 12 + 450, needs)).report
    assert report.cores == 3 and report.lower_bound == 3
    assert report.decisions["cores"] == "ran: OPTIMAL"


def test_normal_effort_skips_models_too_large_to_pay_off_and_max_runs_them() -> None:
    p = modular_problem(4)  # 160 neurons, 4 modules of 40: cut model over 8,000 terms
    normal = place(p, time_limit=0.5).report
    assert "effort='max' runs it" in normal.decisions["cut"]
    assert normal.stages["cut"] == "HEURISTIC"
    full = place(p, time_limit=0.5, effort="max").report
    assert full.decisions["cut"].startswith("ran:")
    assert full.cores <= normal.cores


def test_positions_are_an_array_of_mesh_coordinates() -> None:
    placement = place(modular_problem(3), Hardware((1, 2)))
    positions = placement.positions
    assert positions.dtype == np.int32 and positions.shape == (placement.n_cores, 2)
    assert placement.core_of.dtype == np.int32
    assert len({tuple(p) for p in positions.tolist()}) == placement.n_cores
    assert positions.min() >= 0 and positions[:, 0].max() < 128 and positions[:, 1].max() < 64


@pytest.mark.parametrize("effort", ["fast", "normal", "max", "0.5", 2, 0])
def test_effort_values(effort: str | float) -> None:
    level = Effort.parse(effort)
    assert level.scale >= 0
    assert place(paper_graph(), effort=effort).report.cores == 1


@pytest.mark.parametrize("effort", ["slow", -1, float("nan"), True])
def test_bad_effort_is_refused(effort: object) -> None:
    with pytest.raises(ValueError, match="effort"):
        place(paper_graph(), effort=effort)  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [-1.0, float("nan"), float("inf")])
def test_bad_time_limit_is_refused(limit: float) -> None:
    with pytest.raises(ValueError, match="time_limit"):
        place(paper_graph(), time_limit=limit)


def _layout_cost(positions: np.ndarray, pairs: np.ndarray) -> int:
    return int(np.abs(positions[pairs[:, 0]] - positions[pairs[:, 1]]).sum())


def test_mesh_local_search_without_cp_sat_is_locally_optimal() -> None:
    # a ring of 6 cores with equal rates; without CP-SAT the layout is the curve order improved
    # until no single move to a free cell of the 6 x 6 box and no swap lowers the cost
    ring = np.array([[c, (c + 1) % 6] for c in range(6)])
    positions, status = assign_positions(6, ring, np.ones(6), Hardware(), time_limit=0, seed=0)
    assert status == "HEURISTIC"
    assert len({tuple(p) for p in positions.tolist()}) == 6
    cost = _layout_cost(positions, ring)
    assert cost == 6  # the optimum, a 2 x 3 loop (the curve start alone ended at 8)
    taken = {tuple(p) for p in positions.tolist()}
    for c in range(6):
        for x in range(6):
            for y in range(6):
                if (x, y) in taken:
                    continue
                moved = positions.copy()
                moved[c] = (x, y)
                assert _layout_cost(moved, ring) >= cost
        for d in range(c + 1, 6):
            swapped = positions.copy()
            swapped[[c, d]] = swapped[[d, c]]
            assert _layout_cost(swapped, ring) >= cost
