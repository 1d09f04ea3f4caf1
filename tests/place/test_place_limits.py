"""Sizes that do not fit (issue 15 item 6): work and memory follow the network, not the
declared hardware, and a network too large for the hardware is explained before placement."""

from __future__ import annotations

import numpy as np
import pytest
from placetest_util import full_edge, paper_graph, population, problem

import nsc.place.api as place_api
from nsc.errors import DoesNotFitError, NscError, PassError
from nsc.ir import Graph, Input, SpikeCount
from nsc.place import Hardware, place
from nsc.place.hardware import MAX_CHIPS_SIDE, HardwareError
from nsc.place.mesh import curve_positions
from nsc.place.pack import PackState
from nsc.place.usage import evaluate


def test_one_core_network_on_a_million_chips() -> None:
    # used to lay out every core of every chip: 4.3e9 positions
    hardware = Hardware((1024, 1024))
    placement = place(paper_graph(), hardware)
    assert placement.positions.tolist() == [[0, 0]]
    assert placement.report.hardware_cores == 1024 * 1024 * 4096
    assert placement.report.chips == "1024x1024"


def test_curve_lays_out_only_the_needed_chips_in_serpentine_order() -> None:
    big = curve_positions(Hardware((1024, 1024)), 2 * 4096 + 1)
    assert big.shape == (2 * 4096 + 1, 2) and big.dtype == np.int32
    assert big[4096 - 1].tolist()[1] < 64 and big[4096:8192, 0].min() == 64  # chip (0, 1)
    assert big[8192].tolist() == [128, 0]  # chip row 0, column 2: chips go row by row
    small = Hardware((2, 2))
    full = curve_positions(small)
    assert full.shape == (4 * 4096, 2)
    assert np.array_equal(full[: 3 * 4096], curve_positions(small, 3 * 4096))
    chips = full // 64
    order = chips[::4096].tolist()
    assert order == [[0, 0], [1, 0], [1, 1], [0, 1]]  # (x, y) of the chips: row 1 reversed
    assert len({tuple(p) for p in full.tolist()}) == full.shape[0]


def test_too_many_chips_is_a_clear_error() -> None:
    with pytest.raises(HardwareError, match="at most 65,536 rows") as err:
        Hardware((MAX_CHIPS_SIDE + 1, 1))
    assert isinstance(err.value, NscError) and isinstance(err.value, ValueError)
    Hardware((MAX_CHIPS_SIDE, MAX_CHIPS_SIDE))  # the largest accepted grid


def _huge_population(count: int) -> Graph:
    g = Graph("huge")
    g.add(Input("x", features=4, levels=16))
    g.add(population("h", count))
    g.add(full_edge("in", "x", "h", 4, count, 0))
    g.add(SpikeCount("count", source="h"))
    return g


def test_too_big_is_explained_before_the_problem_is_built(monkeypatch) -> None:
    # 1.1 million neurons need at least 4,297 cores; one chip holds 4,096
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("placement work started")

    monkeypatch.setattr(place_api, "extract_problem", forbidden)
    monkeypatch.setattr(place_api, "partition", forbidden)
    with pytest.raises(DoesNotFitError) as err:
        place(_huge_population(1_100_000), Hardware((1, 1)))
    message = str(err.value)
    assert "needs at least 4,297 cores" in message and "hold 4,096" in message
    assert "%h: 1,100,000 neurons" in message and "--chips 1x2" in message


def test_graph_bound_lets_a_fitting_network_through() -> None:
    placement = place(_huge_population(300), Hardware((1, 1)))
    assert placement.report.cores == 2 and placement.report.lower_bound == 2


def test_fanin_is_explained_from_the_graph() -> None:
    g = Graph("wide")
    g.add(Input("x", features=70, levels=16))
    g.add(population("h", 2))
    g.add(full_edge("in", "x", "h", 70, 2, 0))
    with pytest.raises(DoesNotFitError, match=r"%h\[0\] listens to 70 sources .* max=64"):
        place(g)


def test_compaction_work_counts_every_key_core_pair() -> None:
    # neuron 0 needs host keys 10*4 and 11*4; key 10*4 is heard on cores 0-3, key 11*4 on
    # cores 0-1: candidates() looks at 2 keys and 4 + 2 (key, core) pairs
    p = problem(4, 12, [[40, 44], [40, 44], [40], [40]])
    core_of = np.array([0, 1, 2, 3])
    state = PackState(p, core_of, evaluate(p, core_of, 4))
    assert state.candidates(0, exclude=0) == [1, 2, 3]
    assert state.work == 2 + 4 + 2


def test_a_graph_without_neurons_is_refused() -> None:
    # `nsc place` on a network-level file used to print "placed 0 neurons on 0 cores"
    g = Graph("net")
    g.add(Input("x", features=4, levels=16))
    with pytest.raises(PassError, match="has no neurons nodes"):
        place(g)
