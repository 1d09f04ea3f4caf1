"""Exact placement of small problems: proofs, known optima, the copy rule, capacity."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from placetest_util import paper_graph, problem

from nsc.place import Hardware, PlacementProblem, evaluate, lower_bound, place
from nsc.place.mesh import assign_positions
from nsc.place.partition import partition


def test_paper_network_is_one_core_proven_optimal() -> None:
    placement = place(paper_graph(), time_limit=5)
    report = placement.report
    assert report.cores == 1 and report.lower_bound == 1 and report.gap == 0
    assert report.solver_status == "OPTIMAL" and report.method == "exact"
    assert (report.axons_used, report.slots_used, report.copies) == (252, 64, 48)
    assert placement.core_of.tolist() == [0] * 16
    assert placement.positions.tolist() == [[0, 0]]
    assert report.traffic == 0


def test_sharing_groups_optimum_is_proven_above_counting_bound() -> None:
    # 3 groups x 4 neurons; a group shares 150 private host keys. Counting: 450 axons -> 2
    # cores, but no two groups fit on one core (300 > 256): the optimum is 3.
    needs = [[(12 + g * 150 + k) * 4 for k in range(150)] for g in range(3) for _ in range(4)]
    p = problem(12, 12 + 450, needs)
    assert lower_bound(p).cores == 2
    placement = place(p, time_limit=10)
    report = placement.report
    assert report.cores == 3 and report.lower_bound == 3
    assert report.solver_status == "OPTIMAL" and report.stages["cores"] == "OPTIMAL"
    assert report.lower_bound_how.startswith("CP-SAT proof")
    groups = placement.core_of.reshape(3, 4)
    assert all(len(set(row.tolist())) == 1 for row in groups)  # each group shares a core
    assert report.axons_used == 450


def test_colocating_shared_inputs_saves_a_core() -> None:
    # 4 neurons: A and C share 100 keys, B and D share 100 others; each also has 30 private
    # keys. {A, C} + {B, D} needs 2 cores (130 + 30 = 160 axons each); mixing needs more axons
    # but also fits 2 -- unless a core holds 3: 100 + 100 + 90 = 290 > 256. So 2 is optimal.
    shared_ac = list(range(100))
    shared_bd = list(range(100, 200))
    private = [list(range(200 + 30 * i, 230 + 30 * i)) for i in range(4)]
    groups = [shared_ac, shared_bd, shared_ac, shared_bd]
    host0 = 4
    needs = [[(host0 + k) * 4 for k in groups[i] + private[i]] for i in range(4)]
    placement = place(problem(4, host0 + 320, needs), time_limit=10)
    assert placement.report.cores == 2
    core = placement.core_of
    assert core[0] == core[2] and core[1] == core[3] and core[0] != core[1]
    assert placement.report.axons_used == 2 * (100 + 60)


def test_copy_rule_accounting() -> None:
    # neuron 0 is a source. Core 1 holds neurons 1, 2 (types 0, 1 of neuron 0); core 2 holds
    # neuron 3 (types 0, 2): neuron 0 needs 4 routes -> 4 slots (itself + 3 copies).
    needs = [[], [0, 1], [1], [0, 2]]
    p = problem(4, 4, needs)
    usage = evaluate(p, np.array([0, 1, 1, 2]), 3)
    assert usage.source_slots.tolist() == [4, 1, 1, 1]
    assert usage.slots.tolist() == [4, 2, 1]
    assert usage.axons.tolist() == [0, 2, 2]
    # all on one core: the same key set, 3 routes (one per type)
    together = evaluate(p, np.zeros(4, np.int32), 1)
    assert together.source_slots.tolist() == [3, 1, 1, 1]
    assert together.slots.tolist() == [6] and together.axons.tolist() == [3]


def test_host_lines_need_no_copies() -> None:
    p = problem(2, 3, [[8, 9, 10, 11], [8, 9, 10, 11]])  # host line 2, all types
    usage = evaluate(p, np.array([0, 1]), 2)
    assert usage.slots.tolist() == [1, 1] and usage.axons.tolist() == [4, 4]


def test_cut_traffic_keeps_recurrent_group_together() -> None:
    # two recurrent groups of 3 neurons, each group listens to all 4 types of its members and
    # to 50 private host lines (x4 types): 212 axons per group, so a group fills a core.
    needs = []
    for g in range(2):
        members = [g * 3 + j for j in range(3)]
        keys = [s * 4 + t for s in members for t in range(4)]
        keys += [(6 + g * 50 + h) * 4 + t for h in range(50) for t in range(4)]
        needs += [keys] * 3
    placement = place(problem(6, 106, needs), time_limit=10)
    report = placement.report
    assert report.cores == 2 and report.solver_status == "OPTIMAL"
    assert report.cut_traffic == 0 and report.traffic == 0
    core = placement.core_of
    assert len(set(core[:3].tolist())) == 1 and len(set(core[3:].tolist())) == 1


def test_rates_weight_the_traffic() -> None:
    needs = [[], [0], [0]]
    p = problem(3, 3, needs)
    rates = np.array([0.5, 0.0, 0.0])
    placement = place(p, rates=rates, time_limit=5)
    assert placement.report.rates == "given"
    assert placement.report.traffic == 0  # all on one core


def test_mesh_chain_is_laid_out_in_line() -> None:
    # traffic 0-1 and 1-2 only: optimum puts 1 between 0 and 2, cost 2
    pairs = np.array([[0, 1], [1, 2]])
    positions, status = assign_positions(3, pairs, np.ones(2), Hardware(), time_limit=5, seed=0)
    assert status == "OPTIMAL"
    hops = np.abs(positions[[0, 1]] - positions[[1, 2]]).sum()
    assert hops == 2
    assert len({tuple(p) for p in positions.tolist()}) == 3


def test_same_input_same_placement() -> None:
    rng = np.random.default_rng(7)
    needs = [
        sorted(rng.choice(400, size=60, replace=False) * 4 + rng.integers(0, 4)) for _ in range(40)
    ]
    p = problem(40, 440, [[int(k) + 40 * 4 for k in row] for row in needs])
    first, second = place(p, time_limit=2), place(p, time_limit=2)
    assert np.array_equal(first.core_of, second.core_of)
    assert np.array_equal(first.positions, second.positions)
    assert first.report.cores == second.report.cores


@st.composite
def small_problems(draw: st.DrawFn) -> PlacementProblem:
    n = draw(st.integers(1, 40))
    host = draw(st.integers(0, 60))
    fan = draw(st.integers(1, 120))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    sources = n + host
    needs = []
    for _ in range(n):
        k = int(rng.integers(0, min(fan, sources * 4) + 1))
        needs.append(rng.choice(sources * 4, size=k, replace=False).tolist())
    return problem(n, sources, needs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_capacity_never_exceeded(p: PlacementProblem) -> None:
    placement = place(p, time_limit=0.5)
    usage = evaluate(p, placement.core_of, placement.n_cores)
    assert usage.fits
    assert usage.axons.max(initial=0) <= 256 and usage.slots.max(initial=0) <= 256
    assert placement.report.cores >= placement.report.lower_bound >= 1
    assert np.all(usage.neurons > 0)  # no empty core is counted
    positions = {tuple(pos) for pos in placement.positions.tolist()}
    assert len(positions) == placement.n_cores


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_partition_path_never_exceeds_capacity(p: PlacementProblem) -> None:
    core_of, n_cores = partition(p, lower_bound(p), seed=0, compact_seconds=0.05)
    usage = evaluate(p, core_of, n_cores)
    assert usage.fits and n_cores >= lower_bound(p).cores
    assert np.all(usage.neurons > 0) and core_of.size == p.n_neurons
