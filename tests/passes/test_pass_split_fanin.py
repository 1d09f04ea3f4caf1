"""split-fanin: afterwards no neuron has more than ``max`` non-zero inputs (recurrent layers
included); every original synapse lives in exactly one part; the graph verifies and runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from passtest_util import INTEGER, activities, fanin, place, rnn_network, run, same_nodes

from nsc.errors import PassError
from nsc.ir import Graph, Input, Neurons, Output, SpikeCount, Synapses
from nsc.ir.interpret import interpret


def relu_pop(name: str, n: int, alpha: int = 2, leak: int = 0) -> Neurons:
    return Neurons.relu(name, alpha=np.full(n, alpha), leak=np.full(n, leak))


@st.composite
def wide_networks(draw: st.DrawFn) -> tuple[Graph, int, np.ndarray]:
    n_in = draw(st.integers(1, 30))
    n_h = draw(st.integers(1, 10))
    recurrent = draw(st.booleans())
    downstream = draw(st.booleans())
    window = 15

    def weights(shape: tuple[int, int]) -> np.ndarray:
        w = draw(arrays(np.int64, shape, elements=st.integers(-8, 7)))
        keep = draw(arrays(bool, shape, elements=st.booleans()))
        return np.where(keep | draw(st.booleans()), w, 0)

    g = Graph("wide", attrs={"window": window})
    g.add(Input("x", features=n_in, levels=16))
    g.add(relu_pop("h", n_h, alpha=draw(st.integers(1, 9)), leak=draw(st.integers(-2, 2))))
    g.add(Synapses("xh", source="x", target="h", weight=weights((n_h, n_in)), delay=np.zeros(n_in)))
    if recurrent:
        g.add(
            Synapses(
                "hh", source="h", target="h", weight=weights((n_h, n_h)), delay=np.full(n_h, window)
            )
        )
    top = "h"
    if downstream:
        n_o = draw(st.integers(1, 4))
        g.add(relu_pop("o", n_o))
        g.add(
            Synapses(
                "ho", source="h", target="o", weight=weights((n_o, n_h)), delay=np.full(n_h, window)
            )
        )
        top = "o"
    g.add(SpikeCount("count", source=top, offset=window if downstream else 0))
    g.add(Output("out", source="count"))
    g.verify()
    widest = max(int(fanin(g, p.name).max()) for p in g.of_type(Neurons))
    limit = draw(st.integers(2, max(2, widest - 1)))
    x = activities((2, draw(st.integers(1, 3)), n_in), draw(st.integers(0, 99)))
    return g, limit, x


@settings(max_examples=60, deadline=None)
@given(wide_networks())
def test_split_bounds_fanin_and_keeps_every_synapse(case: tuple[Graph, int, np.ndarray]) -> None:
    g, limit, x = case
    s = run(g, f"split-fanin{{max={limit}}}")
    for p in s.of_type(Neurons):
        assert int(fanin(s, p.name).max(initial=0)) <= limit, p.name
    # every original synapse group src -> tgt survives with the same weights: unchanged if
    # tgt was not split, else spread over tgt's parts (and no longer wired to tgt directly)
    for e in g.of_type(Synapses):
        split = int(fanin(g, e.target).max()) > limit
        pieces = [
            n
            for n in s.of_type(Synapses)
            if n.source == e.source
            and (n.target.startswith(f"{e.target}_part") if split else n.target == e.target)
        ]
        total = np.zeros(e.weight.shape, np.int64)
        for n in pieces:
            total += n.weight
        assert np.array_equal(total, e.weight), e.name
    # unsplit populations are untouched
    for p in g.of_type(Neurons):
        if int(fanin(g, p.name).max()) <= limit:
            assert s[p.name].same_as(p)
    s.verify()
    out = interpret(s, x)["out"]
    assert out.shape == (x.shape[0], x.shape[1], g["count"].size(g))


def test_split_is_a_no_op_when_fanin_fits() -> None:
    g = rnn_network(10, 8, seed=0)
    q = run(g, "quantize,insert-delays", activities((4, 3, 10), 0))
    assert int(fanin(q, "rnn").max()) == 18
    assert same_nodes(run(q, "split-fanin{max=18}"), q)
    assert same_nodes(run(q, "split-fanin{max=64}"), q)


def test_split_shape_of_the_tree() -> None:
    """One neuron with 5 inputs, max 3: two parts (3 + 2 inputs) feed the re-emitter
    (threshold 1, no leak) through identity relays of delay 1; part 0 takes the leak."""
    g = Graph("t", attrs={"window": 15})
    g.add(Input("x", features=5, levels=16))
    g.add(relu_pop("n", 1, alpha=3, leak=2))
    g.add(Synapses("s", source="x", target="n", weight=[[1, 2, 3, 4, 5]], delay=[0] * 5))
    g.add(SpikeCount("c", source="n", offset=4))
    g.add(Output("o", source="c"))
    s = run(g, "split-fanin{max=3}")
    parts = [p for p in s.of_type(Neurons) if p.name.startswith("n_part")]
    assert [p.name for p in parts] == ["n_part0", "n_part1"]
    assert [p.leak.tolist() for p in parts] == [[2], [0]]
    assert all(p.alpha.tolist() == [3] for p in parts)
    inputs = {e.target: e.weight.tolist() for e in s.of_type(Synapses) if e.source == "x"}
    assert inputs == {
        "n_part0": [[1, 2, 3, 0, 0]],
        "n_part1": [[0, 0, 0, 4, 5]],
    }
    relays = [e for e in s.of_type(Synapses) if e.target == "n"]
    assert sorted(e.source for e in relays) == ["n_part0", "n_part1"]
    assert all(e.weight.tolist() == [[1]] and e.delay.tolist() == [1] for e in relays)
    assert s["n"].alpha.tolist() == [1] and s["n"].leak.tolist() == [0]  # type: ignore[attr-defined]
    assert s["c"].offset == 5  # type: ignore[attr-defined]


def test_split_deeper_tree_when_parts_exceed_max() -> None:
    """5 inputs under max 2: 3 parts are still more than 2 inputs for the re-emitter, so the
    split repeats; every neuron ends with fan-in <= 2 and counts are read 2 ticks later."""
    g = Graph("t", attrs={"window": 15})
    g.add(Input("x", features=5, levels=16))
    g.add(relu_pop("n", 1, alpha=1))
    g.add(Synapses("s", source="x", target="n", weight=[[1, 1, 1, 1, 1]], delay=[0] * 5))
    g.add(SpikeCount("c", source="n"))
    g.add(Output("o", source="c"))
    s = run(g, "split-fanin{max=2}")
    for p in s.of_type(Neurons):
        assert int(fanin(s, p.name).max()) <= 2, p.name
    assert s["c"].offset == 2  # type: ignore[attr-defined]
    x = np.array([[[1, 1, 0, 1, 1]]])
    assert interpret(s, x)["o"][0, :, 0].tolist() == [4]


def test_split_of_positive_inputs_keeps_the_count() -> None:
    """With non-negative weights and threshold 1, relu(sum) = sum relu: the split neuron's count
    (read one tick later) equals the unsplit one. x = (2, 1, 0, 3), all weights 1:
    unsplit fires at ticks 0..5; parts fire 3 + 3 times, the re-emitter at ticks 1..6."""
    g = Graph("t", attrs={"window": 15})
    g.add(Input("x", features=4, levels=16))
    g.add(relu_pop("n", 1, alpha=1))
    g.add(Synapses("s", source="x", target="n", weight=[[1, 1, 1, 1]], delay=[0] * 4))
    g.add(SpikeCount("c", source="n"))
    g.add(Output("o", source="c"))
    x = np.array([[[2, 1, 0, 3], [0, 0, 0, 0]]])
    s = run(g, "split-fanin{max=2}")
    assert interpret(g, x)["o"][0, :, 0].tolist() == [6, 0]
    assert interpret(s, x)["o"][0, :, 0].tolist() == [6, 0]


def test_split_recurrent_layer_in_the_pipeline() -> None:
    """A quantized RNN with fan-in 20 + 12 = 32 under max 8: the integer pipeline completes,
    every fan-in is <= 8, and the result still lowers to cores and runs."""
    g = rnn_network(20, 12, seed=5)
    x = activities((3, 3, 20), 5)
    spec = INTEGER.replace("max=64", "max=8")
    s = run(g, spec, x)
    pops = s.of_type(Neurons)
    assert len(pops) > 1
    for p in pops:
        assert p.type_weights is not None
    pre = run(g, spec.replace(",encode-weights", ""), x)
    for p in pre.of_type(Neurons):
        assert int(fanin(pre, p.name).max(initial=0)) <= 8, p.name
    a = interpret(s, x)["out"]
    lowered = run(place(s, 0), "replicate-fanout,lower-to-cores")
    assert np.array_equal(a, interpret(lowered, x)["out"])


def test_split_rejects_max_below_two() -> None:
    g = Graph("t", attrs={"window": 15})
    g.add(Input("x", features=3, levels=16))
    g.add(relu_pop("n", 1))
    g.add(Synapses("s", source="x", target="n", weight=[[1, 1, 1]], delay=[0] * 3))
    with pytest.raises(PassError, match="max must be >= 2, got 1"):
        run(g, "split-fanin{max=1}")


def test_split_runs_before_encode_weights() -> None:
    g = rnn_network(5, 4, seed=0)
    e = run(g, "quantize,encode-weights", activities((2, 2, 5), 0))
    with pytest.raises(PassError, match="split-fanin runs before encode-weights"):
        run(e, "split-fanin{max=2}")


def test_split_recurrent_echo_stays_one_window_per_step() -> None:
    """A threshold-1 unit with one input spike and a recurrent weight 1 (delay W after
    insert-delays) echoes once per window for ever: counts 1, 1, 1, ... Split under max 2, its
    non-negative weights give the same function (relu(sum) = sum relu), so the counts must
    stay 1 per step over a sequence longer than the window (20 steps > W = 15): the relay's
    extra tick must not accumulate along the recurrent loop."""
    g = Graph("echo", attrs={"window": 15})
    g.add(Input("x", features=3, levels=16))
    g.add(relu_pop("h", 1, alpha=1))
    g.add(Synapses("xh", source="x", target="h", weight=[[1, 1, 1]], delay=[0, 0, 0]))
    g.add(Synapses("hh", source="h", target="h", weight=[[1]], delay=[1]))
    g.add(SpikeCount("c", source="h"))
    g.add(Output("o", source="c"))
    x = np.zeros((1, 20, 3), int)
    x[0, 0, 0] = 1
    plain = run(g, "insert-delays")
    assert interpret(plain, x)["o"][0, :, 0].tolist() == [1] * 20
    split = run(g, "insert-delays,split-fanin{max=2}")
    assert int(fanin(split, "h").max()) <= 2
    assert interpret(split, x)["o"][0, :, 0].tolist() == [1] * 20
