"""Reference interpreter at core level: a Core graph computes exactly what the equivalent
Neurons + AxonSynapses graph computes (hand-checked ping-pong, plus a property test)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from irtest_util import core, host_graph, pop, raster, ticks_of

from nsc.ir import AxonSynapses, CoreInput, CoreOutput, Graph, Output, SpikeCount
from nsc.ir.interpret import interpret

TW = [1, 2, 4, -8]


def ping_pong_cores() -> Graph:
    """core0 neuron 0 -> core1 axon 0 (delay 2); core1 neuron 0 -> core0 axon 1 (delay 3);
    the host drives core0 axon 0 (type 0, weight 1)."""
    g = host_graph(window=5)
    g.add(
        core(
            "core0",
            axon_types=[0, 1],
            crossbar=[[1], [1]],
            weights=[[1, 1, 0, 0]],
            dest_core=[1],
            dest_axon=[0],
            delay=[2],
        )
    )
    g.add(
        core(
            "core1",
            x=1,
            axon_types=[2],
            crossbar=[[1]],
            weights=[[0, 0, 1, 0]],
            dest_core=[0],
            dest_axon=[1],
            delay=[3],
        )
    )
    g.add(CoreInput("cin", source="x", lines=[[0, 0, 0]], delay=0))
    g.add(CoreOutput("cnt", lines=[[0, 0], [1, 0]], offset=0))
    g.add(Output("o", source="cnt"))
    return g


def ping_pong_neurons() -> Graph:
    g = host_graph(window=5)
    g.add(pop("a", 1, type_weights=[[1, 1, 0, 0]]))
    g.add(pop("b", 1, type_weights=[[0, 0, 1, 0]]))
    edges = [("xa", "x", "a", 0, [0]), ("ab", "a", "b", 2, [2]), ("ba", "b", "a", 1, [3])]
    for name, src, tgt, typ, delay in edges:
        g.add(
            AxonSynapses(
                name,
                source=src,
                target=tgt,
                axon_source=[0],
                axon_type=[typ],
                crossbar=[[1]],
                delay=delay,
            )
        )
    g.add(SpikeCount("ca", source="a"))
    g.add(SpikeCount("cb", source="b"))
    g.add(Output("oa", source="ca"))
    g.add(Output("ob", source="cb"))
    return g


def test_core_ping_pong_hand_computed() -> None:
    # a fires at 0 (host), b at 0+2, a at 2+3, b at 7, a at 10, b at 12; W = 5, 3 steps
    g = ping_pong_cores()
    x = [[[1], [0], [0]]]
    spikes = raster(g, x, "core0")
    assert ticks_of(spikes[0, :, 0]) == [0, 5, 10]
    assert spikes[0, :, 1:].sum() == 0  # idle neurons never fire
    assert ticks_of(raster(g, x, "core1")[0, :, 0]) == [2, 7, 12]
    out = interpret(g, x)["o"][0]
    assert out.tolist() == [[1, 1], [1, 1], [1, 1]]


def test_core_ping_pong_equals_neuron_graph() -> None:
    x = np.array([[[1], [0], [0]], [[3], [0], [2]], [[0], [0], [0]]])
    cores = interpret(ping_pong_cores(), x)["o"]
    neurons = interpret(ping_pong_neurons(), x)
    assert np.array_equal(cores[:, :, 0], neurons["oa"][:, :, 0])
    assert np.array_equal(cores[:, :, 1], neurons["ob"][:, :, 0])


@st.composite
def one_core_network(draw: st.DrawFn) -> dict:
    n_in = draw(st.integers(1, 4))
    n = draw(st.integers(1, 6))
    small = st.integers(0, 3)

    def per_neuron(lo: int, hi: int) -> np.ndarray:
        return draw(arrays(np.int64, n, elements=st.integers(lo, hi)))

    return {
        "n_in": n_in,
        "n": n,
        "window": draw(st.integers(2, 6)),
        "steps": draw(st.integers(1, 3)),
        "host_delay": draw(st.integers(0, 3)),
        "offset": draw(st.integers(0, 4)),
        "types_in": draw(arrays(np.uint8, n_in, elements=small)),
        "types_rec": draw(arrays(np.uint8, n, elements=small)),
        "cb_in": draw(arrays(bool, (n_in, n))),
        "cb_rec": draw(arrays(bool, (n, n))),
        "weights": draw(arrays(np.int32, (n, 4), elements=st.integers(-3, 6))),
        "delays": draw(arrays(np.int32, n, elements=st.integers(1, 15))),
        "params": {
            "alpha": per_neuron(1, 3),
            "leak": per_neuron(-2, 2),
            "beta": per_neuron(0, 4),
            "kappa": per_neuron(0, 1),
            "reset_mode": per_neuron(0, 2),
            "reset": per_neuron(0, 3),
            "v0": per_neuron(-3, 3),
            "leak_reversal": per_neuron(0, 1),
        },
        "seed": draw(st.integers(0, 2**16)),
    }


def build_pair(spec: dict) -> tuple[Graph, Graph]:
    n_in, n = spec["n_in"], spec["n"]
    neurons = host_graph(window=spec["window"], features=n_in)
    neurons.add(pop("p", n, type_weights=spec["weights"], **spec["params"]))
    neurons.add(
        AxonSynapses(
            "in",
            source="x",
            target="p",
            axon_source=np.arange(n_in),
            axon_type=spec["types_in"],
            crossbar=spec["cb_in"].T,
            delay=np.full(n_in, spec["host_delay"]),
        )
    )
    neurons.add(
        AxonSynapses(
            "rec",
            source="p",
            target="p",
            axon_source=np.arange(n),
            axon_type=spec["types_rec"],
            crossbar=spec["cb_rec"].T,
            delay=spec["delays"],
        )
    )
    neurons.add(SpikeCount("count", source="p", offset=spec["offset"]))
    neurons.add(Output("o", source="count"))

    cores = host_graph(window=spec["window"], features=n_in)
    cores.add(
        core(
            "core0",
            axon_types=np.r_[spec["types_in"], spec["types_rec"]],
            crossbar=np.r_[spec["cb_in"], spec["cb_rec"]],
            weights=spec["weights"],
            dest_core=np.zeros(n),
            dest_axon=n_in + np.arange(n),
            delay=spec["delays"],
            **spec["params"],
        )
    )
    lines = [[i, 0, i] for i in range(n_in)]
    cores.add(CoreInput("cin", source="x", lines=lines, delay=spec["host_delay"]))
    cores.add(CoreOutput("count", lines=[[0, j] for j in range(n)], offset=spec["offset"]))
    cores.add(Output("o", source="count"))
    neurons.verify()
    cores.verify()
    return neurons, cores


@settings(max_examples=60, deadline=None)
@given(one_core_network())
def test_core_equals_neurons_and_axon_synapses(spec: dict) -> None:
    neurons, cores = build_pair(spec)
    rng = np.random.default_rng(spec["seed"])
    x = rng.integers(0, spec["window"] + 1, size=(2, spec["steps"], spec["n_in"]))
    assert np.array_equal(interpret(neurons, x)["o"], interpret(cores, x)["o"])
    n = spec["n"]
    assert np.array_equal(raster(neurons, x, "p"), raster(cores, x, "core0")[:, :, :n])
