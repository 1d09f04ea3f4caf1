"""Extraction of the placement problem from the IR, the lower bound, does-not-fit messages."""

from __future__ import annotations

import numpy as np
import pytest
from placetest_util import full_edge, paper_graph, population, problem

from nsc.errors import DoesNotFitError, PassError
from nsc.ir import Graph, Input, Span, Synapses
from nsc.place import Hardware, extract_problem, lower_bound, place


def test_extract_paper_graph_keys_and_labels() -> None:
    p = extract_problem(paper_graph())
    assert (p.n_neurons, p.n_sources, p.n_host) == (16, 63, 47)
    counts = np.diff(p.ptr)
    assert np.all(counts == (16 + 47) * 4)
    row = p.keys[p.ptr[3] : p.ptr[4]]
    assert row.tolist() == list(range(63 * 4))  # all sources, all 4 types
    assert p.labels is not None
    assert p.labels.neuron(5) == ("h", 5)
    assert p.describe(5) == "%h[5] (defined at paper.nsir:3:1)"
    assert p.describe(16 + 2) == "%x[2]"


def test_lower_bound_counts_copies_and_axons() -> None:
    bound = lower_bound(extract_problem(paper_graph()))
    assert bound.cores == 1
    assert bound.axons == 63 * 4  # every key once
    assert bound.slots == 16 * 4  # each hidden neuron feeds 4 types: itself + 3 copies
    assert "neuron slots" in bound.how and "axons" in bound.how


def test_lower_bound_counts_keys_with_more_than_256_listeners() -> None:
    # 300 neurons all listen to type 0 of host line 0: the key reaches >= 2 cores
    p = problem(300, 301, [[300 * 4]] * 300)
    bound = lower_bound(p)
    assert bound.axons == 2
    assert bound.cores == 2  # 300 neurons need 2 cores anyway


def test_unencoded_synapses_are_refused() -> None:
    g = Graph("g")
    g.add(Input("x", features=2, levels=16))
    g.add(population("h", 2))
    g.add(Synapses("s", source="x", target="h", weight=np.ones((2, 2)), delay=np.zeros(2)))
    with pytest.raises(PassError, match="encode-weights"):
        extract_problem(g)


def test_fanin_too_wide_names_node_numbers_and_fix() -> None:
    g = Graph("g")
    g.add(Input("x", features=70, levels=16))
    h = g.add(population("h", 2))
    h.span = Span("net.nsir", 7, 3)
    g.add(full_edge("in", "x", "h", 70, 2, 0))
    with pytest.raises(DoesNotFitError) as err:
        place(g)
    text = str(err.value)
    assert "%h[0] (defined at net.nsir:7:3)" in text
    assert "70 sources" in text and "280" in text and "256" in text
    assert "split-fanin with max=64" in text
    assert "1 more neuron" in text


def test_too_many_cores_suggests_chips() -> None:
    # every neuron needs 200 private host keys: at least 5,400 * 200 / 256 = 4,219 cores
    n = 5400
    needs = [[(n + i * 200 + j) * 4 for j in range(200)] for i in range(n)]
    p = problem(n, n + 200 * n, needs)
    with pytest.raises(DoesNotFitError) as err:
        place(p, Hardware((1, 1)))
    text = str(err.value)
    assert "needs at least 4,219 cores" in text
    assert "1x1 chip(s) hold 4,096" in text
    assert "--chips 1x2" in text


def test_fanout_too_wide_needs_relays() -> None:
    # 16,641 neurons listen to all 4 types of neuron 0: >= 4 * 66 copies of neuron 0
    n = 16_641
    needs = [[0, 1, 2, 3]] * n
    with pytest.raises(DoesNotFitError) as err:
        place(problem(n, n, needs), Hardware((1, 2)))
    text = str(err.value)
    assert "neuron 0 feeds 66,564 listeners" in text
    assert "264 copies" in text and "relay neurons" in text


def test_listening_twice_to_one_source_and_type_is_refused() -> None:
    g = Graph("g")
    g.add(Input("x", features=1, levels=16))
    g.add(population("h", 1))
    g.add(full_edge("a", "x", "h", 1, 1, 0))
    g.add(full_edge("b", "x", "h", 1, 1, 0))
    with pytest.raises(DoesNotFitError, match=r"two axons of the same source %x\[0\]"):
        extract_problem(g)


def test_one_source_type_with_two_delays_is_refused() -> None:
    g = Graph("g")
    g.add(population("h", 2))
    g.add(population("o", 1))
    g.add(full_edge("rec", "h", "h", 2, 2, 1))
    g.add(full_edge("out", "h", "o", 2, 1, 2))
    with pytest.raises(DoesNotFitError, match="delay 1 via %rec and delay 2 via %out"):
        extract_problem(g)


def test_hardware_parse_and_chip_hop_cost() -> None:
    hw2 = Hardware.parse("1x2")
    assert hw2.n_cores == 8192 and hw2.mesh_shape == (128, 64) and str(hw2) == "1x2"
    inside = hw2.cost(np.array([0, 0]), np.array([63, 0]))
    across = hw2.cost(np.array([63, 0]), np.array([64, 0]))
    assert (int(inside), int(across)) == (63, 10)
    with pytest.raises(ValueError, match="RxC"):
        Hardware.parse("2 by 2")
