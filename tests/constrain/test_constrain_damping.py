"""``surrogate_damping``: the exact stage's gradient through long sequences stays bounded, the
forward pass (the integer function) does not change, and the option is checked and saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ctest_util import Net
from torch import nn

import nsc
from nsc.train.constrain.model import ConstrainedNet


def converted(damping: float, seed: int, steps: int = 60) -> tuple[ConstrainedNet, np.ndarray]:
    """A tanh RNN with a strong recurrent matrix, converted (no training), and its data."""
    rng = np.random.default_rng(seed)
    x = rng.random((64, steps, 3))
    y = rng.integers(0, 2, 64)
    torch.manual_seed(seed)
    model = Net(3, hidden=8, classes=2, nonlinearity="tanh")
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(4.0)
    net = nsc.constrain(
        model,
        (x, y),
        val=(x, y),
        epochs=0,
        relax_epochs=0,
        progress=False,
        verbose=False,
        surrogate_damping=damping,
    )
    return net, y


def exact_grads(net: ConstrainedNet, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, dict]:
    net.train()
    net.zero_grad()
    out = net(x)
    nn.functional.cross_entropy(out / net.logit_scale, torch.from_numpy(y)).backward()
    return out.detach(), {k: float(p.grad.norm()) for k, p in net.named_parameters()}


def test_damping_bounds_the_gradient_through_60_windows_and_keeps_the_forward() -> None:
    ratios = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.random((64, 60, 3))
        plain, y = converted(1.0, seed)
        damped, _ = converted(0.5, seed)
        out_plain, g_plain = exact_grads(plain, x, y)
        out_damped, g_damped = exact_grads(damped, x, y)
        # the forward is the integer function whatever the damping
        assert torch.equal(out_plain, out_damped)
        np.testing.assert_array_equal(damped.integer_logits(x), plain.integer_logits(x))
        # the readout's gradient does not go through time: unchanged
        assert g_damped["readout_w"] == pytest.approx(g_plain["readout_w"])
        # damped, the recurrent parameters' gradient stays below the readout's
        for name in ("w_in0", "w_rec0", "log_alpha0", "leak0"):
            assert g_damped[name] < g_damped["readout_w"], (seed, name, g_damped)
        ratios.append(g_plain["w_rec0"] / g_damped["w_rec0"])
    # undamped, at least one of these nets' gradients explodes through the 60 windows
    assert max(ratios) > 1e4, ratios


def test_damping_is_checked_and_saved() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 4, 3)), rng.integers(0, 2, 20)
    model = Net(3, hidden=3, classes=2)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(nsc.NscError, match="surrogate_damping"):
            nsc.constrain(model, (x, y), epochs=0, relax_epochs=0, surrogate_damping=bad)
    net = nsc.constrain(
        model,
        (x, y),
        epochs=1,
        relax_epochs=0,
        progress=False,
        verbose=False,
        surrogate_damping=0.25,
    )
    assert net.surrogate_damping == 0.25
    fresh = ConstrainedNet(net.spec, net.host_weight_max)
    assert fresh.surrogate_damping == 1.0  # the default: no damping
    fresh.load_state_dict(net.state_dict())
    assert fresh.surrogate_damping == 0.25
    np.testing.assert_array_equal(fresh.integer_logits(x), net.integer_logits(x))
