"""NIR's non-spiking nodes on nsc: ``Threshold`` alone (a memoryless Heaviside, built as neurons
whose potential returns to 0 after every tick) and ``I`` / ``LI`` used as membrane readouts (the
last layer of snnTorch/Norse/Sinabs classifiers, computed on the host from the spikes per step of
the layer before). Each is checked against the numpy simulation of NIR's equations
(tests/nir/nirtest_reference.py), on the cores (nsc.verify), through export and re-import, and
each refusal names the node."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from nirtest_reference import simulate

import nsc
from nsc.ir import Neurons
from nsc.ir.interpret import interpret
from nsc.nir import from_nir, import_nir, to_nir
from nsc.ops.membrane import Membrane
from nsc_runtime import format as corelet_format


def _in(n: int) -> nir.Input:
    return nir.Input(input_type={"input": np.array([n])})


def _out(n: int) -> nir.Output:
    return nir.Output(output_type={"output": np.array([n])})


def _if(n: int, thr: float) -> nir.IF:
    return nir.IF(r=np.ones(n), v_threshold=np.full(n, thr), v_reset=np.zeros(n))


def _spikes(rng: np.random.Generator, batch: int, steps: int, n: int, p: float = 0.5):
    return (rng.random((batch, steps, n)) < p).astype(np.int64)


def _ints(rng: np.random.Generator, shape: tuple[int, ...], lo: int = -3, hi: int = 4):
    return rng.integers(lo, hi, shape).astype(float)


def _spiking_check(g: nir.NIRGraph, x: np.ndarray) -> tuple[nsc.ir.Graph, object]:
    """Exact import: interpreter == NIR reference for every output, cores == interpreter."""
    graph, report = import_nir(g)
    assert report.exact, report.summary()
    ref = simulate(g, x)
    got = interpret(graph, x)
    for name, y in ref.items():
        assert y.any() and not y.all(), "no or only spikes: a vacuous check"
        assert np.array_equal(got[report.names[name]], y.astype(np.int64)), name
    assert nsc.verify(nsc.compile(graph), x).agreement == 1.0
    return graph, report


# -- Threshold alone ------------------------------------------------------------------------


def test_threshold_alone_is_a_memoryless_heaviside_on_the_cores():
    """Two Threshold layers with biases of both signs and fractional thresholds: the first
    (lag 0) keeps its positive bias as a leak, the second (lag 1) would fire during its lag
    tick with a positive leak, so a clock delivers it; negative ones stay leaks."""
    rng = np.random.default_rng(30)
    g = nir.NIRGraph.from_list(
        _in(5),
        nir.Affine(weight=_ints(rng, (6, 5)), bias=np.array([0.0, 1, -1, 2, 0, 1])),
        nir.Threshold(threshold=np.array([0.0, 1, -1, 2, 0.5, -0.5])),
        nir.Affine(weight=_ints(rng, (4, 6)), bias=np.array([1.0, 0, 2, -1])),
        nir.Threshold(threshold=np.array([0.0, 1, 0.5, -1])),
        _out(4),
    )
    graph, report = _spiking_check(g, _spikes(rng, 4, 40, 5))
    first = graph.neurons(report.names["threshold"])
    assert first.alpha.tolist() == [1] * 6 and first.beta.tolist() == [0] * 6
    assert first.reset_mode.tolist() == [0] * 6 and first.kappa.tolist() == [1] * 6
    # leak = k*(bias - threshold) with scale 2 (the 0.5 and -0.5 thresholds)
    assert first.leak.tolist() == [0, 0, 0, 0, -1, 3]
    assert "clock1" in graph and any("clock" in n for n in report.nodes["threshold_1"].notes)


def test_threshold_on_spikes_of_an_if_layer_and_in_a_two_population_cycle():
    """IF -> Threshold -> (back to IF): a cycle through two populations runs 2 ticks per step;
    the memoryless neurons stay exact there (V is 0 between their phase ticks)."""
    rng = np.random.default_rng(31)
    nodes = {
        "in": _in(3),
        "f": nir.Affine(weight=_ints(rng, (5, 3), -1, 4), bias=np.array([1.0, 0, -1, 0, 1])),
        "a": _if(5, 2.0),
        "ab": nir.Affine(weight=_ints(rng, (4, 5)), bias=np.array([1.0, -1, 2, 0])),
        "b": nir.Threshold(threshold=np.array([0.0, 0.5, 1.0, -1.0])),
        "ba": nir.Linear(weight=_ints(rng, (5, 4), -2, 3)),
        "out": _out(4),
    }
    edges = [("in", "f"), ("f", "a"), ("a", "ab"), ("ab", "b"), ("b", "ba"), ("ba", "a")]
    g = nir.NIRGraph(nodes=nodes, edges=[*edges, ("b", "out")])
    _, report = _spiking_check(g, _spikes(rng, 4, 30, 3))
    assert report.window == 2 and report.lags == {"a": 0, "b": 1}


def test_threshold_whose_weights_do_not_fit_is_reported_approximate():
    rng = np.random.default_rng(32)
    w = rng.normal(size=(4, 6))  # no common unit on 16 levels
    g = nir.NIRGraph.from_list(
        _in(6), nir.Linear(weight=w), nir.Threshold(threshold=np.full(4, 0.3)), _out(4)
    )
    graph, report = import_nir(g)
    assert not report.exact and report.nodes["threshold"].status == "approximate"
    assert 0 < report.max_weight_error <= 1 / 14 + 1e-9
    with pytest.warns(UserWarning, match="APPROXIMATE"):
        from_nir(g)
    x = _spikes(rng, 3, 20, 6)
    assert nsc.verify(nsc.compile(graph), x).agreement == 1.0


# -- I and LI as membrane readouts ----------------------------------------------------------


def _classifier(rng: np.random.Generator, readout: nir.NIRNode, delay: int = 0) -> nir.NIRGraph:
    """Input -> Linear -> IF -> IF -> [Delay] -> Affine -> readout -> Output."""
    nodes: list = [
        _in(5),
        nir.Linear(weight=_ints(rng, (8, 5), -2, 5)),
        _if(8, 2.0),
        nir.Linear(weight=_ints(rng, (6, 8), -2, 4)),
        _if(6, 1.0),
    ]
    if delay:
        nodes.append(nir.Delay(delay=np.full(6, delay * 1e-4)))
    nodes += [nir.Affine(weight=_ints(rng, (3, 6)), bias=np.array([0.5, -1.0, 0.0])), readout]
    return nir.NIRGraph.from_list(*nodes, _out(3))


def _readout_check(g: nir.NIRGraph, x: np.ndarray, *, bit_exact: bool) -> np.ndarray:
    graph, report = import_nir(g)
    assert report.exact, report.summary()
    ((name, ref),) = simulate(g, x).items()
    got = interpret(graph, x)[report.names[name]]
    assert np.ptp(ref) > 1, "a constant readout: a vacuous check"
    if bit_exact:
        assert np.array_equal(got, ref)
    else:  # float64 on both sides, summed in another order
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
        assert np.array_equal(got.argmax(-1), ref.argmax(-1))
    compiled = nsc.compile(graph)
    assert nsc.verify(compiled, x).agreement == 1.0
    assert np.array_equal(compiled.run(x), got)  # the Cython runtime's spikes give the same
    return graph


def test_i_readout_is_the_running_sum_of_the_spikes_before_it_bit_exact():
    rng = np.random.default_rng(33)
    g = _classifier(rng, nir.I(r=np.array([2.0, 1.0, 0.5])))
    graph = _readout_check(g, _spikes(rng, 4, 40, 5), bit_exact=True)
    (m,) = graph.of_type(Membrane)
    assert m.decay.tolist() == [1.0, 1.0, 1.0] and m.delay == 0
    assert graph[m.source].offset == 1  # the spike count of the lag-1 layer, read 1 tick late


def test_li_readout_decays_exactly_on_the_host():
    rng = np.random.default_rng(34)
    li = nir.LI(tau=np.array([5e-4, 2e-4, 1e-3]), r=np.array([5.0, 2.0, 10.0]), v_leak=np.ones(3))
    g = _classifier(rng, li)
    graph, report = import_nir(g)
    (m,) = graph.of_type(Membrane)
    np.testing.assert_allclose(m.decay, [0.8, 0.5, 0.9])
    assert any("applied exactly on the host" in n for n in report.nodes["li"].notes)
    _readout_check(g, _spikes(rng, 4, 40, 5), bit_exact=False)


def test_readout_behind_a_delay_and_on_the_input_directly():
    rng = np.random.default_rng(35)
    g = _classifier(rng, nir.I(r=np.ones(3)), delay=2)
    graph = _readout_check(g, _spikes(rng, 3, 30, 5), bit_exact=True)
    assert graph.of_type(Membrane)[0].delay == 2
    # a second output: an LI reading the input spikes themselves
    nodes = {
        "in": _in(4),
        "w": nir.Linear(weight=_ints(rng, (3, 4), 0, 4)),
        "h": _if(3, 1.0),
        "hout": _out(3),
        "r": nir.Linear(weight=_ints(rng, (2, 4))),
        "li": nir.LI(tau=np.full(2, 4e-4), r=np.full(2, 4.0), v_leak=np.zeros(2)),
        "rout": _out(2),
    }
    edges = [("in", "w"), ("w", "h"), ("h", "hout"), ("in", "r"), ("r", "li"), ("li", "rout")]
    g2 = nir.NIRGraph(nodes=nodes, edges=edges)
    graph2, report2 = import_nir(g2)
    x = _spikes(rng, 3, 25, 4)
    ref, got = simulate(g2, x), interpret(graph2, x)
    assert graph2[graph2.of_type(Membrane)[0].source].op == "input"
    np.testing.assert_allclose(got[report2.names["rout"]], ref["rout"], rtol=1e-12, atol=1e-12)
    assert np.array_equal(got[report2.names["hout"]], ref["hout"].astype(np.int64))


def test_readout_errors_name_the_node():
    rng = np.random.default_rng(36)
    li = nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))
    only_readout = nir.NIRGraph.from_list(_in(2), nir.Linear(weight=np.eye(2)), li, _out(2))
    with pytest.raises(nsc.FrontendError, match="at least one neuron population"):
        from_nir(only_readout)
    feeds_a_layer = nir.NIRGraph.from_list(
        _in(2), nir.Linear(weight=np.eye(2)), nir.I(r=np.ones(2)),
        nir.Linear(weight=np.eye(2)), _if(2, 1.0), _out(2),
    )  # fmt: skip
    with pytest.raises(nsc.FrontendError, match=r"'i' \(I\) is a membrane readout .* 'linear_1'"):
        from_nir(feeds_a_layer)
    nodes = {
        "in": _in(3),
        "wa": nir.Linear(weight=_ints(rng, (2, 3))),
        "a": _if(2, 1.0),
        "wb": nir.Linear(weight=_ints(rng, (2, 3))),
        "b": _if(2, 1.0),
        "ra": nir.Linear(weight=np.eye(2)),
        "rb": nir.Linear(weight=np.eye(2)),
        "i": nir.I(r=np.ones(2)),
        "out": _out(2),
    }
    edges = [("in", "wa"), ("wa", "a"), ("in", "wb"), ("wb", "b"), ("a", "ra"), ("b", "rb")]
    two_sources = nir.NIRGraph(nodes=nodes, edges=[*edges, ("ra", "i"), ("rb", "i"), ("i", "out")])
    with pytest.raises(nsc.FrontendError, match=r"'i' .* one population .* reads 'a' delayed 0"):
        from_nir(two_sources)
    both = nir.NIRGraph(
        nodes={
            "in": _in(2),
            "w": nir.Linear(weight=np.eye(2)),
            "i": nir.I(r=np.ones(2)),
            "thr": nir.Threshold(threshold=np.ones(2)),
            "o1": _out(2),
            "o2": _out(2),
        },
        edges=[("in", "w"), ("w", "i"), ("i", "thr"), ("thr", "o1"), ("i", "o2")],
    )
    with pytest.raises(nsc.FrontendError, match="'i' \\(I\\) feeds its Threshold 'thr' and"):
        from_nir(both)


# -- export -----------------------------------------------------------------------------------


def test_readout_and_threshold_export_round_trip(tmp_path):
    """nsc -> NIR (Threshold nodes, [Delay] Affine + I/LI readouts) -> nsc: the identical graph
    and corelet; without nsc's metadata the NIR reading computes the same outputs."""
    rng = np.random.default_rng(37)
    li = nir.LI(tau=np.full(3, 5e-4), r=np.full(3, 5.0), v_leak=np.zeros(3))
    g = nir.NIRGraph.from_list(
        _in(5),
        nir.Affine(weight=_ints(rng, (6, 5)), bias=np.array([0.0, 1, -1, 2, 0, 1])),
        nir.Threshold(threshold=np.array([0.0, 1, -1, 2, 0.5, -0.5])),
        nir.Delay(delay=np.full(6, 1e-4)),
        nir.Affine(weight=_ints(rng, (3, 6)), bias=np.array([1.0, 0.0, -0.5])),
        li,
        _out(3),
    )
    graph, _ = import_nir(g)
    exported = to_nir(graph)
    kinds = {type(n).__name__ for n in exported.nodes.values()}
    assert {"Threshold", "LI", "Affine", "Delay"} <= kinds and "IF" not in kinds
    path = tmp_path / "net.nir"
    nir.write(path, exported)
    back = from_nir(path)
    assert back.same_as(graph)
    blob = corelet_format.dumps(nsc.compile(graph).corelet)
    assert corelet_format.dumps(nsc.compile(back).corelet) == blob
    stripped = nir.read(path)
    stripped.metadata = {}
    for node in stripped.nodes.values():
        node.metadata = {}
    again, report = import_nir(stripped)
    x = _spikes(rng, 3, 30, 5)
    ours = interpret(graph, x)
    (name,) = [k for k, v in stripped.nodes.items() if isinstance(v, nir.Output)]
    np.testing.assert_allclose(
        interpret(again, x)[report.names[name]], next(iter(ours.values())), rtol=1e-12
    )
    pops = again.of_type(Neurons)
    assert any(np.all(p.beta == 0) for p in pops)  # the Threshold read back as memoryless


def test_imported_readout_prints_as_the_membrane_golden():
    """tests/ops/golden/membrane.nsir is what a small LI classifier imports as (the text
    goldens' coverage of every op reads it); parsed back, it computes the same readout."""
    from pathlib import Path

    from nsc.text import parse_ir, print_ir

    g = nir.NIRGraph.from_list(
        _in(2),
        nir.Linear(weight=np.array([[1.0, 2.0], [-1.0, 1.0]])),
        _if(2, 1.0),
        nir.Affine(weight=np.array([[1.0, -1.0]]), bias=np.array([0.5])),
        nir.LI(tau=np.array([5e-4]), r=np.array([5.0]), v_leak=np.zeros(1)),
        _out(1),
    )
    graph, _ = import_nir(g)
    golden = Path(__file__).parents[1] / "ops" / "golden" / "membrane.nsir"
    text = golden.read_text(encoding="utf-8")
    assert print_ir(graph) == text
    x = _spikes(np.random.default_rng(38), 2, 12, 2)
    ref = simulate(g, x)["output"]
    np.testing.assert_allclose(interpret(parse_ir(text), x)["output"], ref, rtol=1e-12)
