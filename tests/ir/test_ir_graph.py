"""Graph container: structural equality (same_as), copies, lookups."""

from __future__ import annotations

import numpy as np
from irtest_util import host_graph, pop

from nsc.ir import Graph, Input, Linear, Output, ReLU, Span, SpikeCount, Synapses


def build(weight: float = 0.5, bias: np.ndarray | None = None) -> Graph:
    g = Graph("net", attrs={"window": 15, "readout": "last"})
    g.add(Input("x", features=2))
    g.add(Linear("lin", source="x", weight=np.full((3, 2), weight), bias=bias))
    g.add(ReLU("r", source="lin"))
    g.add(Output("o", source="r"))
    return g


def test_same_as_identical_builds() -> None:
    assert build().same_as(build())
    assert build(bias=np.arange(3.0)).same_as(build(bias=np.arange(3.0)))


def test_same_as_is_reflexive_and_symmetric_on_differences() -> None:
    a, b = build(), build(weight=0.25)
    assert a.same_as(a)
    assert not a.same_as(b)
    assert not b.same_as(a)


def test_same_as_detects_attrs_name_and_order() -> None:
    base = build()
    other = build()
    other.attrs["window"] = 7
    assert not base.same_as(other)
    renamed = build()
    renamed.name = "other"
    assert not base.same_as(renamed)
    reordered = Graph("net", attrs=dict(base.attrs))
    for name in ("x", "lin", "o", "r"):
        reordered.nodes[name] = base.nodes[name]
    assert not base.same_as(reordered)
    fewer = build()
    del fewer.nodes["o"]
    assert not base.same_as(fewer)


def test_same_as_detects_optional_array_and_values() -> None:
    assert not build(bias=None).same_as(build(bias=np.zeros(3)))
    assert not build(bias=np.zeros(3)).same_as(build(bias=np.array([0.0, 0.0, 1e-300])))


def test_same_as_detects_dtype_and_shape() -> None:
    a, b = build(), build()
    b.nodes["lin"].weight = a.nodes["lin"].weight.astype(np.float32)
    assert not a.same_as(b)
    c = build()
    c.nodes["lin"].weight = np.full((2, 3), 0.5)
    assert not a.same_as(c)


def test_same_as_nan_equal_and_ignores_span() -> None:
    a, b = build(), build()
    for g in (a, b):
        g.nodes["lin"].weight[0, 0] = np.nan
    b.nodes["lin"].span = Span("f.nsir", 3, 1)
    assert a.same_as(b)


def test_same_as_detects_node_type_and_scalar_attribute() -> None:
    a = host_graph(window=4)
    a.add(pop("p", 2))
    a.add(SpikeCount("c", source="p", offset=0))
    b = host_graph(window=4)
    b.add(pop("p", 2))
    b.add(SpikeCount("c", source="p", offset=4))
    assert not a.same_as(b)
    c = host_graph(window=4)
    c.add(pop("p", 2, leak=[0, 1]))
    c.add(SpikeCount("c", source="p", offset=0))
    assert not a.same_as(c)
    d = host_graph(window=4)
    d.add(pop("p", 2))
    d.add(ReLU("c", source="p"))
    assert not a.same_as(d)


def test_copy_is_shallow_and_independent() -> None:
    g = build()
    h = g.copy()
    assert h.same_as(g)
    h.nodes["r"] = ReLU("r", source="x")
    h.attrs["window"] = 3
    assert g["r"].source == "lin"
    assert g.attrs["window"] == 15


def test_users_fresh_name_and_queries() -> None:
    g = host_graph(window=4, features=1)
    g.add(pop("p", 1))
    g.add(Synapses("s", source="x", target="p", weight=[[1]], delay=[0]))
    g.add(Synapses("rec", source="p", target="p", weight=[[1]], delay=[4]))
    assert [n.name for n in g.users("p")] == ["s", "rec"]
    assert [n.name for n in g.users("x")] == ["s"]
    assert g.fresh_name("q") == "q"
    assert g.fresh_name("p") == "p_1"
    g.add(pop("p_1", 1))
    assert g.fresh_name("p") == "p_2"
    assert "p" in g and "nope" not in g
    assert len(g) == 5
    assert [n.name for n in g] == ["x", "p", "s", "rec", "p_1"]
    assert g.window == 4
    assert Graph().window == 15
    assert g.cores() == []
    assert g["rec"].operands() == ["p", "p"]
