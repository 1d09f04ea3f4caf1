"""insert-delays: host delays 0, neuron delays = window, spike-count offsets = depth * window;
with those, a feed-forward chain of identity units reads back its input one window later."""

from __future__ import annotations

import numpy as np
import pytest
from passtest_util import activities, rnn_network, run, same_nodes

from nsc.errors import PassError
from nsc.ir import AxonSynapses, Graph, Input, Neurons, Output, SpikeCount, Synapses
from nsc.ir.interpret import interpret


def identity(name: str, n: int) -> Neurons:
    return Neurons.relu(name, alpha=np.ones(n), leak=np.zeros(n))


def chain_graph(depth: int, window: int, width: int = 2, recurrent: bool = False) -> Graph:
    """host -> p0 -> p1 -> ... (identity weights, placeholder delays), counts on every layer."""
    g = Graph("chain", attrs={"window": window})
    g.add(Input("x", features=width, levels=16))
    src = "x"
    for k in range(depth):
        g.add(identity(f"p{k}", width))
        delay = np.full(width, 7 if src == "x" else 1)
        g.add(Synapses(f"s{k}", source=src, target=f"p{k}", weight=np.eye(width), delay=delay))
        if recurrent:
            g.add(
                Synapses(
                    f"r{k}",
                    source=f"p{k}",
                    target=f"p{k}",
                    weight=np.zeros((width, width)),
                    delay=np.full(width, 3),
                )
            )
        g.add(SpikeCount(f"c{k}", source=f"p{k}", offset=99))
        g.add(Output(f"o{k}", source=f"c{k}"))
        src = f"p{k}"
    g.verify()
    return g


@pytest.mark.parametrize("window", [1, 4, 15])
def test_delays_and_offsets(window: int) -> None:
    g = run(chain_graph(depth=3, window=window, recurrent=True), "insert-delays")
    for s in g.of_type(Synapses):
        host = isinstance(g[s.source], Input)
        assert (s.delay == (0 if host else window)).all(), s.name
    offsets = {c.source: c.offset for c in g.of_type(SpikeCount)}
    assert offsets == {"p0": 0, "p1": window, "p2": 2 * window}


def test_feed_forward_chain_reads_back_the_input() -> None:
    """Identity units: every layer's count, read at its offset, equals the input activities
    (W = 15 >= any activity, so no burst spills into the next window)."""
    g = run(chain_graph(depth=3, window=15), "insert-delays")
    x = activities((3, 4, 2), 0)
    out = interpret(g, x)
    for k in range(3):
        assert np.array_equal(out[f"o{k}"], x), k


def test_quantized_rnn_depths() -> None:
    net = rnn_network(4, 5, seed=0, pre=3, readout=2)
    g = run(net, "quantize{levels=8},insert-delays", activities((4, 3, 4), 0, 8))
    assert g.window == 7
    for s in g.of_type(Synapses):
        want = 0 if s.source == "x" else 7
        assert (s.delay == want).all(), s.name
    (count,) = g.of_type(SpikeCount)
    assert count.source == "rnn" and count.offset == 7  # rnn is one hop after pre


def test_works_on_encoded_synapses_and_is_idempotent() -> None:
    net = rnn_network(4, 5, seed=1, pre=3)
    x = activities((4, 3, 4), 1)
    a = run(net, "quantize,insert-delays,encode-weights", x)
    b = run(net, "quantize,encode-weights,insert-delays", x)
    assert same_nodes(a, b)  # the pipelines recorded differ, by design
    assert same_nodes(run(a, "insert-delays"), a)
    assert not a.of_type(Synapses) and len(a.of_type(AxonSynapses)) == 3


def test_window_longer_than_the_longest_delay_is_rejected() -> None:
    g = chain_graph(depth=1, window=16)
    with pytest.raises(PassError, match=r"window 16 ticks exceeds the longest delay \(15\)"):
        run(g, "insert-delays")


def test_window_zero_is_rejected() -> None:
    with pytest.raises(PassError, match="insert-delays"):
        run(chain_graph(depth=1, window=0), "insert-delays")


def test_feed_forward_cycle_is_rejected() -> None:
    g = chain_graph(depth=2, window=5)
    g.add(Synapses("back", source="p1", target="p0", weight=np.eye(2), delay=[1, 1]))
    with pytest.raises(PassError, match=r"feed-forward cycle through %p[01]"):
        run(g, "insert-delays")


def test_longest_path_sets_the_depth() -> None:
    """x -> a -> b -> c and a shortcut a -> c: c is counted 2 windows late, not 1."""
    g = chain_graph(depth=3, window=4)
    g.add(Synapses("skip", source="p0", target="p2", weight=np.eye(2), delay=[1, 1]))
    g = run(g, "insert-delays")
    assert {c.source: c.offset for c in g.of_type(SpikeCount)} == {"p0": 0, "p1": 4, "p2": 8}
