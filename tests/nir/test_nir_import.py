"""NIR -> nsc import: each supported node type, recurrence, the documented approximations and
the errors. Exact constructions must reproduce a numpy simulation of NIR's equations
(tests/nir/nir_reference.py) spike for spike, and compile to cores that nsc.verify accepts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from nirtest_reference import simulate

import nsc
from nsc.ir.interpret import interpret
from nsc.nir import from_nir, import_nir

nir = pytest.importorskip("nir")


def _in(n: int) -> nir.Input:
    return nir.Input(input_type={"input": np.array([n])})


def _out(n: int) -> nir.Output:
    return nir.Output(output_type={"output": np.array([n])})


def _if(n: int, thr: float, reset: float = 0.0) -> nir.IF:
    return nir.IF(r=np.ones(n), v_threshold=np.full(n, thr), v_reset=np.full(n, reset))


def _lif_beta1(n: int, thr: float) -> nir.LIF:
    """What snnTorch's exporter writes for Leaky(beta=1): tau = r = inf."""
    with np.errstate(divide="ignore"):
        tau = np.full(n, 1e-4) / (1 - np.ones(n))
    return nir.LIF(
        tau=tau, r=tau / 1e-4, v_leak=np.zeros(n), v_threshold=np.full(n, thr), v_reset=np.zeros(n)
    )


def _spikes(rng: np.random.Generator, batch: int, steps: int, n: int, p: float = 0.4):
    return (rng.random((batch, steps, n)) < p).astype(np.int64)


def _check_exact(g, x, *, reset: str = "nir", compile_it: bool = True) -> dict:
    """Import ``g``; the interpreter must equal the NIR reference tick for tick and the compiled
    cores must agree with the interpreter; returns the reference outputs."""
    graph, report = import_nir(g, reset=reset)
    assert report.exact, report.summary()
    assert graph.attrs["window"] == report.window and graph.attrs["level"] == "scheduled"
    ref = simulate(g, x, reset=reset)
    assert any(y.any() and not y.all() for y in ref.values()), "no spikes: a vacuous check"
    got = interpret(graph, x)
    for name, y in ref.items():
        assert np.array_equal(got[report.names[name]], y.astype(np.int64)), name
    if compile_it:
        compiled = nsc.compile(graph)
        assert nsc.verify(compiled, x).agreement == 1.0
    return ref


def test_linear_if_feedforward_exact_and_verified():
    rng = np.random.default_rng(0)
    w1 = rng.integers(-4, 6, (7, 5)).astype(float)
    w2 = rng.integers(-4, 6, (3, 7)).astype(float)
    g = nir.NIRGraph.from_list(
        _in(5),
        nir.Linear(weight=w1),
        _if(7, 3.0),
        nir.Affine(weight=w2, bias=np.array([-1.0, 1.0, 2.0])),
        _if(3, 2.0, reset=-1.0),
        _out(3),
    )
    graph, report = import_nir(g)
    # the deeper layer runs one tick before its step 0 and leaks then too: v0 compensates
    assert graph.neurons(report.names["if_1"]).v0.tolist() == [1, -1, -2]
    _check_exact(g, _spikes(rng, 4, 30, 5))


def test_affine_bias_becomes_leak_and_fractional_weights_scale_exactly():
    rng = np.random.default_rng(1)
    w = rng.integers(-3, 4, (6, 4)) * 0.25
    g = nir.NIRGraph.from_list(
        _in(4), nir.Affine(weight=w, bias=np.full(6, 0.125)), _if(6, 0.75), _out(6)
    )
    graph, report = import_nir(g)
    assert report.exact
    pop = graph.neurons(report.names["if"])
    assert set(pop.leak.tolist()) == {1} and set(pop.alpha.tolist()) == {7}  # scale 8
    _check_exact(g, _spikes(rng, 3, 40, 4))


def test_negative_bias_deep_in_the_pipeline_uses_a_clock_neuron():
    """A lag-2 layer with bias -2 and threshold 0: starting it 4 higher to pre-pay the two
    lag ticks would fire it; a clock neuron delivers the bias from step 0 on instead."""
    rng = np.random.default_rng(12)
    g = nir.NIRGraph.from_list(
        _in(4),
        nir.Linear(weight=rng.integers(0, 4, (5, 4)).astype(float)),
        _if(5, 1.0),
        nir.Linear(weight=rng.integers(0, 4, (4, 5)).astype(float)),
        _if(4, 1.0),
        nir.Affine(weight=rng.integers(0, 4, (3, 4)).astype(float), bias=np.full(3, -2.0)),
        _if(3, 0.0),
        _out(3),
    )
    graph, report = import_nir(g)
    assert any("clock neuron" in n for n in report.nodes["if_2"].notes)
    assert "clock2" in graph and graph.neurons("if_2").leak.tolist() == [0, 0, 0]
    _check_exact(g, _spikes(rng, 4, 30, 4, p=0.6))


def test_lif_with_infinite_tau_is_if_exact():
    rng = np.random.default_rng(2)
    w = rng.integers(-2, 5, (5, 6)).astype(float)
    g = nir.NIRGraph.from_list(_in(6), nir.Linear(weight=w), _lif_beta1(5, 2.0), _out(5))
    _, report = import_nir(g)
    assert any("gain taken as 1" in n for n in report.nodes["lif"].notes)
    _check_exact(g, _spikes(rng, 3, 30, 6))


def test_scale_flatten_delay_fold_into_synapses():
    rng = np.random.default_rng(3)
    w = rng.integers(-2, 4, (4, 5)).astype(float)
    nodes = {
        "in": _in(5),
        "scale": nir.Scale(scale=np.array([1.0, 2.0, 1.0, 3.0, 1.0])),
        "flat": nir.Flatten(input_type={"input": np.array([5])}, start_dim=0),
        "fc": nir.Linear(weight=w),
        "delay": nir.Delay(delay=np.full(4, 3e-4)),
        "if": _if(4, 2.0),
        "out": _out(4),
    }
    edges = [
        ("in", "scale"),
        ("scale", "flat"),
        ("flat", "fc"),
        ("fc", "delay"),
        ("delay", "if"),
        ("if", "out"),
    ]
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    graph, _ = import_nir(g)
    syn = [n for n in graph if isinstance(n, nsc.ir.Synapses)]
    assert len(syn) == 1 and set(syn[0].delay.tolist()) == {3}
    _check_exact(g, _spikes(rng, 3, 25, 5))


def test_per_element_delays_on_either_side_of_the_weights():
    """Delays per source (before the Linear) and per target (after it) both become synapse
    delays; a source used at several delays gets relays."""
    rng = np.random.default_rng(13)
    nodes = {
        "in": _in(4),
        "d_src": nir.Delay(delay=np.array([0.0, 1e-4, 3e-4, 1e-4])),
        "fa": nir.Linear(weight=rng.integers(-1, 4, (5, 4)).astype(float)),
        "l1": _if(5, 1.0),
        "fb": nir.Linear(weight=rng.integers(-1, 4, (3, 5)).astype(float)),
        "d_tgt": nir.Delay(delay=np.array([0.0, 2e-4, 4e-4])),
        "l2": _if(3, 1.0),
        "out": _out(3),
    }
    edges = [
        ("in", "d_src"),
        ("d_src", "fa"),
        ("fa", "l1"),
        ("l1", "fb"),
        ("fb", "d_tgt"),
        ("d_tgt", "l2"),
        ("l2", "out"),
    ]
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    graph, _ = import_nir(g)
    host = {int(d) for s in graph.of_type(nsc.ir.Synapses) if s.source == "in" for d in s.delay}
    assert host == {0, 1, 3}
    assert any(n.startswith("l1_relay") for n in graph.nodes)
    _check_exact(g, _spikes(rng, 3, 30, 4, p=0.6))


def test_self_recurrent_population_exact_and_verified():
    """snnTorch's RLeaky convention: input -> lif, lif -> w_rec -> lif (one step around)."""
    rng = np.random.default_rng(4)
    w_in = rng.integers(-2, 5, (8, 4)).astype(float)
    w_rec = rng.integers(-3, 3, (8, 8)).astype(float)
    w_out = rng.integers(-2, 4, (3, 8)).astype(float)
    nodes = {
        "in": _in(4),
        "fc": nir.Affine(weight=w_in, bias=np.ones(8)),
        "lif": _lif_beta1(8, 3.0),
        "rec": nir.Linear(weight=w_rec),
        "fc2": nir.Linear(weight=w_out),
        "if2": _if(3, 1.0),
        "out": _out(3),
    }
    edges = [
        ("in", "fc"),
        ("fc", "lif"),
        ("lif", "rec"),
        ("rec", "lif"),
        ("lif", "fc2"),
        ("fc2", "if2"),
        ("if2", "out"),
    ]
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    graph, report = import_nir(g)
    rec = [n for n in graph if isinstance(n, nsc.ir.Synapses) and n.source == n.target]
    assert len(rec) == 1 and set(rec[0].delay.tolist()) == {1}
    assert report.lags == {"lif": 0, "if2": 1}
    _check_exact(g, _spikes(rng, 4, 40, 4))


def test_recurrent_subgraph_is_inlined():
    """The shape snnTorch's exporter gives RLeaky: a nested NIRGraph with Input/Output."""
    rng = np.random.default_rng(5)
    sub = nir.NIRGraph(
        nodes={
            "input": _in(5),
            "lif": _lif_beta1(5, 2.0),
            "w_rec": nir.Linear(weight=rng.integers(-2, 3, (5, 5)).astype(float)),
            "output": _out(5),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    g = nir.NIRGraph(
        nodes={
            "in": _in(3),
            "fc": nir.Linear(weight=rng.integers(-1, 4, (5, 3)).astype(float)),
            "rlif": sub,
            "out": _out(5),
        },
        edges=[("in", "fc"), ("fc", "rlif"), ("rlif", "out")],
    )
    graph, report = import_nir(g)
    assert report.exact and "rlif.lif" in report.names
    x = _spikes(rng, 3, 30, 3)
    flat = nir.NIRGraph(
        nodes={
            "in": _in(3),
            "fc": g.nodes["fc"],
            "lif": sub.nodes["lif"],
            "w_rec": sub.nodes["w_rec"],
            "out": _out(5),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "out")],
    )
    ref = simulate(flat, x)["out"]
    assert np.array_equal(interpret(graph, x)[report.names["out"]], ref.astype(np.int64))
    assert nsc.verify(nsc.compile(graph), x).agreement == 1.0


def test_integrator_with_threshold_spikes_without_reset():
    rng = np.random.default_rng(6)
    w = rng.integers(-2, 4, (4, 3)).astype(float)
    g = nir.NIRGraph.from_list(
        _in(3),
        nir.Linear(weight=w),
        nir.I(r=np.ones(4)),
        nir.Threshold(threshold=np.full(4, 4.0)),
        _out(4),
    )
    graph, report = import_nir(g)
    assert set(graph.neurons(report.names["i"]).reset_mode.tolist()) == {2}
    _check_exact(g, _spikes(rng, 3, 30, 3))


def test_skip_connections_get_aligned_delays():
    rng = np.random.default_rng(7)
    w = {
        k: rng.integers(-2, 5, s).astype(float)
        for k, s in {"a": (6, 4), "b": (5, 6), "c": (3, 5), "skip": (3, 6), "in3": (3, 4)}.items()
    }
    nodes = {
        "in": _in(4),
        "fa": nir.Linear(weight=w["a"]),
        "l1": _if(6, 2.0),
        "fb": nir.Linear(weight=w["b"]),
        "l2": _if(5, 2.0),
        "fc": nir.Linear(weight=w["c"]),
        "fs": nir.Linear(weight=w["skip"]),
        "fi": nir.Linear(weight=w["in3"]),
        "l3": _if(3, 3.0),
        "out": _out(3),
    }
    edges = [
        ("in", "fa"),
        ("fa", "l1"),
        ("l1", "fb"),
        ("fb", "l2"),
        ("l2", "fc"),
        ("fc", "l3"),
        ("l1", "fs"),
        ("fs", "l3"),
        ("in", "fi"),
        ("fi", "l3"),
        ("l3", "out"),
    ]
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    graph, report = import_nir(g)
    assert report.lags == {"l1": 0, "l2": 1, "l3": 2}
    delays = {(s.source, s.target): set(s.delay.tolist()) for s in graph.of_type(nsc.ir.Synapses)}
    # l1 feeds l2 one tick later and l3 two ticks later: a relay carries the extra tick, so
    # every population has one outgoing delay (the placer keys axons by source and type)
    assert delays[("in", "l3")] == {2}
    assert delays[("l1", "l1_relay1")] == {1} and delays[("l1_relay1", "l3")] == {1}
    _check_exact(g, _spikes(rng, 3, 30, 4))


def test_subtract_reset_option_matches_subtractive_semantics():
    rng = np.random.default_rng(8)
    w = rng.integers(0, 6, (5, 4)).astype(float)
    g = nir.NIRGraph.from_list(_in(4), nir.Linear(weight=w), _if(5, 4.0), _out(5))
    graph, _ = import_nir(g, reset="subtract")
    pop = graph.neurons("if")
    assert set(pop.reset_mode.tolist()) == {1} and set(pop.v0.tolist()) == {-1}
    ref_sub = _check_exact(g, _spikes(rng, 3, 30, 4, p=0.7), reset="subtract")
    ref_nir = simulate(g, _spikes(np.random.default_rng(8), 3, 30, 4, p=0.7))
    assert ref_sub["output"].sum() >= ref_nir["output"].sum()  # subtracting keeps charge


def test_cubalif_with_tau_syn_equal_dt_is_exact():
    rng = np.random.default_rng(9)
    n = 4
    with np.errstate(divide="ignore"):
        tau_mem = np.full(n, 1e-4) / (1 - np.ones(n))
    node = nir.CubaLIF(
        tau_syn=np.full(n, 1e-4),
        tau_mem=tau_mem,
        r=tau_mem / 1e-4,
        v_leak=np.zeros(n),
        v_threshold=np.full(n, 2.0),
        w_in=np.ones(n),
    )
    g = nir.NIRGraph.from_list(
        _in(3), nir.Linear(weight=rng.integers(-1, 4, (n, 3)).astype(float)), node, _out(n)
    )
    _check_exact(g, _spikes(rng, 3, 30, 3))


# -- documented approximations: reported, warned, still verified on the cores -----------------


def _approx_graph(kind: str, rng: np.random.Generator):
    n = 6
    w = rng.normal(0, 1, (n, 5))
    if kind == "float-weights":
        neuron = _if(n, 1.3)
    elif kind == "lif-decay":
        w = np.round(w * 3)
        neuron = nir.LIF(
            tau=np.full(n, 1e-3),
            r=np.full(n, 10.0),
            v_leak=np.zeros(n),
            v_threshold=np.full(n, 3.0),
            v_reset=np.zeros(n),
        )
    else:  # cubalif with a synaptic filter
        w = np.round(w * 3)
        with np.errstate(divide="ignore"):
            tau_mem = np.full(n, 1e-4) / (1 - np.ones(n))
        neuron = nir.CubaLIF(
            tau_syn=np.full(n, 2e-4),
            tau_mem=tau_mem,
            r=tau_mem / 1e-4,
            v_leak=np.zeros(n),
            v_threshold=np.full(n, 3.0),
            w_in=np.full(n, 2.0),
        )
    return nir.NIRGraph.from_list(_in(5), nir.Linear(weight=w), neuron, _out(n))


@pytest.mark.parametrize(
    ("kind", "note"),
    [
        ("float-weights", "16 weight levels"),
        ("lif-decay", "leak reversal"),
        ("cubalif-filter", "total charge"),
    ],
)
def test_approximations_are_reported_and_warned(kind, note):
    rng = np.random.default_rng(10)
    g = _approx_graph(kind, rng)
    graph, report = import_nir(g)
    assert not report.exact
    bad = report.approximations()
    assert len(bad) == 1 and any(note in n for n in bad[0].notes), report.summary()
    if kind == "float-weights":
        assert 0 < report.max_weight_error <= 0.5 / 7 + 1e-9  # half a level of 16
    with pytest.warns(UserWarning, match="APPROXIMATE"):
        from_nir(g)
    x = _spikes(rng, 3, 30, 5)
    assert nsc.verify(nsc.compile(graph), x).agreement == 1.0


def test_exact_import_does_not_warn():
    g = nir.NIRGraph.from_list(_in(2), nir.Linear(weight=np.eye(2)), _if(2, 0.0), _out(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_nir(g)


def test_wide_fanin_warns_about_split_fanin():
    g = nir.NIRGraph.from_list(_in(80), nir.Linear(weight=np.ones((2, 80))), _if(2, 5.0), _out(2))
    _, report = import_nir(g)
    assert report.exact and len(report.warnings) == 1 and "80 inputs" in report.warnings[0]
    with pytest.warns(UserWarning, match="split-fanin"):
        from_nir(g)


# -- files and errors -------------------------------------------------------------------------


def test_from_nir_reads_a_file(tmp_path):
    rng = np.random.default_rng(11)
    g = nir.NIRGraph.from_list(
        _in(3), nir.Linear(weight=rng.integers(-2, 4, (4, 3)).astype(float)), _if(4, 1.0), _out(4)
    )
    path = tmp_path / "net.nir"
    nir.write(path, g)
    assert from_nir(path).same_as(from_nir(g))


def test_unsupported_nodes_are_named():
    conv = nir.Conv2d(
        input_shape=(8, 8),
        weight=np.ones((2, 1, 3, 3)),
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=np.zeros(2),
    )
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([1, 8, 8])}),
            "conv1": conv,
            "out": nir.Output(output_type={"output": None}),
        },
        edges=[("in", "conv1"), ("conv1", "out")],
        type_check=False,
    )
    with pytest.raises(nsc.FrontendError, match="'conv1' is a Conv2d"):
        from_nir(g)
    pool = nir.SumPool2d(
        kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
    )
    g2 = nir.NIRGraph(
        nodes={"in": _in(4), "pool": pool, "out": _out(4)},
        edges=[("in", "pool"), ("pool", "out")],
        type_check=False,
    )
    with pytest.raises(nsc.FrontendError, match="'pool' is a SumPool2d"):
        from_nir(g2)


def _two_population_cycle(rng, bias: bool):
    w = {
        k: rng.integers(-2, 4, shape).astype(float)
        for k, shape in {"f": (5, 3), "ab": (4, 5), "ba": (5, 4)}.items()
    }
    nodes = {
        "in": _in(3),
        "f": nir.Affine(weight=w["f"], bias=np.array([1.0, -1, 0, 1, -2]) if bias else np.zeros(5)),
        "a": _if(5, 2.0),
        "ab": nir.Linear(weight=w["ab"]),
        "b": _if(4, 1.0, reset=-1.0),
        "ba": nir.Affine(
            weight=w["ba"], bias=np.array([0.0, 1, -1, 0, 1]) if bias else np.zeros(5)
        ),
        "out": _out(4),
    }
    edges = [
        ("in", "f"),
        ("f", "a"),
        ("a", "ab"),
        ("ab", "b"),
        ("b", "ba"),
        ("ba", "a"),
        ("b", "out"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("bias", [False, True])
def test_cycle_through_two_populations_runs_two_ticks_per_step(bias):
    """a -> b -> a: the edge closing the cycle (b -> a) carries one step; with one tick per
    feed-forward hop the loop needs 2 ticks per step (window 2); biases come from clocks."""
    rng = np.random.default_rng(14)
    g = _two_population_cycle(rng, bias)
    graph, report = import_nir(g)
    assert report.window == 2 and graph.attrs["window"] == 2 and report.lags == {"a": 0, "b": 1}
    delays = {(s.source, s.target): set(s.delay.tolist()) for s in graph.of_type(nsc.ir.Synapses)}
    assert delays[("a", "b")] == {1} and delays[("b", "a")] == {1}
    assert any(k.startswith("clock") for k in graph.nodes) == bias
    _check_exact(g, _spikes(rng, 4, 30, 3, p=0.5))


def test_cycle_with_subtractive_reset_is_reported_approximate():
    """With 2 ticks per step a neuron left above threshold after subtracting would fire again
    inside the window: the import says so, and the cores still agree with the interpreter."""
    rng = np.random.default_rng(15)
    g = _two_population_cycle(rng, False)
    graph, report = import_nir(g, reset="subtract")
    assert not report.exact and any("fires" in n for n in report.nodes["a"].notes)
    x = _spikes(rng, 3, 20, 3, p=0.5)
    assert nsc.verify(nsc.compile(graph), x).agreement == 1.0


def test_bad_delay_and_bad_options():
    g = nir.NIRGraph.from_list(
        _in(2),
        nir.Delay(delay=np.full(2, 1.5e-4)),
        nir.Linear(weight=np.eye(2)),
        _if(2, 1.0),
        _out(2),
    )
    with pytest.raises(nsc.FrontendError, match="not whole multiples of dt"):
        from_nir(g)
    with pytest.raises(nsc.FrontendError, match="reset must be one of"):
        from_nir(g, reset="zero")
    with pytest.raises(nsc.FrontendError, match="no such NIR file"):
        from_nir("/nonexistent/net.nir")
