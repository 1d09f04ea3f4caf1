"""Gated layers under group masks (groups of units sharing one input set, so a group packs onto
a core) are exact: compile -> verify agreement 1.0 and the module's integer logits equal the
runtime's; and ``estimate_cores`` counts a gated layer's state neurons, their copies and the
replicas the state's fan-out needs, never above the compiled count."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import nsc
from nsc.errors import NscError
from nsc.train.constrain import estimate_cores, group_mask
from nsc.train.constrain.convert import constrained_from_float, parse_model
from nsc.train.constrain.gated import gated_group_mask, mask_float_rnn


class OneLayer(nn.Module):
    """``nn.RNN`` (relu) / ``nn.GRU`` / ``nn.LSTM`` -> Linear, read at the last step."""

    def __init__(self, cell: str, inputs: int, hidden: int, classes: int = 3) -> None:
        super().__init__()
        if cell == "RNN":
            self.rnn: nn.Module = nn.RNN(inputs, hidden, nonlinearity="relu", batch_first=True)
        else:
            self.rnn = getattr(nn, cell)(inputs, hidden, batch_first=True)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(x)[0][:, -1])


def test_gated_group_mask_is_the_group_mask_on_keep_and_write_rows() -> None:
    mask = gated_group_mask(6, 8, 10, 2)
    plain = group_mask(6, 8, 10, 2)
    assert mask.shape == (16, 14)
    np.testing.assert_array_equal(mask[:8], plain)
    np.testing.assert_array_equal(mask[8:], plain)
    # 6 inputs + the own group of 4: group 0 reads states 0-3, group 1 states 4-7
    assert mask[0, 6:].tolist() == [True] * 4 + [False] * 4
    assert mask[12, 6:].tolist() == [False] * 4 + [True] * 4
    assert gated_group_mask(3, 4, 64, 2).all()  # everything fits: no mask


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
def test_mask_float_rnn_zeroes_every_gate_block_outside_the_mask(cell: str) -> None:
    torch.manual_seed(0)
    model = OneLayer(cell, 6, 8)
    mask = group_mask(6, 8, 10, 2)
    mask_float_rnn(model.rnn, mask if cell == "RNN" else gated_group_mask(6, 8, 10, 2))
    blocks = {"RNN": 1, "GRU": 3, "LSTM": 4}[cell]
    w_ih = model.rnn.weight_ih_l0.detach().numpy().reshape(blocks, 8, 6)
    w_hh = model.rnn.weight_hh_l0.detach().numpy().reshape(blocks, 8, 8)
    for b in range(blocks):
        assert not w_ih[b][~mask[:, :6]].any() and not w_hh[b][~mask[:, 6:]].any()
        assert w_hh[b][mask[:, 6:]].all()  # the kept weights are untouched (nonzero at init)


def test_mask_float_rnn_refuses_masks_without_a_float_form() -> None:
    model = OneLayer("GRU", 6, 8)
    mask = gated_group_mask(6, 8, 10, 2)
    mask[0, 6] = not mask[0, 6]  # keep gate 0 and write unit 0 differ
    with pytest.raises(NscError, match="keep and write rows differ"):
        mask_float_rnn(model.rnn, mask)
    with pytest.raises(NscError, match="the layer needs"):
        mask_float_rnn(model.rnn, np.ones((8, 10), bool))


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_a_group_masked_gated_layer_compiles_exactly(cell: str) -> None:
    """A float GRU/LSTM trained under a gated group mask (12 inputs, 16 units in 4 groups
    of 4, max_fanin 16: each group reads the inputs and its own states), then nsc.constrain
    with that mask (relax and exact epochs): the mask holds on every keep gate and write
    unit, the module's integer logits equal the compiled runtime's and verify agrees 1.0."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    inputs, hidden, fanin = 12, 16, 16
    model = OneLayer(cell, inputs, hidden)
    mask = gated_group_mask(inputs, hidden, fanin, 4)
    mask_float_rnn(model.rnn, mask)
    x = rng.normal(0, 1, (40, 6, inputs)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = nsc.constrain(
            model.eval(),
            (x, y),
            epochs=1,
            relax_epochs=1,
            lr=1e-2,
            max_fanin=fanin,
            masks=[mask],
            progress=False,
            verbose=False,
        )
    assert net.spec.layers[0].gated
    w_in, w_rec = net.q_weights(0)
    assert w_rec is not None
    w = torch.cat([w_in, w_rec], 1).detach().numpy()
    assert not w[~mask].any() and w[mask].any()
    assert net.fan_in() == [16]
    compiled = nsc.compile(net, x[:8], max_fanin=fanin, time_limit=5.0)
    np.testing.assert_array_equal(compiled.run(x, last=True), net.integer_logits(x))
    assert nsc.verify(compiled, x[:16]).agreement == 1.0
    assert estimate_cores(net) <= compiled.n_cores


# (cell, inputs, hidden, groups, max_fanin): one core, one core only if the state neurons are
# left out (4 + 48 sources, but 96 keep/write units + 48 states + 48 copies + the states'
# replicas need 2), and group-masked layers of several cores
CORE_CASES = [
    ("GRU", 8, 16, 1, 64),
    ("LSTM", 4, 48, 1, 64),
    ("GRU", 48, 48, 3, 64),
    ("LSTM", 4, 64, 4, 64),
    ("RNN", 48, 64, 4, 64),
]


@pytest.mark.parametrize(("cell", "inputs", "hidden", "groups", "fanin"), CORE_CASES)
def test_estimate_cores_counts_state_neurons_and_stays_at_or_below_the_compiled_count(
    cell: str, inputs: int, hidden: int, groups: int, fanin: int
) -> None:
    torch.manual_seed(0)
    model = OneLayer(cell, inputs, hidden)
    if cell == "RNN":
        mask = group_mask(inputs, hidden, fanin, groups)
    else:
        mask = gated_group_mask(inputs, hidden, fanin, groups)
    mask_float_rnn(model.rnn, mask)
    with torch.no_grad():  # weights large enough that none rounds to zero at the start
        for p in model.rnn.parameters():
            p.mul_(4)
    x = np.random.default_rng(0).random((16, 4, inputs))
    net = constrained_from_float(
        parse_model(model.eval(), inputs), x, levels=16, max_fanin=fanin, masks=[mask]
    )
    estimate = estimate_cores(net)
    compiled = nsc.compile(net, x[:2], max_fanin=fanin, time_limit=5.0)
    assert estimate <= compiled.n_cores
    if cell != "RNN":  # every trained unit, state and copy is at least one slot
        assert estimate >= -(-4 * hidden // 256)
    if (cell, inputs, hidden) == ("LSTM", 4, 48):
        assert estimate == compiled.n_cores == 2  # the former estimate said 1
