"""The torch constrained forward and the plain-numpy ``integer_forward`` agree bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsc.demos.trec import (
    ConstrainedRNN,
    TrainResult,
    TrecData,
    export_integer_params,
    integer_forward,
    quantize_inputs,
)
from nsc.demos.trec.constrained import spike_simulate
from nsc_runtime import hw


def random_params(
    rng: np.random.Generator, proj: int, hidden: int, vocab: int, *, alpha_max: int = 200
) -> dict[str, Any]:
    """A random but valid integer parameter dict over the vocabulary ``w0, w1, ...``."""
    emb = rng.normal(0, 1.0, (vocab, 50)).astype(np.float32)
    emb[0] = 0.0
    return {
        "in_scale": float(127 / np.abs(emb).max()),
        "proj_w": rng.integers(-8, 8, (proj, 50)).astype(np.int32),
        "proj_b": rng.integers(-2000, 2000, proj).astype(np.int32),
        "proj_div": int(rng.integers(1, 300)),
        "w_in": rng.integers(-8, 8, (hidden, proj)).astype(np.int32),
        "w_rec": rng.integers(-8, 8, (hidden, hidden)).astype(np.int32),
        "alpha": rng.integers(1, alpha_max + 1, hidden).astype(np.int32),
        "leak": rng.integers(-255, 256, hidden).astype(np.int32),
        "readout_w": rng.integers(-1023, 1024, (6, hidden)).astype(np.int32),
        "readout_b": rng.integers(-5000, 5000, 6).astype(np.int32),
        "fan_in_mask": np.ones((hidden, proj + hidden), bool),
        "window": 15,
        "levels": 16,
        "vocab": [f"w{i}" for i in range(vocab)],
        "embedding": emb,
    }


def check_agreement(params: dict[str, Any], ids: np.ndarray) -> None:
    """``ids (B, T)``: every logit at every word equal in both implementations."""
    model = ConstrainedRNN.from_integer_params(params)
    torch_logits = model.integer_logits(torch.as_tensor(ids)).numpy()
    tokens = [[params["vocab"][i] for i in row] for row in ids]
    for b, x_q in enumerate(quantize_inputs(params, tokens)):
        np.testing.assert_array_equal(torch_logits[b], integer_forward(params, x_q))


def test_round_trip_of_integer_params() -> None:
    params = random_params(np.random.default_rng(0), 9, 5, 20)
    again = export_integer_params(ConstrainedRNN.from_integer_params(params))
    for key, value in params.items():
        if isinstance(value, np.ndarray):
            assert again[key].dtype == value.dtype, key
            np.testing.assert_array_equal(again[key], value, err_msg=key)
        else:
            assert again[key] == value, key


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    proj=st.integers(1, 12),
    hidden=st.integers(1, 10),
    batch=st.integers(1, 4),
    length=st.integers(1, 9),
    alpha_max=st.sampled_from([1, 8, 60, 2000, hw.ALPHA_MAX]),
)
def test_random_models_agree(
    seed: int, proj: int, hidden: int, batch: int, length: int, alpha_max: int
) -> None:
    rng = np.random.default_rng(seed)
    params = random_params(rng, proj, hidden, 30, alpha_max=alpha_max)
    check_agreement(params, rng.integers(0, 30, (batch, length)))


def test_hand_computed_window_and_delay() -> None:
    """One input at activity 15 into one neuron (w = 3, alpha = 5): 45 units -> 9 spikes and
    a residual 0; word 2 has no input, and the recurrent synapse (w = 5) replays word 1's
    spike train 15 ticks later: 9 spikes again."""
    params = random_params(np.random.default_rng(1), 1, 1, 2)
    params.update(
        proj_w=np.zeros((1, 50), np.int32),
        proj_b=np.array([15], np.int32),
        proj_div=1,
        w_in=np.array([[3]], np.int32),
        w_rec=np.array([[5]], np.int32),
        alpha=np.array([5], np.int32),
        leak=np.array([0], np.int32),
        readout_w=np.ones((6, 1), np.int32),
        readout_b=np.zeros(6, np.int32),
    )
    out = integer_forward(params, np.zeros((1, 50), np.int64))
    assert out[:, 0].tolist() == [9]
    params["proj_b"] = np.array([15], np.int32)
    x = np.zeros((2, 50), np.int64)
    # word 2 input off: make the projection depend on x so that word 2 has p = 0
    params["proj_w"] = np.zeros((1, 50), np.int32)
    params["proj_w"][0, 0] = -1
    x[1, 0] = 100
    assert integer_forward(params, x)[:, 0].tolist() == [9, 9]
    check_agreement(params, np.array([[0, 1]]))


def test_membrane_saturates_at_register_limit() -> None:
    """alpha = 1 and a drive of 688 per tick (one spike per tick removes only 1): V climbs to
    V_MAX by word 39 and stays; both implementations clamp it identically."""
    params = random_params(np.random.default_rng(2), 60, 2, 2)
    params.update(
        proj_w=np.zeros((60, 50), np.int32),
        proj_b=np.full(60, 15, np.int32),
        proj_div=1,
        w_in=np.full((2, 60), 7, np.int32),
        w_rec=np.full((2, 2), 7, np.int32),
        alpha=np.ones(2, np.int32),
        leak=np.full(2, 255, np.int32),
    )
    p = torch.full((1, 50, 60), 15.0)
    _, v_start = spike_simulate(
        p, *(torch.as_tensor(params[k]) for k in ("w_in", "w_rec", "alpha", "leak"))
    )
    assert v_start[0, -1].tolist() == [hw.V_MAX] * 2
    check_agreement(params, np.zeros((1, 50), np.int64))


def test_trained_model_agrees_on_every_test_question(tiny: TrainResult, trec: TrecData) -> None:
    params = export_integer_params(tiny.model)
    model = ConstrainedRNN.from_integer_params(params)
    torch_logits = model.integer_logits(trec.test.ids).numpy()
    last = trec.test.lengths.numpy() - 1
    xs = quantize_inputs(params, trec.test.tokens)
    for n, x_q in enumerate(xs):
        ref = integer_forward(params, x_q)
        np.testing.assert_array_equal(torch_logits[n, : last[n] + 1], ref)
    direct = tiny.model.integer_logits(trec.test.ids).numpy()
    np.testing.assert_array_equal(direct, torch_logits)
