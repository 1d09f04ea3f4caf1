"""Options of nsc.constrain: user fan-in masks (the group mask, masks= honoured, bad masks
refused) and the signed embedding table (center_embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ctest_util import Net

import nsc
from nsc.errors import NscError
from nsc.train.constrain import group_mask, reference_logits


def test_group_mask_fits_is_full() -> None:
    mask = group_mask(47, 16, 64, 1)
    assert mask.shape == (16, 63) and mask.dtype == bool and bool(mask.all())


def test_group_mask_groups_share_inputs() -> None:
    mask = group_mask(32, 64, 64, 4)  # groups of 16: 32 inputs + own group + next group
    assert mask.shape == (64, 96)
    assert int(mask.sum(1).max()) == 64
    for g in range(4):
        rows = mask[g * 16 : (g + 1) * 16]
        assert bool((rows == rows[0]).all())
        own = slice(32 + g * 16, 32 + (g + 1) * 16)
        nxt = slice(32 + ((g + 1) % 4) * 16, 32 + ((g + 1) % 4 + 1) * 16)
        assert bool(rows[:, own].all()) and bool(rows[:, :32].all()) and bool(rows[:, nxt].all())
        assert int(rows[0].sum()) == 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((48, 128, 64, 3), "hidden % groups"),
        ((60, 16, 64, 2), r"inputs \+ hidden/groups"),
        ((4, 0, 64, 1), "positive"),
    ],
)
def test_group_mask_bad_shapes(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(NscError, match=message):
        group_mask(*args)


def data(n: int = 40, t: int = 3, f: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, t, f))
    return x, (x[:, :, 0].mean(1) > 0.5).astype(np.int64)


def test_masks_option_is_honoured() -> None:
    """8 neurons in 4 groups of 2 over 6 inputs, fan-in 8: every exported weight outside the
    mask is zero, and the mask is what the network keeps."""
    x, y = data()
    torch.manual_seed(0)
    model = Net(6, hidden=8, classes=2)
    mask = group_mask(6, 8, 8, 4)
    net = nsc.constrain(
        model,
        (x, y),
        masks=[mask],
        max_fanin=8,
        epochs=1,
        relax_epochs=0,
        progress=False,
        verbose=False,
    )
    np.testing.assert_array_equal(net.mask0.numpy(), mask)
    p = net.export_params()
    w = np.concatenate([p["w_in0"], p["w_rec0"]], 1)
    assert not w[~mask].any()
    assert net.fan_in() == [int((w != 0).sum(1).max())] and net.fan_in()[0] <= 8


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        ([np.ones((8, 13), bool)], r"shape \(8, 13\)"),
        ([np.ones((8, 14), bool)], "more than max_fanin"),
        ([np.ones((8, 14), bool)] * 2, "2 given"),
    ],
)
def test_bad_masks_are_clear_errors(masks: list[np.ndarray], message: str) -> None:
    x, y = data()
    model = Net(6, hidden=8, classes=2)
    with pytest.raises(NscError, match=message):
        nsc.constrain(
            model,
            (x, y),
            masks=masks,
            max_fanin=8,
            epochs=0,
            relax_epochs=0,
            progress=False,
            verbose=False,
        )


def test_center_embedding_is_a_signed_table_and_exact() -> None:
    """An embedding read by a projection: by default the table is round(e * s) centred on 0
    (127 at the largest |e| of each feature), with center_embedding=False an offset code in
    [0, 256); the network stays exact against the reference and the compiled cores."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 9, (40, 5))
    y = (ids[:, -1] % 2).astype(np.int64)
    torch.manual_seed(0)
    model = Net(4, vocab=9, proj=5, hidden=4, classes=2)
    opts = {"epochs": 1, "relax_epochs": 0, "progress": False, "verbose": False}
    plain = nsc.constrain(model, (ids, y), center_embedding=False, **opts)
    net = nsc.constrain(model, (ids, y), **opts)  # the default
    assert plain.table.min() >= 0
    table = net.table.numpy()
    emb = model.emb.weight.detach().double().numpy()
    scale = 127 / np.abs(emb).max(0)
    np.testing.assert_array_equal(table, np.floor(emb * scale + 0.5))
    assert table.min() < 0 and np.abs(table).max() == 127
    out = net.integer_logits(ids)
    params = net.export_params()
    for n in range(len(ids)):
        np.testing.assert_array_equal(out[n], reference_logits(params, ids[n])[-1])
    compiled = nsc.compile(net, ids[:4, :, None], time_limit=2.0)
    np.testing.assert_array_equal(compiled.run(ids[:, :, None])[:, -1], out)
