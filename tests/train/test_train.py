"""Training: a tiny run learns, is deterministic with a seed, and checkpoints round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nsc.demos.trec import (
    TrainResult,
    TrecData,
    accuracy,
    export_integer_params,
    load_checkpoint,
    train,
)


@pytest.fixture(scope="module")
def runs(tiny: TrainResult, small: TrecData) -> list[TrainResult]:
    """The session's tiny run, the same again, and the same with seed 1."""
    return [
        tiny,
        train(tiny.config, small, seed=0, progress=False),
        train(tiny.config, small, seed=1, progress=False),
    ]


def test_loss_decreases(runs: list[TrainResult]) -> None:
    for stage in ("float", "constrain"):
        losses = [h["loss"] for h in runs[0].history if h["stage"] == stage]
        assert len(losses) == 3 and losses[-1] < losses[0], stage


def test_result_fields(runs: list[TrainResult]) -> None:
    result = runs[0]
    for key in ("float_val", "float_test", "constrained_val", "constrained_test"):
        assert 0.0 <= result.accuracy[key] <= 1.0
    assert set(result.seconds) == {"float", "constrained", "train"}
    summary = result.model.summary
    assert summary.cores_estimate == 1 and summary.fan_in[0] <= 63
    assert result.accuracy["constrained_val"] == summary.val_accuracy


def test_deterministic_with_seed(runs: list[TrainResult], small: TrecData) -> None:
    a, b, c = (export_integer_params(r.model, small.vocab) for r in runs)
    keys = ("proj_w", "proj_b", "w_in", "w_rec", "alpha", "leak", "readout_w", "readout_b")
    for key in keys:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert any(not np.array_equal(a[k], c[k]) for k in keys)
    assert runs[0].accuracy == runs[1].accuracy


def test_checkpoint_round_trip(runs: list[TrainResult], small: TrecData, tiny_dir: Path) -> None:
    assert sorted(p.name for p in tiny_dir.iterdir()) == ["checkpoint.pt"]  # no temp files
    loaded = load_checkpoint(tiny_dir / "checkpoint.pt")
    assert loaded.config == runs[0].config and loaded.seed == 0
    a = export_integer_params(runs[0].model, small.vocab)
    b = export_integer_params(loaded.model, small.vocab)
    for key, value in a.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, b[key], err_msg=key)
    assert accuracy(loaded.float_model, small.val) == runs[0].accuracy["float_val"]
    assert accuracy(loaded.model, small.test) == runs[0].accuracy["constrained_test"]


def test_learned_embeddings_option(tiny: TrainResult, small: TrecData) -> None:
    """With learn_embeddings the word vectors are trained with the float model, and the host
    lookup of the constrained network (so the compiled network) is built from the float
    model's table, not from GloVe."""
    from nsc.demos.trec import with_overrides

    cfg = with_overrides(tiny.config, learn_embeddings=True, float_epochs=2, epochs=1)
    learned = train(cfg, small, seed=0, progress=False)
    assert learned.float_model.embed.weight.requires_grad
    assert not tiny.float_model.embed.weight.requires_grad
    table = learned.float_model.embed.weight.detach().numpy()
    assert not np.shares_memory(table, small.embedding)  # training never edits the data
    assert not np.allclose(table, small.embedding)
    frozen = export_integer_params(tiny.model, small.vocab)["table"]
    params = export_integer_params(learned.model, small.vocab)
    assert not np.array_equal(params["table"], frozen)
    # the integer table is an affine quantization of the float table, feature by feature:
    # its ranks agree with the learned table's within every feature
    for f in range(3):
        order = np.argsort(table[:, f], kind="stable")
        assert (np.diff(params["table"][order, f]) >= 0).all()


def test_group_config_keeps_its_mask(small: TrecData) -> None:
    """A `best`-style config (groups sharing their inputs): the float model trains under the
    group mask and nsc.constrain keeps exactly that mask."""
    from nsc.demos.trec import CONFIGS, with_overrides
    from nsc.train.constrain import group_mask

    cfg = with_overrides(
        CONFIGS["best"], proj=8, hidden=16, groups=4, fan_in=12, float_epochs=1, epochs=1
    )
    result = train(cfg, small, seed=0, progress=False)
    mask = group_mask(8, 16, 12, 4)
    assert not mask.all()
    np.testing.assert_array_equal(result.model.mask0.numpy(), mask)
    fm = result.float_model.rnn
    w_float = np.concatenate(
        [fm.weight_ih_l0.detach().numpy(), fm.weight_hh_l0.detach().numpy()], 1
    )
    assert not w_float[~mask].any()
    params = export_integer_params(result.model, small.vocab)
    assert not np.concatenate([params["w_in"], params["w_rec"]], 1)[~mask].any()
