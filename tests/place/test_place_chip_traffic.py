"""Inter-chip traffic in the placement report: spikes per tick on routes between chips, and
its expected value for a random placement on the same cores."""

from __future__ import annotations

import numpy as np

from nsc.place import Hardware, PlacementProblem, place
from nsc.place.usage import chip_traffic, evaluate, random_chip_traffic


def _problem(listens: list[list[int]], n_sources: int, rates: list[float] | None = None):
    ptr = np.cumsum([0] + [len(k) for k in listens])
    keys = np.asarray([k for row in listens for k in sorted(row)], np.int64)
    return PlacementProblem(
        len(listens), ptr, keys, n_sources, None if rates is None else np.asarray(rates)
    )


def test_chip_traffic_counts_routes_between_chips_at_their_rates() -> None:
    # neuron 0 drives neuron 1 (type 0, same chip) and neuron 2 (type 1, next chip)
    problem = _problem([[], [0 * 4 + 0], [0 * 4 + 1]], 3, rates=[2.5, 1.0, 1.0])
    core_of = np.array([0, 1, 2])
    usage = evaluate(problem, core_of, 3)
    positions = np.array([[0, 0], [1, 0], [64, 0]])
    assert chip_traffic(problem, core_of, usage, positions) == 2.5
    one_chip = np.array([[0, 0], [1, 0], [2, 0]])
    assert chip_traffic(problem, core_of, usage, one_chip) == 0.0
    assert random_chip_traffic(problem, usage, one_chip) == 0.0


def test_random_chip_traffic_matches_shuffled_placements() -> None:
    """The closed form against the mean over random shuffles of the neurons over the same
    cores (4 cores, 2 chips; each neuron drives one other neuron, so keys have one listener)."""
    rng = np.random.default_rng(0)
    n = 400
    target = rng.permutation(n)
    listens = [[] for _ in range(n)]
    for s, t in enumerate(target):
        if s != t:
            listens[t].append(s * 4)
    problem = _problem(listens, n)
    core_of = np.repeat(np.arange(4), n // 4)
    usage = evaluate(problem, core_of, 4)
    positions = np.array([[0, 0], [1, 0], [64, 0], [65, 0]])
    expected = random_chip_traffic(problem, usage, positions)
    samples = []
    for _ in range(300):
        shuffled = rng.permutation(core_of)
        samples.append(chip_traffic(problem, shuffled, evaluate(problem, shuffled, 4), positions))
    assert abs(np.mean(samples) - expected) < 0.03 * expected


def test_report_chip_traffic_is_zero_when_the_cores_fill_one_chip() -> None:
    """80 groups of 64 neurons that listen to their own group: 20 cores on a 1x2 system, all
    laid out on its first chip, so no route crosses chips (placed or random)."""
    groups, size = 80, 64
    listens = []
    for g in range(groups):
        members = list(range(g * size, (g + 1) * size))
        listens += [[m * 4 for m in members if m != i] for i in members]
    problem = _problem(listens, groups * size)
    report = place(problem, Hardware(chips=(1, 2)), time_limit=1.0, effort="fast").report
    assert report.chips == "1x2"
    assert report.chip_traffic == 0.0
    assert report.random_chip_traffic == 0.0
    assert "between chips" not in report.summary()
