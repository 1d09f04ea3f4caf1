"""replicate-fanout and lower-to-cores with hand placements over 1..4 cores.

replicate-fanout post: every neuron drives at most one (axon type, core, delay); the integer
function is unchanged. lower-to-cores post: only cores + host nodes remain, and the core-level
graph computes exactly what the neuron-level graph computed. Capacity overflows raise
DoesNotFitError.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from passtest_util import (
    INTEGER,
    activities,
    destinations,
    fits,
    neurons_per_core,
    place,
    rnn_network,
    run,
    same_nodes,
)

from nsc.errors import DoesNotFitError, PassError
from nsc.ir import (
    AxonSynapses,
    Core,
    CoreInput,
    CoreOutput,
    ElmanRNN,
    Graph,
    Input,
    Linear,
    Neurons,
    Output,
    QLinear,
    SpikeCount,
    Synapses,
)
from nsc.ir.interpret import interpret, run_trace
from nsc_runtime import hw


def check_replicated(g: Graph) -> None:
    for (pop, i), keys in destinations(g).items():
        assert len(keys) <= 1, f"%{pop}[{i}] drives {sorted(keys)}"


def check_lowered(lowered: Graph, placed: Graph) -> None:
    assert not lowered.of_type(Neurons)
    assert not lowered.of_type(Synapses) and not lowered.of_type(AxonSynapses)
    assert not lowered.of_type(SpikeCount)
    cores = lowered.of_type(Core)
    load = neurons_per_core(placed)
    assert len(cores) == max(load) + 1
    assert [c.name for c in cores] == [f"core{k}" for k in range(len(cores))]
    for c in placed.of_type(SpikeCount):
        out = lowered[c.name]
        assert isinstance(out, CoreOutput) and out.offset == c.offset
        assert out.lines.shape == (placed[c.source].size(placed), 2)
    lowered.verify()


def equal_outputs(a: Graph, b: Graph, x: np.ndarray) -> None:
    oa, ob = interpret(a, x), interpret(b, x)
    assert oa.keys() == ob.keys()
    for name in oa:
        assert np.array_equal(oa[name], ob[name]), name


@st.composite
def placed_rnns(draw: st.DrawFn) -> tuple[Graph, Graph, np.ndarray]:
    n_in = draw(st.integers(1, 20))
    hidden = draw(st.integers(1, 40))
    steps = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    n_cores = draw(st.integers(1, 4))
    readout = draw(st.sampled_from([0, 3]))
    net = rnn_network(n_in, hidden, seed, readout=readout)
    integer = run(net, INTEGER, activities((8, steps, n_in), seed))
    cores = draw(arrays(np.int32, hidden, elements=st.integers(0, n_cores - 1)))
    placed = place(integer, {"rnn": cores})
    x = activities((2, steps, n_in), seed + 1)
    return integer, placed, x


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(placed_rnns())
def test_replicate_and_lower_are_exact(case: tuple[Graph, Graph, np.ndarray]) -> None:
    integer, placed, x = case
    replicated = run(placed, "replicate-fanout")
    assume(fits(replicated))
    check_replicated(replicated)
    # copies sit on their original's core, with the original's parameters
    for fan in replicated.of_type(Neurons):
        if fan.name != "rnn":
            assert fan.name.startswith("rnn_fan")
            assert set(fan.core.tolist()) <= set(placed["rnn"].core.tolist())
    lowered = run(replicated, "lower-to-cores")
    check_lowered(lowered, replicated)
    equal_outputs(integer, replicated, x)
    equal_outputs(integer, lowered, x)


def test_lowering_a_fixed_network_is_exact_and_spikes() -> None:
    """Guard against a vacuous property: this network spikes, over 3 cores, and matches."""
    net = rnn_network(12, 30, seed=7, pre=10, readout=4)
    x = activities((3, 5, 12), 7)
    integer = run(net, INTEGER, activities((16, 5, 12), 8))
    cores = {"pre": np.arange(10) % 2, "rnn": (np.arange(30) % 3)}
    placed = place(integer, cores)
    lowered = run(placed, "replicate-fanout,lower-to-cores")
    check_lowered(lowered, run(placed, "replicate-fanout"))
    trace = run_trace(integer, x)
    assert trace.values["rnn_count"].sum() > 0
    equal_outputs(integer, lowered, x)


def test_lowering_a_split_network_is_exact() -> None:
    net = rnn_network(20, 16, seed=3, pre=12)
    calib = activities((8, 4, 20), 3)
    integer = run(net, INTEGER.replace("max=64", "max=10"), calib)
    assert any("_part" in p.name for p in integer.of_type(Neurons))
    rng = np.random.default_rng(0)
    cores = {p.name: rng.integers(0, 3, p.count) for p in integer.of_type(Neurons)}
    placed = place(integer, cores)
    lowered = run(placed, "replicate-fanout,lower-to-cores")
    equal_outputs(integer, lowered, activities((2, 4, 20), 4))


def test_lowering_with_a_gap_in_core_numbers() -> None:
    net = rnn_network(3, 6, seed=1, readout=2)
    integer = run(net, INTEGER, activities((4, 3, 3), 1))
    placed = place(integer, {"rnn": [0, 2, 0, 2, 2, 0]})
    lowered = run(placed, "replicate-fanout,lower-to-cores")
    cores = lowered.of_type(Core)
    assert len(cores) == 3
    assert not cores[1].crossbar.any() and (cores[1].dest_core == -1).all()
    equal_outputs(integer, lowered, activities((2, 3, 3), 2))


def test_host_nodes_are_kept_and_wired() -> None:
    net = rnn_network(3, 4, seed=2, readout=2)
    integer = run(net, INTEGER, activities((4, 3, 3), 2))
    lowered = run(place(integer, 0), "replicate-fanout,lower-to-cores")
    names = [n.name for n in lowered]
    assert names[0] == "core0"
    (inp,) = lowered.of_type(Input)
    (cin,) = lowered.of_type(CoreInput)
    assert cin.source == inp.name and cin.delay == 0
    assert names.index(cin.name) == names.index(inp.name) + 1
    assert set(cin.lines[:, 0].tolist()) <= {0, 1, 2}
    assert (cin.lines[:, 1] == 0).all()
    (head,) = lowered.of_type(QLinear)
    assert isinstance(lowered[head.source], CoreOutput)
    assert {k: v for k, v in lowered.attrs.items() if k not in ("level", "pipeline")} == {
        k: v for k, v in integer.attrs.items() if k not in ("level", "pipeline")
    }
    assert lowered.level == "core"


def identity_chain(n: int, n_in: int | None = None, weight: int = 1) -> Graph:
    """host -> a -> b with identity-like weights, all ReLU-like threshold 1."""
    n_in = n if n_in is None else n_in
    g = Graph("chain", attrs={"window": 4})
    g.add(Input("x", features=n_in, levels=16))
    for name in "ab":
        g.add(Neurons.relu(name, alpha=np.ones(n), leak=np.zeros(n)))
    w_in = np.zeros((n, n_in), int)
    for j in range(n):
        w_in[j, j % n_in] = weight
    g.add(Synapses("xa", source="x", target="a", weight=w_in, delay=np.zeros(n_in)))
    g.add(Synapses("ab", source="a", target="b", weight=np.eye(n, dtype=int), delay=np.full(n, 4)))
    g.add(SpikeCount("cb", source="b", offset=4))
    g.add(Output("o", source="cb"))
    return run(g, "encode-weights")


def test_replicate_is_a_no_op_with_single_destinations() -> None:
    g = place(identity_chain(5), 0)
    assert same_nodes(run(g, "replicate-fanout"), g)


def test_replicate_copies_for_types_and_cores() -> None:
    """b[0] (core 0) has weights (3, 0): unit 3, so a[0] reaches it on type 0; b[1] (core 1)
    has (3, 1): unit 1, a[0] reaches it on types 0 and 1. a[0] has 3 destinations -> 2 copies;
    a[1] reaches b[1] and b[2] on type 0 of core 1 only -> no copy."""
    g = Graph("fan", attrs={"window": 4})
    g.add(Input("x", features=1, levels=16))
    g.add(Neurons.relu("a", alpha=[1, 1], leak=[0, 0]))
    g.add(Neurons.relu("b", alpha=[1, 1, 1], leak=[0, 0, 0]))
    g.add(Synapses("xa", source="x", target="a", weight=[[1], [1]], delay=[0]))
    g.add(Synapses("ab", source="a", target="b", weight=[[3, 0], [3, 1], [0, 1]], delay=[4, 4]))
    g.add(SpikeCount("cb", source="b", offset=4))
    g.add(Output("o", source="cb"))
    placed = place(run(g, "encode-weights"), {"a": [0, 0], "b": [0, 1, 1]})
    assert destinations(placed)[("a", 0)] == {(0, 0, 4), (0, 1, 4), (1, 1, 4)}
    assert destinations(placed)[("a", 1)] == {(0, 1, 4)}
    r = run(placed, "replicate-fanout")
    check_replicated(r)
    fan = r["a_fan"]
    assert isinstance(fan, Neurons) and fan.count == 2 and fan.core.tolist() == [0, 0]
    x = activities((2, 3, 1), 0, levels=5)
    equal_outputs(g, r, x)
    equal_outputs(g, run(r, "lower-to-cores"), x)


def test_lowering_needs_replication_when_a_neuron_has_two_destinations() -> None:
    g = place(identity_chain(2), {"a": [0, 0], "b": [0, 1]})
    g = g.copy()
    g.nodes["ab"] = g["ab"].replace(crossbar=np.ones_like(g["ab"].crossbar))  # type: ignore[attr-defined]
    with pytest.raises(PassError, match=r"needs two destinations.*run replicate-fanout first"):
        run(g, "lower-to-cores")


def test_lowering_rejects_unencoded_synapses() -> None:
    g = rnn_network(3, 2, seed=0)
    q = place(run(g, "quantize,insert-delays", activities((2, 2, 3), 0)), 0)
    with pytest.raises(PassError, match="needs encoded synapses: run encode-weights first"):
        run(q, "lower-to-cores")


def test_exactly_256_neurons_fit_and_257_do_not() -> None:
    ok = place(identity_chain(128), 0)  # a and b: 256 neurons
    lowered = run(ok, "lower-to-cores")
    assert len(lowered.of_type(Core)) == 1
    big = place(identity_chain(129), 0)
    with pytest.raises(DoesNotFitError) as info:
        run(big, "lower-to-cores")
    msg = str(info.value)
    assert "core 0 would hold more than 256 neurons" in msg and "%b[" in msg


def test_257_neurons_over_two_cores_fit() -> None:
    g = identity_chain(129)
    placed = place(g, {"a": 0, "b": 1})
    lowered = run(placed, "replicate-fanout,lower-to-cores")
    equal_outputs(g, lowered, activities((1, 2, 129), 0, levels=5))


def host_fan(features: int) -> Graph:
    """features host lines of weight -1 (q = -1: all 4 type bits) into one neuron."""
    g = Graph("axons", attrs={"window": 4})
    g.add(Input("x", features=features, levels=16))
    g.add(Neurons.relu("n", alpha=[1], leak=[0]))
    g.add(
        Synapses(
            "s",
            source="x",
            target="n",
            weight=-np.ones((1, features), int),
            delay=np.zeros(features),
        )
    )
    return place(run(g, "encode-weights"), 0)


def test_exactly_256_axons_fit_and_260_do_not() -> None:
    lowered = run(host_fan(64), "lower-to-cores")
    (core,) = lowered.of_type(Core)
    assert core.crossbar[:, 0].sum() == hw.AXONS_PER_CORE
    with pytest.raises(DoesNotFitError) as info:
        run(host_fan(65), "lower-to-cores")
    msg = str(info.value)
    assert "core 0 needs more than 256 axons" in msg and "%s" in msg and "split-fanin" in msg


def test_neuron_axons_overflow_a_core() -> None:
    """260 source neurons (on cores 1 and 2) with weights 1, 2, 1, 2... (one axon type each,
    unit 1) into one neuron on core 0: 260 axons on core 0."""
    n = 260
    g = Graph("axons", attrs={"window": 4})
    g.add(Input("x", features=1, levels=16))
    g.add(Neurons.relu("a", alpha=np.ones(n), leak=np.zeros(n)))
    g.add(Neurons.relu("b", alpha=[1], leak=[0]))
    g.add(Synapses("xa", source="x", target="a", weight=np.ones((n, 1), int), delay=[0]))
    w = np.where(np.arange(n) % 2, 2, 1)[None, :]
    g.add(Synapses("ab", source="a", target="b", weight=w, delay=np.full(n, 4)))
    placed = place(run(g, "encode-weights"), {"a": 1 + np.arange(n) % 2, "b": 0})
    replicated = run(placed, "replicate-fanout")
    assert same_nodes(replicated, placed)  # one destination each: nothing to copy
    with pytest.raises(DoesNotFitError, match=r"core 0 needs more than 256 axons.*%ab"):
        run(replicated, "lower-to-cores")


def test_lowering_an_integer_parameter_graph_is_exact() -> None:
    """The params frontend's graph (host projection QLinear -> recurrent population with delay
    = window -> host readout) lowers exactly; the QLinear becomes a CoreInput source."""
    from nsc.frontend.params import from_params

    rng = np.random.default_rng(0)
    params = {
        "proj_w": rng.integers(-3, 4, (6, 5)),
        "proj_b": rng.integers(0, 5, 6),
        "proj_div": 2,
        "w_in": rng.integers(-8, 8, (7, 6)),
        "w_rec": rng.integers(-8, 8, (7, 7)),
        "alpha": rng.integers(2, 9, 7),
        "leak": rng.integers(-1, 2, 7),
        "readout_w": rng.integers(-5, 6, (3, 7)),
        "readout_b": rng.integers(-5, 6, 3),
        "window": 15,
        "levels": 16,
    }
    g = from_params(params)
    g.verify()
    encoded = run(g, "encode-weights")
    placed = place(encoded, {"h": rng.integers(0, 2, 7)})
    lowered = run(placed, "replicate-fanout,lower-to-cores")
    (cin,) = lowered.of_type(CoreInput)
    assert cin.source == "proj"
    x = rng.integers(0, 6, (3, 4, 5))
    assert run_trace(g, x).values["h_count"].sum() > 0
    equal_outputs(g, lowered, x)


def stacked_rnn(seed: int) -> Graph:
    """input 6 -> rnn 10 -> rnn 8 -> linear 3 (torch default initialisation, seeded)."""
    torch.manual_seed(seed)
    r1, r2 = torch.nn.RNN(6, 10, nonlinearity="relu"), torch.nn.RNN(10, 8, nonlinearity="relu")
    head = torch.nn.Linear(8, 3)
    g = Graph("stacked", attrs={"readout": "last"})
    g.add(Input("x", features=6))
    for name, src, rnn in (("r1", "x", r1), ("r2", "r1", r2)):
        g.add(
            ElmanRNN(
                name,
                source=src,
                w_ih=rnn.weight_ih_l0.detach().double().numpy(),
                w_hh=rnn.weight_hh_l0.detach().double().numpy(),
                bias=(rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().double().numpy(),
            )
        )
    g.add(
        Linear(
            "head",
            source="r2",
            weight=head.weight.detach().double().numpy(),
            bias=head.bias.detach().double().numpy(),
        )
    )
    g.add(Output("out", source="head"))
    return g


def test_stacked_rnn_lowers_exactly() -> None:
    integer = run(stacked_rnn(4), INTEGER, activities((8, 5, 6), 4))
    assert [p.name for p in integer.of_type(Neurons)] == ["r1", "r2"]
    (count,) = integer.of_type(SpikeCount)
    assert count.source == "r2" and count.offset == integer.window  # one hop after r1
    placed = place(integer, {"r1": np.arange(10) % 2, "r2": 1 + np.arange(8) % 2})
    lowered = run(placed, "replicate-fanout,lower-to-cores")
    assert len(lowered.of_type(Core)) == 3
    x = activities((3, 5, 6), 5)
    assert run_trace(integer, x).values[count.name].sum() > 0
    equal_outputs(integer, lowered, x)
