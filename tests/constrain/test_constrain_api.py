"""nsc.constrain end to end on tiny data: data forms, errors, determinism, exactness after
training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ctest_util import Net
from torch.utils.data import DataLoader, Dataset, TensorDataset

import nsc
from nsc.ops.host_input import Embed, QuantizeInput
from nsc.train.constrain import DataError, as_seqdata


def tiny_task(n: int = 60, t: int = 4, f: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, t, f))
    y = (x[:, :, 0].mean(1) > 0.5).astype(np.int64)
    return x, y


def run(model: torch.nn.Module, data: object, **kw: object) -> nsc.train.constrain.ConstrainedNet:
    opts = {"epochs": 1, "relax_epochs": 1, "progress": False, "verbose": False}
    opts.update(kw)
    return nsc.constrain(model, data, **opts)


def test_deterministic_for_a_seed_and_exact_after_training() -> None:
    x, y = tiny_task()
    torch.manual_seed(0)
    model = Net(3, hidden=5, classes=2)
    a = run(model, (x, y), seed=3)
    b = run(model, (x, y), seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb), ka
    s = a.summary
    assert len(s.history) == 2 and s.cores_estimate == 1 and s.fan_in == [8]
    compiled = nsc.compile(a, x[:8], time_limit=2.0)
    np.testing.assert_array_equal(compiled.run(x)[:, -1], a.integer_logits(x))


def test_data_forms_are_read_alike() -> None:
    x, y = tiny_task(n=10)
    pair = as_seqdata((x, y))
    tensors = as_seqdata((torch.tensor(x), torch.tensor(y)))
    ds = as_seqdata(TensorDataset(torch.tensor(x), torch.tensor(y)))
    dl = as_seqdata(DataLoader(TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=3))
    for other in (tensors, ds, dl):
        np.testing.assert_array_equal(other.x, pair.x)
        np.testing.assert_array_equal(other.y, pair.y)
        np.testing.assert_array_equal(other.lengths, pair.lengths)


class Ragged(Dataset):
    def __init__(self) -> None:
        self.items = [(np.ones((n, 2)) * n, n % 2) for n in (1, 3, 2)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.items[i]


def test_ragged_dataset_is_padded_with_lengths() -> None:
    d = as_seqdata(Ragged())
    assert d.x.shape == (3, 3, 2)
    np.testing.assert_array_equal(d.lengths, [1, 3, 2])
    np.testing.assert_array_equal(d.x[0, 1:], 0)


def test_embedding_model_and_per_step_labels() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 9, (40, 5))
    y = (ids % 2).astype(np.int64)  # a label per step
    torch.manual_seed(0)
    model = Net(4, vocab=9, proj=5, hidden=4, classes=2, last=False)
    net = run(model, (ids, y))
    out = net.integer_logits(ids)
    assert out.shape == (40, 5, 2)
    compiled = nsc.compile(net, ids[:4, :, None], time_limit=2.0)
    np.testing.assert_array_equal(compiled.run(ids[:, :, None]), out)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (torch.nn.LSTM(3, 4, batch_first=True, proj_size=2), "proj_size=2 is not supported"),
        (torch.nn.GRU(3, 2, batch_first=True, bidirectional=True), "bidirectional GRU"),
        (torch.nn.Conv1d(3, 4, 1), "unsupported layer"),
    ],
)
def test_unsupported_layer_is_a_clear_error(layer: torch.nn.Module, message: str) -> None:
    class Bad(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = layer
            self.out = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(x)[0])

    x, y = tiny_task()
    with pytest.raises(nsc.NscError, match=message):
        run(Bad(), (x, y))


class NoReadout(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(3, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][:, -1]


def test_model_without_readout_or_rnn_is_refused() -> None:
    x, y = tiny_task()
    with pytest.raises(nsc.NscError, match="readout"):
        run(NoReadout(), (x, y))
    with pytest.raises(nsc.NscError, match="cores"):
        mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        run(mlp, (x, y))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda x, y: (x[..., :2], y), "features"),
        (lambda x, y: (x, y[:-1]), "labels"),
        (lambda x, y: (x, y + 5), "outputs"),
        (lambda x, y: (x, y.astype(np.float64) + 0.5), "integer"),
        (lambda x, y: (x[0, 0], y), "must be"),
        (lambda x, y: (x, np.stack([y] * 4, 1)), "per-sequence"),
    ],
)
def test_bad_data_is_a_clear_error(mutate: object, message: str) -> None:
    x, y = tiny_task()
    torch.manual_seed(0)
    model = Net(3, hidden=3, classes=2)
    bad = mutate(x, y)  # type: ignore[operator]
    with pytest.raises(nsc.NscError, match=message):
        run(model, bad)


def test_nan_in_place_is_refused() -> None:
    x, y = tiny_task()
    x[1, 2, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        run(Net(3, hidden=3, classes=2), (x, y))


def test_bad_options_are_clear_errors() -> None:
    x, y = tiny_task()
    model = Net(3, hidden=3, classes=2)
    with pytest.raises(nsc.NscError, match="levels"):
        run(model, (x, y), levels=17)
    with pytest.raises(nsc.NscError, match="max_fanin"):
        run(model, (x, y), max_fanin=65)


def test_host_ops_evaluate_and_refuse_bad_inputs() -> None:
    q = QuantizeInput("q", source="x", scale=np.array([2.0]), offset=np.array([0.5]), levels=4)
    out = q.evaluate([np.array([[[-1.0], [0.3], [0.76], [9.0]]])])
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 2, 3])
    with pytest.raises(nsc.NscError, match="NaN"):
        q.evaluate([np.array([[[np.nan]]])])
    e = Embed("e", source="x", table=np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(e.evaluate([np.array([[[1], [0]]])])[0], [[3, 4], [1, 2]])
    with pytest.raises(nsc.NscError, match="token ids"):
        e.evaluate([np.array([[[2]]])])


def test_ladder_on_ragged_sequences_agrees() -> None:
    from nsc.train.constrain.data import SeqData
    from nsc.train.constrain.report import ladder

    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 6, 40)
    x = rng.random((40, 5, 3))
    x[np.arange(5)[None, :] >= lengths[:, None]] = 0.0
    data = SeqData(x, lengths, (x[:, 0, 0] > 0.5).astype(np.int64))
    torch.manual_seed(0)
    model = Net(3, proj=4, hidden=5, classes=2)
    net = run(model, data)
    r = ladder(model, net, data, task="ragged")
    assert r["agreement"] == 1.0
    assert r["spiking_accuracy"] == r["constrained_accuracy"]
    assert r["ptq_accuracy"] is not None and r["cores"] == 1
