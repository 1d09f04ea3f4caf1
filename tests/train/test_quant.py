"""Quantizers and straight-through estimators stay in range; the fan-in mask holds."""

from __future__ import annotations

import numpy as np
import torch

from nsc.demos.trec import CONFIGS, ConstrainedRNN, TrecData, export_integer_params, with_overrides
from nsc.demos.trec.constrained import ste_round
from nsc.demos.trec.convert import best_scale, fan_in_mask
from nsc_runtime import hw


def wild_model(trec: TrecData, proj: int = 10, hidden: int = 6) -> ConstrainedRNN:
    """A model whose latent parameters lie far outside every representable range."""
    torch.manual_seed(0)
    model = ConstrainedRNN(trec.vocab, trec.embedding, 29.0, proj, hidden, 6, 37)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 50.0)
        model.log_alpha.uniform_(-5, 20)
    return model


def test_ste_round_forward_and_gradient() -> None:
    x = torch.tensor([-1.5, -0.4, 0.5, 2.6], requires_grad=True)
    y = ste_round(x)
    assert y.tolist() == [-2.0, -0.0, 0.0, 3.0]
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_quantized_parameters_in_range(trec: TrecData) -> None:
    model = wild_model(trec)
    for _ in range(2):  # before and after clamping the latent parameters
        params = export_integer_params(model)
        for key in ("proj_w", "w_in", "w_rec"):
            assert params[key].min() >= -8 and params[key].max() <= 7, key
        assert params["alpha"].min() >= 1 and params["alpha"].max() <= hw.ALPHA_MAX
        assert np.abs(params["leak"]).max() <= 255
        for key in ("proj_w", "proj_b", "w_in", "w_rec", "alpha", "leak", "readout_w"):
            assert params[key].dtype == np.int32, key
        model.clamp_latent_()


def test_clamp_latent_keeps_within_half_a_step(trec: TrecData) -> None:
    model = wild_model(trec)
    model.clamp_latent_()
    alpha = model.q_alpha()[:, None]
    assert (model.w_in * alpha).abs().max() <= 8.5 + 1e-4
    assert (model.proj_w * model.proj_div).abs().max() <= 8.5 + 1e-4


def test_projection_levels_and_gradient(trec: TrecData) -> None:
    model = wild_model(trec)
    ids = trec.test.ids[:16]
    p = model.project(ids)
    assert p.min() >= 0 and p.max() <= 15 and torch.equal(p, p.round())
    p.sum().backward()
    assert model.proj_w.grad is not None and model.proj_w.grad.abs().sum() > 0


def test_hidden_counts_are_spike_counts_with_gradients(trec: TrecData) -> None:
    model = wild_model(trec)
    model.clamp_latent_()
    ids, lengths, labels = trec.test.take(torch.arange(8))
    h = model.hidden(model.project(ids))
    assert h.min() >= 0 and h.max() <= 15 and torch.equal(h, h.round())
    torch.nn.functional.cross_entropy(model(ids, lengths), labels).backward()
    for name in ("w_in", "w_rec", "log_alpha", "leak", "readout_w"):
        grad = getattr(model, name).grad
        assert grad is not None and torch.isfinite(grad).all(), name


def test_best_scale_minimises_weighted_error() -> None:
    # row 0: scale 8 gives 4, -2, 1 exactly (16 would clip 8 to 7);
    # row 1: scale 2 gives 7, 1, -2 exactly (1 rounds 3.5 to 4; 4 clips 14 to 7)
    w = torch.tensor([[0.5, -0.25, 0.125], [3.5, 0.5, -1.0]])
    assert best_scale(w, torch.ones(3), 64).tolist() == [8.0, 2.0]


def test_fan_in_mask_paper_is_full() -> None:
    mask = fan_in_mask(47, 16, 64, 1)
    assert mask.shape == (16, 63) and bool(mask.all())


def test_fan_in_mask_groups_share_inputs() -> None:
    mask = fan_in_mask(32, 64, 64, 4)  # groups of 16: 32 inputs + own group + next group
    assert mask.shape == (64, 96)
    assert int(mask.sum(1).max()) <= 64
    for g in range(4):
        rows = mask[g * 16 : (g + 1) * 16]
        assert bool((rows == rows[0]).all())
        own = slice(32 + g * 16, 32 + (g + 1) * 16)
        assert bool(rows[:, own].all()) and bool(rows[:, :32].all())


def test_fan_in_mask_respected_by_exported_weights(trec: TrecData) -> None:
    cfg = with_overrides(CONFIGS["best"], proj=32, hidden=64, groups=4)
    mask = fan_in_mask(cfg.proj, cfg.hidden, cfg.fan_in, cfg.groups)
    model = ConstrainedRNN(trec.vocab, trec.embedding, 29.0, 32, 64, 6, 37, mask)
    with torch.no_grad():
        model.log_alpha.fill_(float(np.log(10.0)))
        model.w_in.fill_(0.3)
        model.w_rec.fill_(-0.3)
    params = export_integer_params(model)
    weights = np.concatenate([params["w_in"], params["w_rec"]], 1)
    assert ((weights != 0).sum(1) <= 64).all()
    assert not weights[~params["fan_in_mask"]].any()
    assert (weights[params["fan_in_mask"]] != 0).all()
