"""Fidelity to the float model is measured and lossy steps warn (issue 11 item 4; issue 10's
"inputs are not activities" case)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nsc
from nsc.errors import FidelityWarning, PassError


class Elman(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, hidden, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


def _model(n_in: int, hidden: int) -> Elman:
    torch.manual_seed(1)
    return Elman(n_in, hidden)


def test_fidelity_is_reported_for_a_float_model() -> None:
    x = np.random.default_rng(0).integers(0, 16, size=(32, 4, 5)).astype(np.float64)
    compiled = nsc.compile(_model(5, 8), x, time_limit=5)
    fid = compiled.fidelity
    assert fid is not None and fid.samples == 32
    (step,) = fid.steps  # fan-in 13 <= 64: quantize is the only lossy step
    assert step.step == "quantize" and 0.0 <= step.agreement <= 1.0
    assert step.relative_error >= 0.0
    assert "fidelity to the source model on 32 example input(s)" in fid.summary()
    assert "quantize" in compiled._repr_markdown_()
    assert repr(compiled).startswith("Compiled(1 core(s), inputs x[5], outputs")


def test_split_fanin_that_changes_the_function_warns() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 16, size=(48, 3, 120)).astype(np.float64)
    with pytest.warns(FidelityWarning, match="split-fanin changed the function"):
        compiled = nsc.compile(_model(120, 6), x, max_fanin=16, time_limit=5)
    steps = {s.step: s for s in compiled.fidelity.steps}
    split = steps["split-fanin"]
    assert split.agreement < 1.0 or split.relative_error > 0.0
    assert nsc.verify(compiled, x[:4]).agreement == 1.0  # still exact to its own integer model


def test_inputs_that_are_not_activities_warn_loudly() -> None:
    x = np.random.default_rng(0).random((16, 4, 5))  # floats in [0, 1)
    with pytest.warns(FidelityWarning, match=r"not integers, but the compiled network takes"):
        nsc.compile(_model(5, 8), x, time_limit=5)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((0, 4, 5)), "batch >= 1"),
        (np.zeros((3, 0, 5)), "steps >= 1"),
        (np.full((3, 4, 5), np.nan), "NaN"),
    ],
)
def test_bad_example_inputs_are_errors(x: np.ndarray, message: str) -> None:
    with pytest.raises(PassError, match=message):
        nsc.compile(_model(5, 8), x)


def test_fidelity_can_be_switched_off() -> None:
    x = np.random.default_rng(0).integers(0, 16, size=(8, 4, 5)).astype(np.float64)
    assert nsc.compile(_model(5, 8), x, time_limit=5, fidelity=False).fidelity is None


def test_sequences_of_different_lengths_calibrate_by_length() -> None:
    """Issue 11 item 3: a list of sequences (or a PackedSequence) is an example input; each
    length calibrates as it is, never through padding."""
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 16, size=(n, 5)).astype(np.float64) for n in (2, 7, 4, 7, 3)]
    compiled = nsc.compile(_model(5, 8), seqs, time_limit=5)
    assert compiled.fidelity is not None and compiled.fidelity.samples == 5
    by_length = [np.stack([s for s in seqs if len(s) == n]) for n in (2, 3, 4, 7)]
    again = nsc.compile(_model(5, 8), by_length[-1], time_limit=5)  # one length alone
    assert compiled.ir("quantize") != again.ir("quantize")  # all lengths took part
    packed = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    assert nsc.compile(_model(5, 8), packed, time_limit=5).ir() == compiled.ir()
    assert nsc.verify(compiled, seqs).agreement == 1.0
