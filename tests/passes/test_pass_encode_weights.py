"""encode-weights: integer weights -> 4 axon types + crossbar bits, exactly.

Post: no Synapses left; every target has type_weights ``c * (1, 2, 4, -8)``; each
AxonSynapses' equivalent weight matrix equals the original; the interpreter's outputs are
identical before and after (property test over random weights in [-8, 7])."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from passtest_util import run

from nsc.errors import PassError
from nsc.ir import AxonSynapses, Graph, Input, Neurons, Output, SpikeCount, Synapses
from nsc.ir.interpret import interpret
from nsc_runtime import hw


def population(draw: st.DrawFn, name: str, n: int) -> Neurons:
    def ints(lo: int, hi: int) -> np.ndarray:
        return draw(arrays(np.int64, n, elements=st.integers(lo, hi)))

    return Neurons(
        name,
        count=n,
        alpha=ints(1, 6),
        leak=ints(-3, 3),
        beta=ints(0, 3),
        kappa=ints(0, 1),
        reset_mode=ints(0, 2),
        reset=ints(0, 2),
        v0=ints(-2, 2),
        tm=np.zeros(n),
        leak_reversal=ints(0, 1),
        stoch_leak=np.zeros(n),
        stoch_synapse=np.zeros(n),
    )


@st.composite
def integer_networks(draw: st.DrawFn) -> tuple[Graph, np.ndarray]:
    """host -> a (recurrent) -> b, random weights in [-8, 7] (or scaled by a common unit)."""
    n_in, n_a, n_b = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    window = draw(st.integers(2, 8))
    unit = draw(st.sampled_from([1, 1, 1, 2, 3]))

    def weights(shape: tuple[int, int]) -> np.ndarray:
        return unit * draw(arrays(np.int64, shape, elements=st.integers(-8, 7)))

    g = Graph("enc", attrs={"window": window})
    g.add(Input("x", features=n_in, levels=16))
    g.add(population(draw, "a", n_a))
    g.add(population(draw, "b", n_b))
    g.add(Synapses("xa", source="x", target="a", weight=weights((n_a, n_in)), delay=np.zeros(n_in)))
    if draw(st.booleans()):
        g.add(
            Synapses(
                "aa",
                source="a",
                target="a",
                weight=weights((n_a, n_a)),
                delay=draw(arrays(np.int64, n_a, elements=st.integers(1, 15))),
            )
        )
    g.add(
        Synapses(
            "ab", source="a", target="b", weight=weights((n_b, n_a)), delay=np.full(n_a, window)
        )
    )
    if draw(st.booleans()):  # a second host group into b: one unit per neuron over both groups
        g.add(
            Synapses(
                "xb", source="x", target="b", weight=weights((n_b, n_in)), delay=np.zeros(n_in)
            )
        )
    g.add(SpikeCount("ca", source="a"))
    g.add(SpikeCount("cb", source="b", offset=window))
    g.add(Output("oa", source="ca"))
    g.add(Output("ob", source="cb"))
    g.verify()
    steps = draw(st.integers(1, 3))
    x = draw(arrays(np.int64, (2, steps, n_in), elements=st.integers(0, window)))
    return g, x


@settings(max_examples=60, deadline=None)
@given(integer_networks())
def test_encode_weights_is_exact(case: tuple[Graph, np.ndarray]) -> None:
    g, x = case
    e = run(g, "encode-weights")
    assert not e.of_type(Synapses)
    for s in g.of_type(Synapses):
        node = e[s.name]
        assert isinstance(node, AxonSynapses)
        assert (node.source, node.target) == (s.source, s.target)
        assert np.array_equal(node.delay, s.delay)
        assert np.array_equal(node.weight(e), s.weight), s.name
        # at most one axon per (source, type): at most 4 axons per source
        pairs = list(zip(node.axon_source.tolist(), node.axon_type.tolist()))
        assert len(pairs) == len(set(pairs))
        # no axon is wasted: each one reaches at least one target
        assert node.crossbar.any(axis=0).all()
    for p in e.of_type(Neurons):
        tw = p.type_weights
        assert tw is not None
        unit = tw[:, 0]
        assert (unit >= 1).all()
        assert np.array_equal(tw, unit[:, None] * np.array([1, 2, 4, -8]))
        assert tw.min() >= hw.WEIGHT_MIN and tw.max() <= hw.WEIGHT_MAX
    before, after = interpret(g, x), interpret(e, x)
    for name in before:
        assert np.array_equal(before[name], after[name]), name


def test_encoding_hand_checked() -> None:
    """Weights (3, -5, 0) onto one neuron: unit 1; 3 = 0b0011 -> types 0, 1;
    -5 = 0b1011 (two's complement) -> types 0, 1, 3 (1 + 2 - 8); 0 -> no axon."""
    g = Graph("h", attrs={"window": 4})
    g.add(Input("x", features=3, levels=16))
    g.add(Neurons.relu("n", alpha=[1], leak=[0]))
    g.add(Synapses("s", source="x", target="n", weight=[[3, -5, 0]], delay=[0, 0, 0]))
    e = run(g, "encode-weights")
    s = e["s"]
    assert isinstance(s, AxonSynapses)
    assert e["n"].type_weights.tolist() == [[1, 2, 4, -8]]  # type: ignore[union-attr]
    assert s.axon_source.tolist() == [0, 0, 1, 1, 1]
    assert s.axon_type.tolist() == [0, 1, 0, 1, 3]
    assert s.crossbar.tolist() == [[True] * 5]


def test_common_unit_is_factored_out() -> None:
    """Weights (12, -24, 6) share unit 6: type weights (6, 12, 24, -48), q = (2, -4, 1)."""
    g = Graph("h", attrs={"window": 4})
    g.add(Input("x", features=3, levels=16))
    g.add(Neurons.relu("n", alpha=[5, 1], leak=[0, 0]))
    g.add(Synapses("s", source="x", target="n", weight=[[12, -24, 6], [1, 0, 0]], delay=[0, 0, 0]))
    e = run(g, "encode-weights")
    assert e["n"].type_weights.tolist() == [[6, 12, 24, -48], [1, 2, 4, -8]]  # type: ignore[union-attr]
    assert np.array_equal(e["s"].weight(e), g["s"].weight)  # type: ignore[attr-defined]


def test_more_than_16_levels_is_rejected() -> None:
    g = Graph("h", attrs={"window": 4})
    g.add(Input("x", features=2, levels=16))
    g.add(Neurons.relu("n", alpha=[1, 1], leak=[0, 0]))
    g.add(Synapses("s", source="x", target="n", weight=[[1, 1], [9, 1]], delay=[0, 0]))
    with pytest.raises(PassError) as info:
        run(g, "encode-weights")
    msg = str(info.value)
    assert "pass encode-weights failed" in msg and "%n" in msg
    assert "neuron 1's weights in [1, 9]" in msg and "levels <= 16" in msg


@pytest.mark.parametrize("weights", [[[40, 0]], [[-64, 0]], [[40, 80]]])
def test_large_weights_with_few_levels_are_encodable(weights: list[list[int]]) -> None:
    """Weights ``c * q`` with ``q`` in [-8, 7] and ``8 * c <= 255`` fit 4 axon types:
    40 = 8 * 5, -64 = 16 * -4, (40, 80) = 20 * (2, 4). The pass must not refuse them because
    the gcd (40, 64, 40) would overflow ``-8 * unit``: a divisor of the gcd also works."""
    g = Graph("h", attrs={"window": 4})
    g.add(Input("x", features=2, levels=16))
    g.add(Neurons.relu("n", alpha=[1], leak=[0]))
    g.add(Synapses("s", source="x", target="n", weight=weights, delay=[0, 0]))
    e = run(g, "encode-weights")
    assert np.array_equal(e["s"].weight(e), g["s"].weight)  # type: ignore[attr-defined]
    x = np.array([[[3, 1], [0, 2]]])
    g.add(SpikeCount("c", source="n"))
    g.add(Output("o", source="c"))
    e = run(g, "encode-weights")
    assert np.array_equal(interpret(g, x)["o"], interpret(e, x)["o"])


def test_already_encoded_target_with_new_synapses_is_rejected() -> None:
    g = Graph("h", attrs={"window": 4})
    g.add(Input("x", features=1, levels=16))
    g.add(Neurons.relu("n", alpha=[1], leak=[0]))
    g.add(Synapses("s", source="x", target="n", weight=[[1]], delay=[0]))
    e = run(g, "encode-weights")
    e.add(Synapses("late", source="x", target="n", weight=[[2]], delay=[0]))
    with pytest.raises(PassError, match=r"%n.*already has type_weights.*%late"):
        run(e, "encode-weights")


def test_population_without_inputs_gets_no_type_weights() -> None:
    g = Graph("h", attrs={"window": 4})
    g.add(Input("x", features=1, levels=16))
    g.add(Neurons.relu("a", alpha=[1], leak=[2]))
    g.add(Neurons.relu("b", alpha=[1], leak=[0]))
    g.add(Synapses("s", source="a", target="b", weight=[[0]], delay=[1]))
    e = run(g, "encode-weights")
    assert e["a"].type_weights is None  # type: ignore[attr-defined]
    s = e["s"]
    assert isinstance(s, AxonSynapses) and s.axon_source.size == 0
    assert s.crossbar.shape == (1, 0)
    assert np.array_equal(s.weight(e), [[0]])
