"""The constrained module, the numpy second implementation and the compiled spiking runtime
compute the same integers, for random small models of every supported shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ctest_util import Net, randomize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nsc
from nsc.train.constrain import reference_logits
from nsc.train.constrain.convert import constrained_from_float, parse_model

SHAPES = st.fixed_dictionaries(
    {
        "vocab": st.sampled_from([0, 7]),
        "proj": st.sampled_from([0, 5]),
        "hidden": st.integers(2, 7),
        "layers": st.integers(1, 2),
        "second": st.sampled_from([0, 3]),
        "nonlinearity": st.sampled_from(["relu", "tanh"]),
        "dense": st.sampled_from([0, 4]),
        "last": st.booleans(),
        "levels": st.sampled_from([4, 16]),
        "max_fanin": st.sampled_from([3, 64]),
        "randomize": st.booleans(),
    }
)


def build(shape: dict, seed: int) -> tuple[nsc.train.constrain.ConstrainedNet, np.ndarray]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    features = 3
    model = Net(
        features,
        vocab=shape["vocab"],
        proj=shape["proj"],
        hidden=shape["hidden"],
        layers=shape["layers"],
        second=shape["second"],
        nonlinearity=shape["nonlinearity"],
        dense=shape["dense"],
        last=shape["last"],
    )
    if shape["vocab"]:
        x = rng.integers(0, shape["vocab"], (4, 5))
    else:
        x = rng.normal(0, 1, (4, 5, features))
    chain = parse_model(model, None if shape["vocab"] else features)
    net = constrained_from_float(chain, x, levels=shape["levels"], max_fanin=shape["max_fanin"])
    if shape["randomize"]:
        randomize(net, rng)
    return net, x


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(shape=SHAPES, seed=st.integers(0, 2**16))
def test_module_reference_and_runtime_agree(shape: dict, seed: int) -> None:
    net, x = build(shape, seed)
    net.eval()
    mine = net.integer_logits(x)  # (B, C) last step or (B, T, C)
    params = net.export_params()
    ref = np.stack([reference_logits(params, xi) for xi in x])  # (B, T, C)
    expected = ref[:, -1] if shape["last"] else ref
    np.testing.assert_array_equal(mine, expected)
    assert max(net.fan_in()) <= shape["max_fanin"]
    x_run = x[..., None] if shape["vocab"] else x
    compiled = nsc.compile(net, x_run, time_limit=2.0)
    out = compiled.run(x_run)
    np.testing.assert_array_equal(out[:, -1] if shape["last"] else out, mine)
    assert nsc.verify(compiled, x_run).agreement == 1.0


def test_lengths_read_the_last_real_step() -> None:
    net, x = build(
        {
            "vocab": 0,
            "proj": 0,
            "hidden": 4,
            "layers": 1,
            "second": 0,
            "nonlinearity": "relu",
            "dense": 0,
            "last": True,
            "levels": 16,
            "max_fanin": 64,
            "randomize": True,
        },
        3,
    )
    lengths = np.array([5, 2, 3, 1])
    with torch.no_grad():
        y = net(x, lengths).numpy()
        for b, n in enumerate(lengths):
            np.testing.assert_array_equal(y[b], net(x[b : b + 1, :n]).numpy()[0])


def test_training_mode_values_equal_eval_and_carry_gradients() -> None:
    shape = {
        "vocab": 0,
        "proj": 5,
        "hidden": 4,
        "layers": 2,
        "second": 0,
        "nonlinearity": "tanh",
        "dense": 0,
        "last": True,
        "levels": 16,
        "max_fanin": 64,
        "randomize": False,
    }
    net, x = build(shape, 5)
    net.train()
    y = net(x)
    y.sum().backward()
    with torch.no_grad():
        np.testing.assert_array_equal(y.detach().numpy(), net(x).numpy())
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("vocab", [0, 7])
def test_graph_is_scheduled_and_prints_and_parses(vocab: int) -> None:
    shape = {
        "vocab": vocab,
        "proj": 5,
        "hidden": 3,
        "layers": 2,
        "second": 0,
        "nonlinearity": "relu",
        "dense": 4,
        "last": False,
        "levels": 16,
        "max_fanin": 64,
        "randomize": True,
    }
    net, _ = build(shape, 1)
    g = net.nsc_graph()
    g.verify()
    assert g.attrs["level"] == "scheduled" and g.attrs["window"] == 15
    again = nsc.parse_ir(nsc.print_ir(g))
    assert again.same_as(g)
    assert {n.op for n in g} >= {"embed" if vocab else "quantize_input", "qlinear", "synapses"}
