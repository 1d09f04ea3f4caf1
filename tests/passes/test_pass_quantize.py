"""quantize: float network -> integer spiking network.

Pre: a chain input -> (linear [relu] | rnn [relu])* -> [linear] -> output.
Post: integer input with ``levels``, ReLU-like populations, weights in the level range,
alpha >= 1, leak in [-255, 255], window = levels - 1; its predictions track the float model's.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from passtest_util import activities, rnn_network, run

from nsc.errors import PassError
from nsc.ir import (
    ElmanRNN,
    Graph,
    Input,
    Linear,
    Neurons,
    Output,
    QLinear,
    ReLU,
    SpikeCount,
    Synapses,
)
from nsc.ir.interpret import interpret
from nsc_runtime import hw


def quantize(g: Graph, x: np.ndarray, levels: int = 16) -> Graph:
    return run(g, f"quantize{{levels={levels}}}", x)


def test_structure_of_a_quantized_network() -> None:
    g = rnn_network(6, 7, seed=0, pre=5, readout=3)
    q = quantize(g, activities((8, 4, 6), 0))
    assert q.attrs["levels"] == 16 and q.attrs["window"] == 15
    assert q.attrs["readout"] == "last"  # graph attributes survive
    (inp,) = q.of_type(Input)
    assert inp.name == "x" and inp.levels == 16 and inp.features == 6
    pops = {p.name: p for p in q.of_type(Neurons)}
    assert set(pops) == {"pre", "rnn"}
    assert pops["pre"].count == 5 and pops["rnn"].count == 7
    syn = {s.name: s for s in q.of_type(Synapses)}
    assert {(s.source, s.target) for s in syn.values()} == {
        ("x", "pre"),
        ("pre", "rnn"),
        ("rnn", "rnn"),
    }
    assert syn["pre_in"].weight.shape == (5, 6)
    assert syn["rnn_rec"].weight.shape == (7, 7)
    (count,) = q.of_type(SpikeCount)
    assert count.source == "rnn"
    (head,) = q.of_type(QLinear)
    assert head.source == count.name and head.levels == 0 and head.weight.shape == (3, 7)
    assert q.of_type(Output)[0].source == head.name
    assert not q.of_type(Linear) and not q.of_type(ElmanRNN) and not q.of_type(ReLU)
    for p in pops.values():  # the ReLU-like unit
        assert (p.reset_mode == hw.RESET_LINEAR).all() and (p.kappa == 1).all()
        assert (p.beta == 0).all() and (p.v0 == 0).all() and p.type_weights is None


def test_quantize_without_readout_counts_the_last_layer() -> None:
    g = rnn_network(3, 4, seed=1)
    q = quantize(g, activities((4, 3, 3), 1))
    (count,) = q.of_type(SpikeCount)
    assert q.of_type(Output)[0].source == count.name
    assert not q.of_type(QLinear)


@st.composite
def float_models(draw: st.DrawFn) -> tuple[Graph, np.ndarray, int]:
    n_in = draw(st.integers(1, 8))
    hidden = draw(st.integers(1, 12))
    pre = draw(st.sampled_from([0, 0, 3, 9]))
    readout = draw(st.sampled_from([0, 2, 5]))
    scale = draw(st.sampled_from([0.05, 1.0, 4.0, 50.0]))
    seed = draw(st.integers(0, 10_000))
    levels = draw(st.sampled_from([4, 8, 16]))
    g = rnn_network(n_in, hidden, seed, pre=pre, readout=readout, scale=scale)
    if draw(st.booleans()):  # huge biases: the leak must be clipped, not overflow
        r = g["rnn"]
        g.nodes["rnn"] = r.replace(bias=r.bias * 1e4)  # type: ignore[attr-defined]
    x = activities((4, draw(st.integers(1, 4)), n_in), seed, levels)
    return g, x, levels


@settings(max_examples=25, deadline=None)
@given(float_models())
def test_quantized_parameters_are_in_range(case: tuple[Graph, np.ndarray, int]) -> None:
    g, x, levels = case
    q = quantize(g, x, levels)
    wmin, wmax = -(levels // 2), levels // 2 - 1
    assert q.attrs["window"] == levels - 1
    for s in q.of_type(Synapses):
        assert s.weight.dtype == np.int32
        assert wmin <= s.weight.min() and s.weight.max() <= wmax, s.name
    for p in q.of_type(Neurons):
        assert (p.alpha >= 1).all() and (p.alpha <= hw.ALPHA_MAX).all()
        assert (p.leak >= hw.LEAK_MIN).all() and (p.leak <= hw.LEAK_MAX).all()
    # the integer network runs on integer activities
    interpret(q, x)


def test_weights_use_the_full_level_range() -> None:
    """The largest float weight contribution maps to the top level (nothing wasted)."""
    g = rnn_network(6, 8, seed=4, pre=6)
    q = quantize(g, activities((8, 3, 6), 4))
    for p in q.of_type(Neurons):
        incoming = [s.weight for s in q.of_type(Synapses) if s.target == p.name]
        assert max(int(np.abs(w).max()) for w in incoming) == 7, p.name


@pytest.mark.parametrize("levels", [4, 5, 8, 16])
def test_every_allowed_level_count_keeps_some_weights(levels: int) -> None:
    """levels is accepted in [4, 16]; each must give a usable (not all-zero) network."""
    g = rnn_network(5, 6, seed=0, pre=4, readout=3)
    q = quantize(g, activities((8, 3, 5), 1, levels), levels)
    assert q.attrs["window"] == levels - 1
    for s in q.of_type(Synapses):
        assert s.weight.any(), f"{s.name}: every weight quantized to 0 with levels={levels}"


def balanced_model(seed: int) -> tuple[Graph, np.ndarray]:
    """A random but fixed 8 -> 16 (relu) -> rnn 16 -> 4 model; the readout bias is centred on
    calibration data so that the 4 classes are all predicted (chance agreement ~ 1/4)."""
    g = rnn_network(8, 16, seed, pre=16, readout=4)
    calib = activities((64, 4, 8), 100 + seed)
    mean = interpret(g, calib.astype(float))["out"][:, -1].mean(axis=0)
    head = g["head"]
    g.nodes["head"] = head.replace(bias=head.bias - mean)  # type: ignore[attr-defined]
    return g, calib


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantized_predictions_track_the_float_model(seed: int) -> None:
    g, calib = balanced_model(seed)
    q = run(g, "quantize{levels=16},insert-delays", calib)
    x = activities((300, 4, 8), 1000 + seed)
    f = interpret(g, x.astype(float))["out"][:, -1]
    z = interpret(q, x)["out"][:, -1]
    agree = float((f.argmax(1) == z.argmax(1)).mean())
    pf = np.bincount(f.argmax(1), minlength=4) / len(x)
    pz = np.bincount(z.argmax(1), minlength=4) / len(x)
    chance = float((pf * pz).sum())  # agreement of independent guesses with these marginals
    assert chance < 0.4
    assert agree >= 0.5 and agree >= 1.8 * chance, (agree, chance)
    per_class = [np.corrcoef(f[:, k], z[:, k])[0, 1] for k in range(4)]
    assert min(per_class) >= 0.6 and float(np.mean(per_class)) >= 0.75, per_class


def test_quantize_rejects_tanh_naming_the_node() -> None:
    g = rnn_network(3, 4, seed=0)
    g.nodes["rnn"] = g["rnn"].replace(nonlinearity="tanh")
    with pytest.raises(PassError) as info:
        quantize(g, activities((2, 2, 3), 0))
    msg = str(info.value)
    assert "%rnn" in msg and "'tanh'" in msg and "relu" in msg


def chain(*nodes: object, features: int = 3) -> Graph:
    g = Graph("c")
    g.add(Input("x", features=features))
    for n in nodes:
        g.add(n)  # type: ignore[arg-type]
    g.verify()
    return g


def lin(name: str, src: str, n_out: int = 3, n_in: int = 3) -> Linear:
    return Linear(name, source=src, weight=np.full((n_out, n_in), 0.3), bias=np.zeros(n_out))


UNSUPPORTED = [
    (
        "relu-first",
        lambda: chain(ReLU("r", source="x"), lin("l", "r"), Output("o", source="l")),
        ["%r", "a relu must follow an affine or recurrent op"],
    ),
    (
        "double-relu",
        lambda: chain(
            lin("l", "x"), ReLU("r1", source="l"), ReLU("r2", source="r1"), Output("o", source="r2")
        ),
        ["%r2", "a relu must follow"],
    ),
    (
        "branch",
        lambda: chain(
            lin("a", "x"),
            ReLU("ra", source="a"),
            lin("b", "x"),
            Output("o", source="ra"),
        ),
        ["%x feeds several nodes", "only chains"],
    ),
    (
        "two-outputs",
        lambda: chain(
            lin("a", "x"),
            ReLU("ra", source="a"),
            Output("o1", source="ra"),
            Output("o2", source="a"),
        ),
        ["exactly one input and one output"],
    ),
    (
        "no-layers",
        lambda: chain(ReLU("r", source="x"), Output("o", source="r")),
        ["nothing to quantize"],
    ),
    (
        "lone-linear",
        lambda: chain(lin("l", "x"), Output("o", source="l")),
        ["no spiking layer"],
    ),
    (
        "linear-linear-readout",
        lambda: chain(lin("a", "x"), lin("b", "a"), Output("o", source="b")),
        ["no spiking layer"],
    ),
]


@pytest.mark.parametrize(
    ("build", "fragments"), [c[1:] for c in UNSUPPORTED], ids=[c[0] for c in UNSUPPORTED]
)
def test_quantize_rejects_unsupported_chains(build: object, fragments: list[str]) -> None:
    g = build()  # type: ignore[operator]
    with pytest.raises(PassError) as info:
        quantize(g, activities((2, 2, 3), 0))
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("levels", [2, 3, 17, 0])
def test_quantize_rejects_levels_out_of_range(levels: int) -> None:
    g = rnn_network(3, 4, seed=0)
    with pytest.raises(PassError, match=r"levels must be in \[4, 16\]"):
        quantize(g, activities((2, 2, 3), 0), levels)


def test_quantize_folds_a_bare_linear_into_the_next_layer() -> None:
    """linear -> rnn: the bare linear has no nonlinearity, so it folds into w_in exactly."""
    rng = np.random.default_rng(0)
    g = Graph("fold")
    g.add(Input("x", features=3))
    g.add(Linear("p", source="x", weight=rng.normal(size=(4, 3)), bias=rng.normal(size=4)))
    g.add(
        ElmanRNN(
            "rnn",
            source="p",
            w_ih=rng.normal(size=(5, 4)),
            w_hh=0.1 * rng.normal(size=(5, 5)),
            bias=np.zeros(5),
        )
    )
    g.add(Output("o", source="rnn"))
    q = quantize(g, activities((4, 3, 3), 0))
    assert [p.name for p in q.of_type(Neurons)] == ["rnn"]
    (syn_in,) = [s for s in q.of_type(Synapses) if s.source == "x"]
    assert syn_in.weight.shape == (5, 3)


def test_quantize_does_not_need_a_relu_after_rnn_but_accepts_one() -> None:
    g = rnn_network(3, 4, seed=2)
    with_relu = g.copy()
    del with_relu.nodes["out"]
    with_relu.add(ReLU("after", source="rnn"))
    with_relu.add(Output("out", source="after"))
    x = activities((4, 3, 3), 2)
    a, b = quantize(g, x), quantize(with_relu, x)
    assert [p.name for p in a.of_type(Neurons)] == [p.name for p in b.of_type(Neurons)]
    xi = activities((3, 3, 3), 9)
    assert np.array_equal(interpret(a, xi)["out"], interpret(b, xi)["out"])
