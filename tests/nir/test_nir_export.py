"""nsc -> NIR export: readable by nir.read after nir.write, nsc -> NIR -> nsc gives the identical
graph and the identical corelet, and the NIR reading of the exported nodes (metadata stripped)
computes the same spikes where the core neuron is an NIR IF."""

from __future__ import annotations

import numpy as np
import pytest
from nirtest_reference import simulate

import nsc
from nsc.ir import Graph, Input, Neurons, Output, QLinear, SpikeCount, Synapses
from nsc.ir.interpret import interpret
from nsc.nir import from_nir, import_nir, to_nir, write_nir
from nsc_runtime import format as corelet_format

nir = pytest.importorskip("nir")


def _network(seed: int) -> Graph:
    """A neuron-level nsc graph: two populations, a self-recurrence, a leak, window 1."""
    rng = np.random.default_rng(seed)
    g = Graph(attrs={"window": 1, "level": "scheduled"})
    g.add(Input("x", features=5, levels=2))
    g.add(Neurons.relu("h", alpha=np.full(8, 3), leak=np.zeros(8)))
    h = g.neurons("h")
    g.nodes["h"] = h.replace(
        reset_mode=np.zeros(8),
        kappa=np.ones(8),
        beta=np.full(8, 1000),
        leak=rng.integers(-1, 2, 8),
    )
    g.add(Neurons.relu("y", alpha=np.full(3, 2), leak=np.zeros(3)))
    g.nodes["y"] = g.neurons("y").replace(reset_mode=np.zeros(3), beta=np.full(3, 1000))
    g.add(
        Synapses(
            "x_h", source="x", target="h", weight=rng.integers(-3, 5, (8, 5)), delay=np.zeros(5)
        )
    )
    g.add(
        Synapses(
            "h_h", source="h", target="h", weight=rng.integers(-2, 3, (8, 8)), delay=np.ones(8)
        )
    )
    g.add(
        Synapses(
            "h_y", source="h", target="y", weight=rng.integers(-2, 4, (3, 8)), delay=np.ones(8)
        )
    )
    g.add(SpikeCount("y_count", source="y", offset=1))
    g.add(Output("out", source="y_count"))
    g.verify()
    return g


def test_write_read_roundtrip_gives_identical_graph_and_corelet(tmp_path):
    g = _network(0)
    path = tmp_path / "net.nir"
    write_nir(g, path)
    back_graph = nir.read(path)
    assert isinstance(back_graph, nir.NIRGraph)
    assert {type(n).__name__ for n in back_graph.nodes.values()} >= {"Input", "IF", "Output"}
    again = from_nir(path)
    assert again.same_as(g)
    a, b = nsc.compile(g), nsc.compile(again)
    assert corelet_format.dumps(a.corelet) == corelet_format.dumps(b.corelet)


def test_nir_reading_of_the_export_matches_nsc():
    """Without the nsc metadata, the exported nodes (IF, Linear/Affine carrying the leak) mean
    the same network under NIR's equations and under nsc's import."""
    g = _network(1)
    exported = to_nir(g)
    assert int(exported.metadata["nsc_nir_exact"]) == 1
    for node in exported.nodes.values():
        node.metadata = {}
    exported.metadata = {}
    x = (np.random.default_rng(1).random((3, 30, 5)) < 0.5).astype(np.int64)
    want = interpret(g, x)["out"]
    assert want.any() and not want.all()
    ref = simulate(exported, x)["out"]
    assert np.array_equal(ref.astype(np.int64), want)
    reimported, report = import_nir(exported)
    assert report.exact
    assert np.array_equal(interpret(reimported, x)[report.names["out"]], want)


def test_nir_import_export_import_is_stable():
    """NIR -> nsc -> NIR -> nsc: the second import restores the first exactly."""
    rng = np.random.default_rng(2)
    w = rng.integers(-2, 5, (4, 3)).astype(float)
    src = nir.NIRGraph.from_list(
        nir.Input(input_type={"input": np.array([3])}),
        nir.Linear(weight=w),
        nir.IF(r=np.ones(4), v_threshold=np.full(4, 2.0), v_reset=np.zeros(4)),
        nir.Output(output_type={"output": np.array([4])}),
    )
    first = from_nir(src)
    assert from_nir(to_nir(first)).same_as(first)


def test_export_from_compiled_picks_the_neuron_level_stage():
    g = _network(3)
    compiled = nsc.compile(g)
    assert from_nir(to_nir(compiled)).same_as(compiled.stages["split-fanin"])
    assert from_nir(to_nir(compiled, stage="input")).same_as(compiled.stages["input"])
    with pytest.raises(nsc.NscError, match=r"encoded or placed|axon_synapses"):
        to_nir(compiled, stage="encode-weights")


def test_export_refuses_host_layers():
    g = Graph(attrs={"window": 1})
    g.add(Input("x", features=2, levels=2))
    g.add(QLinear("q", source="x", weight=np.eye(2, dtype=np.int32), bias=np.zeros(2)))
    g.add(Output("out", source="q"))
    with pytest.raises(nsc.NscError, match="node %q is a qlinear"):
        to_nir(g)


def test_free_running_clock_exports_readably(tmp_path):
    """A clock population (no input) is anchored to the input for NIR's type inference; the
    file reads back with type checking and restores the identical graph."""
    rng = np.random.default_rng(12)
    layers = [nir.Input(input_type={"input": np.array([4])})]
    for n_in, n_out, bias in ((4, 5, None), (5, 4, None), (4, 3, -2.0)):
        w = rng.integers(0, 4, (n_out, n_in)).astype(float)
        if bias is None:
            layers.append(nir.Linear(weight=w))
        else:
            layers.append(nir.Affine(weight=w, bias=np.full(n_out, bias)))
        layers.append(
            nir.IF(
                r=np.ones(n_out),
                v_threshold=np.full(n_out, 1.0 if bias is None else 0.0),
                v_reset=np.zeros(n_out),
            )
        )
    layers.append(nir.Output(output_type={"output": np.array([3])}))
    graph = from_nir(nir.NIRGraph.from_list(*layers))
    assert "clock2" in graph
    path = tmp_path / "clock.nir"
    write_nir(graph, path)
    assert from_nir(nir.read(path)).same_as(graph)
