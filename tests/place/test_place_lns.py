"""CP-SAT large-neighbourhood refinement of the partition path (nsc/place/lns.py)."""

from __future__ import annotations

import numpy as np
import pytest
from placetest_util import modular_problem, problem

from nsc.place import PlacementProblem, evaluate, lower_bound, place
from nsc.place.lns import refine
from nsc.place.partition import partition
from nsc.place.usage import core_pairs

GROUP = 24


def _cut(p: PlacementProblem, core_of: np.ndarray, n_cores: int) -> float:
    return float(core_pairs(p, core_of, evaluate(p, core_of, n_cores))[1].sum())


def _three_groups() -> tuple[PlacementProblem, np.ndarray]:
    """Cliques A (0-23), B (24-47), C (48-71) of 96 keys each: each neuron listens to all 4
    types of every neuron of its group; C also listens to type 0 of A. The three do not fit
    one core (288 axons). A start that splits A and B half and half over cores 0 and 1 (C on
    core 2) fits (192 axons, 204 slots) but is poor: 3 cores and 216 cut routes. Two cores
    suffice: A + B (192 axons, 216 slots) and C, 24 cut routes (A's type 0 to C), or A + C and
    B with none."""
    a, b, c = (list(range(g * GROUP, (g + 1) * GROUP)) for g in range(3))

    def clique(group: list[int]) -> list[int]:
        return [s * 4 + t for s in group for t in range(4)]

    needs = [clique(a)] * GROUP + [clique(b)] * GROUP
    needs += [clique(c) + [s * 4 for s in a]] * GROUP
    half = [0] * (GROUP // 2) + [1] * (GROUP // 2)
    start = np.array(half + half + [2] * GROUP, np.int32)
    return problem(3 * GROUP, 3 * GROUP, needs), start


def test_lns_fixes_a_bad_split_of_two_cliques() -> None:
    p, start = _three_groups()
    assert evaluate(p, start, 3).fits
    before = _cut(p, start, 3)
    result = refine(p, start, 3, seconds=2.5, seed=0)
    assert evaluate(p, result.core_of, result.n_cores).fits
    assert result.cores_before == 3 and result.n_cores == 2 and result.moves >= 1
    assert result.cut_before == pytest.approx(before)
    assert result.cut_after == pytest.approx(_cut(p, result.core_of, result.n_cores))
    assert before == 216.0 and result.cut_after <= 24.0
    groups = result.core_of.reshape(3, GROUP)
    assert all(len(set(g.tolist())) == 1 for g in groups)  # every clique on one core


def test_lns_is_deterministic_and_never_worse() -> None:
    p = modular_problem(modules=16, size=40, seed=1)
    core_of, n_cores = partition(p, lower_bound(p), seed=0, compact_seconds=0.5)
    runs = [refine(p, core_of, n_cores, seconds=1.0, seed=0, max_rounds=4) for _ in range(2)]
    assert np.array_equal(runs[0].core_of, runs[1].core_of)
    assert runs[0].moves == runs[1].moves and runs[0].rounds == runs[1].rounds
    result = runs[0]
    assert evaluate(p, result.core_of, result.n_cores).fits
    assert result.n_cores <= n_cores
    assert result.cut_after <= result.cut_before + 1e-9
    assert result.cut_before == pytest.approx(_cut(p, core_of, n_cores))


def test_lns_respects_copies_owed_outside_the_neighbourhood() -> None:
    """Every accepted move is recounted exactly: on the three-group problem with rates that
    favour other moves, capacity still holds everywhere and nothing gets worse."""
    p, start = _three_groups()
    rates = np.linspace(0.1, 2.0, p.n_sources)
    p = PlacementProblem(p.n_neurons, p.ptr, p.keys, p.n_sources, rates)
    before = _cut(p, start, 3)
    result = refine(p, start, 3, seconds=1.5, seed=3)
    usage = evaluate(p, result.core_of, result.n_cores)
    assert usage.fits and result.n_cores <= 3
    assert result.cut_after <= before + 1e-9


def test_place_reports_lns_on_the_partition_path() -> None:
    p = modular_problem(modules=15, size=40)  # 600 neurons: partition path
    placement = place(p, time_limit=1)
    report = placement.report
    assert report.method == "partition" and report.stages["lns"] == "HEURISTIC"
    lns = report.lns
    assert lns["cores_before"] >= report.cores and lns["cut_after"] <= lns["cut_before"]
    assert lns["cut_after"] == pytest.approx(report.cut_traffic)
    assert evaluate(p, placement.core_of, placement.n_cores).fits
    assert "lns" in report.to_dict()
