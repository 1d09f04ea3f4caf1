"""Reference interpreter, host and network level: Linear/ReLU/ElmanRNN in float64 (ElmanRNN
against torch.nn.RNN), QLinear in exact integers (floor division, clipping, negatives)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsc.ir import ElmanRNN, Graph, Input, Linear, Output, QLinear, ReLU
from nsc.ir.interpret import InterpretError, interpret, run_trace


def float_chain(*nodes: object, features: int) -> Graph:
    g = Graph("f")
    g.add(Input("x", features=features))
    for node in nodes:
        g.add(node)  # type: ignore[arg-type]
    g.add(Output("o", source=list(g.nodes)[-1]))
    g.verify()
    return g


def test_linear_relu_float64() -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    g = float_chain(
        Linear("lin", source="x", weight=w, bias=b), ReLU("r", source="lin"), features=4
    )
    x = rng.normal(size=(2, 5, 4))
    out = interpret(g, x)["o"]
    assert out.shape == (2, 5, 3)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.maximum(x @ w.T + b, 0), rtol=1e-15, atol=0)


def test_linear_without_bias() -> None:
    g = float_chain(Linear("lin", source="x", weight=[[1.0, -2.0]]), features=2)
    assert interpret(g, np.array([[[3.0, 1.0]]]))["o"].tolist() == [[[1.0]]]


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("bias", [True, False])
def test_elman_matches_torch_rnn(nonlinearity: str, bias: bool) -> None:
    torch.manual_seed(3)
    rnn = torch.nn.RNN(4, 6, nonlinearity=nonlinearity, bias=bias, batch_first=True).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(2.0)  # make the recurrence matter
    b = None
    if bias:
        b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy()
    node = ElmanRNN(
        "rnn",
        source="x",
        w_ih=rnn.weight_ih_l0.detach().numpy(),
        w_hh=rnn.weight_hh_l0.detach().numpy(),
        bias=b,
        nonlinearity=nonlinearity,
    )
    g = float_chain(node, features=4)
    x = torch.randn(3, 7, 4, dtype=torch.float64)
    with torch.no_grad():
        want, h_n = rnn(x)
    got = interpret(g, x.numpy())["o"]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[:, -1], h_n[0].numpy(), rtol=1e-12, atol=1e-12)


def test_elman_hand_computed() -> None:
    # h[t] = relu(2 x[t] + 0.5 h[t-1] - 1), h[-1] = 0; x = (1, 3, 0): h = (1, 5.5, 1.75)
    g = float_chain(
        ElmanRNN("rnn", source="x", w_ih=[[2.0]], w_hh=[[0.5]], bias=[-1.0]), features=1
    )
    out = interpret(g, np.array([[[1.0], [3.0], [0.0]]]))["o"]
    assert out[0, :, 0].tolist() == [1.0, 5.5, 1.75]


def qlinear_graph(weight: list, bias: list, divisor: int, levels: int) -> Graph:
    g = Graph("q")
    g.add(Input("x", features=len(weight[0])))
    g.add(QLinear("q", source="x", weight=weight, bias=bias, divisor=divisor, levels=levels))
    g.add(Output("o", source="q"))
    g.verify()
    return g


def test_qlinear_floor_clip() -> None:
    # z = W x + b; y = clip(floor(z / 3), 0, 3)
    g = qlinear_graph([[2, -1], [1, 1], [-3, 0], [5, 5]], [1, -2, 0, 0], divisor=3, levels=4)
    x = np.array([[[4, 1], [-3, 5], [1, 1], [0, 0]]])
    # step 0: z = (8, 3, -12, 25)  -> (2, 1, 0, 3)  [25 // 3 = 8 clipped to 3]
    # step 1: z = (-10, 0, 9, 10)  -> (0, 0, 3, 3)
    # step 2: z = (2, 0, -3, 10)   -> (0, 0, 0, 3)
    # step 3: z = (1, -2, 0, 0)    -> (0, 0, 0, 0)  [floor(-2/3) = -1, clipped to 0]
    out = interpret(g, x)["o"][0]
    assert out.tolist() == [[2, 1, 0, 3], [0, 0, 3, 3], [0, 0, 0, 3], [0, 0, 0, 0]]


def test_qlinear_negative_inputs_and_raw_mode() -> None:
    # y = clip(floor((x + 3) / 2), 0, 7); z = x + 3 = 1, 2, 3, 4, -2, -1 -> 0, 1, 1, 2, 0, 0
    g = qlinear_graph([[1]], [3], divisor=2, levels=8)
    out = interpret(g, np.array([[[-2], [-1], [0], [1], [-5], [-4]]]))["o"][0, :, 0]
    assert out.tolist() == [0, 1, 1, 2, 0, 0]
    # levels 0: raw integer logits, no division and no clipping (negative values kept)
    raw = qlinear_graph([[1]], [3], divisor=2, levels=0)
    assert interpret(raw, np.array([[[-5], [4]]]))["o"][0, :, 0].tolist() == [-2, 7]


def test_qlinear_exact_beyond_float32() -> None:
    big = 2**24 + 1
    g = qlinear_graph([[big, -big]], [1], divisor=1, levels=0)
    out = interpret(g, np.array([[[3, 1]]]))["o"]
    assert out.tolist() == [[[2 * big + 1]]]
    assert out.dtype.kind == "i"


def test_qlinear_rejects_non_integer_inputs() -> None:
    g = qlinear_graph([[1]], [0], divisor=1, levels=4)
    with pytest.raises(InterpretError, match="%q takes integer inputs"):
        interpret(g, np.array([[[0.5]]]))


def test_values_of_every_node_are_traced() -> None:
    g = float_chain(Linear("lin", source="x", weight=[[2.0]]), ReLU("r", source="lin"), features=1)
    values = run_trace(g, np.array([[[-1.0], [2.0]]])).values
    assert values["lin"][0, :, 0].tolist() == [-2.0, 4.0]
    assert values["r"][0, :, 0].tolist() == [0.0, 4.0]


def test_interpreter_needs_an_input_node() -> None:
    with pytest.raises(InterpretError, match="no input node"):
        interpret(Graph("empty"), np.zeros((1, 1, 1)))
