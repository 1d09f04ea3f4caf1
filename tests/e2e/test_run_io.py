"""The model's own language in and out (issue 11 items 2 and 3): `nsc run model.corelet
--input x.npz -o y.npz`, `Compiled.run/reference` and `nsc.verify` on arrays, lists of
sequences of different lengths and PackedSequences, each sequence's own last step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nsc
from nsc.cli import main
from nsc.compiler import Compiled
from nsc.io import as_sequences, output_scale
from nsc.ir import CoreOutput
from nsc_runtime import sim
from nsc_runtime.spikecode import run_ticks

torch = pytest.importorskip("torch")
nn = torch.nn

FEATURES, HIDDEN, CLASSES, LEVELS = 3, 6, 2, 16


class LastStep(nn.Module):
    """An Elman RNN classifier on the last step: what the tutorial's user trains."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(FEATURES, HIDDEN, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: Any) -> Any:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


class EveryStep(LastStep):
    """The same network returning every step (readout "all")."""

    def forward(self, x: Any) -> Any:
        out, _ = self.rnn(x)
        return self.fc(out)


def activities(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, LEVELS, size=shape)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    example = activities(rng, 16, 6, FEATURES).astype(np.float64)
    root = tmp_path_factory.mktemp("run_io")
    out: dict[str, Any] = {"root": root}
    for name, cls in (("last", LastStep), ("all", EveryStep)):
        model = cls().eval()
        compiled = nsc.compile(model, example, time_limit=2)
        compiled.save(root / f"{name}.corelet")
        out[name] = (model, compiled)
    return out


def nsc_run(corelet: Path, x_file: Path, out: Path, *extra: str) -> dict[str, np.ndarray]:
    assert main(["run", str(corelet), "--input", str(x_file), "-o", str(out), *extra]) == 0
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


# -- nsc run in model mode ------------------------------------------------------------------


def test_nsc_run_gives_the_models_last_step(models: dict[str, Any], tmp_path: Path) -> None:
    _, compiled = models["last"]
    assert compiled.host.attrs["readout"] == "last"
    x = activities(np.random.default_rng(1), 5, 7, FEATURES)
    np.savez(tmp_path / "x.npz", x=x)
    got = nsc_run(models["root"] / "last.corelet", tmp_path / "x.npz", tmp_path / "y.npz")
    every = compiled.run(x)
    assert every.shape == (5, 7, CLASSES)
    np.testing.assert_array_equal(got["y"], every[:, -1])
    np.testing.assert_array_equal(got["y"], compiled.run(x, last=True))
    np.testing.assert_array_equal(got["lengths"], [7] * 5)
    assert got["y"].dtype == np.int64
    # ticks are derived: no --ticks given, every sequence ran its steps and the count offset
    offsets = [o.offset for o in compiled.host.of_type(CoreOutput)]
    assert int(got["@ticks"]) == 5 * run_ticks(7, compiled.host.window, offsets)
    _, stats = compiled.run(x, stats=True)
    assert int(got["@synaptic_events"]) == stats.synaptic_events > 0
    assert float(got["scale"]) == output_scale(compiled.host)


def test_scale_maps_integers_to_the_float_model(models: dict[str, Any], tmp_path: Path) -> None:
    model, _ = models["last"]
    x = activities(np.random.default_rng(2), 32, 6, FEATURES)
    np.save(tmp_path / "x.npy", x)  # a plain .npy is the model's inputs too
    got = nsc_run(models["root"] / "last.corelet", tmp_path / "x.npy", tmp_path / "y.npz")
    with torch.no_grad():
        want = model(torch.tensor(x, dtype=torch.float32)).numpy()
    approx = got["y"] * got["scale"]
    # a wrong unit (a factor of the window, 15, or of the weight range, 127) fails this
    ratio = float(np.sum(approx * want) / np.sum(approx * approx))
    assert 0.5 < ratio < 2.0
    assert np.corrcoef(approx.ravel(), want.ravel())[0, 1] > 0.9


def test_nsc_run_every_step_and_lengths(models: dict[str, Any], tmp_path: Path) -> None:
    _, compiled = models["all"]
    assert compiled.host.attrs["readout"] == "all"
    rng = np.random.default_rng(3)
    x = activities(rng, 4, 6, FEATURES)
    lengths = np.array([6, 2, 5, 1])
    np.savez(tmp_path / "x.npz", x=x, lengths=lengths)
    got = nsc_run(models["root"] / "all.corelet", tmp_path / "x.npz", tmp_path / "y.npz")
    assert got["y"].shape == (4, 6, CLASSES)
    for i, n in enumerate(lengths):
        np.testing.assert_array_equal(got["y"][i, :n], compiled.run(x[i, :n])[0])
        assert not got["y"][i, n:].any()  # padded past each sequence's end
    np.testing.assert_array_equal(got["lengths"], lengths)


def test_nsc_run_lengths_give_each_sequences_own_last_step(
    models: dict[str, Any], tmp_path: Path
) -> None:
    _, compiled = models["last"]
    x = activities(np.random.default_rng(4), 3, 5, FEATURES)
    lengths = np.array([2, 5, 3])
    np.savez(tmp_path / "x.npz", x=x, lengths=lengths)
    got = nsc_run(models["root"] / "last.corelet", tmp_path / "x.npz", tmp_path / "y.npz")
    for i, n in enumerate(lengths):
        np.testing.assert_array_equal(got["y"][i], compiled.run(x[i, :n])[0, -1])


def test_raw_mode_still_drives_the_ports(models: dict[str, Any], tmp_path: Path) -> None:
    _, compiled = models["last"]
    port = compiled.corelet.inputs[0]
    spikes = (np.random.default_rng(5).random((40, len(port.lines))) < 0.3).astype(np.uint8)
    np.savez(tmp_path / "in.npz", **{port.name: spikes})
    got = nsc_run(models["root"] / "last.corelet", tmp_path / "in.npz", tmp_path / "o.npz", "--raw")
    want = sim.run(compiled.corelet, {port.name: spikes}, 40)
    for name, train in want.spikes.items():
        np.testing.assert_array_equal(got[name], train)
    assert int(got["@ticks"]) == 40


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((2, 4, FEATURES + 1))}, f"takes {FEATURES} features per step, got 4"),
        ({"x": np.full((2, 4, FEATURES), np.nan)}, "NaN"),
        ({"x": -np.ones((2, 4, FEATURES), np.int64)}, f"activities must lie in [0, {LEVELS})"),
        ({"x": np.full((2, 4, FEATURES), LEVELS)}, f"activities must lie in [0, {LEVELS})"),
        ({"x": np.full((2, 4, FEATURES), 0.5)}, "integer activities"),
        ({"inputs": np.zeros((2, 4, FEATURES))}, "has no array 'x'"),
        ({"x": np.zeros((2, 4, FEATURES)), "y": np.zeros(2)}, "unexpected arrays 'y'"),
        ({"x": np.zeros((2, 4, FEATURES)), "lengths": np.array([1, 5])}, "must lie in [1, 4]"),
        ({"x": np.zeros((2, 4, FEATURES)), "lengths": np.array([1])}, "expected 2 integers"),
        ({"x": np.zeros((2, 4)), "lengths": np.array([1, 2])}, "with lengths, expected shape"),
        ({"x": np.zeros((2, 0, FEATURES))}, "0 steps"),
        ({"x": np.zeros((0, 4, FEATURES))}, "empty batch"),
        ({"x": np.array(["a", "b"])}, "expected numbers"),
    ],
)
def test_nsc_run_bad_inputs_one_clear_error(
    models: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arrays: dict[str, np.ndarray],
    message: str,
) -> None:
    np.savez(tmp_path / "x.npz", **arrays)
    out = tmp_path / "y.npz"
    corelet = models["root"] / "last.corelet"
    assert main(["run", str(corelet), "--input", str(tmp_path / "x.npz"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nsc: error:") and err.count("\n") == 1, err
    assert message in err, err
    assert not out.exists()


# -- the Python API -------------------------------------------------------------------------


def test_variable_lengths_equal_each_sequence_alone(models: dict[str, Any]) -> None:
    _, compiled = models["last"]
    rng = np.random.default_rng(6)
    seqs = [activities(rng, n, FEATURES) for n in (4, 1, 6, 4, 2)]
    run_list = compiled.run(seqs)
    ref_list = compiled.reference(seqs)
    assert isinstance(run_list, list) and [y.shape for y in run_list] == [
        (n, CLASSES) for n in (4, 1, 6, 4, 2)
    ]
    last = compiled.run(seqs, last=True)
    assert last.shape == (5, CLASSES)
    for i, s in enumerate(seqs):
        alone = compiled.run(s)[0]
        np.testing.assert_array_equal(run_list[i], alone)
        np.testing.assert_array_equal(ref_list[i], compiled.reference(s)[0])
        np.testing.assert_array_equal(last[i], alone[-1])  # its own last step
    np.testing.assert_array_equal(compiled.reference(seqs, last=True), last)
    # counters add up over the groups of equal length
    _, stats = compiled.run(seqs, stats=True)
    singles = [compiled.run(s, stats=True)[1] for s in seqs]
    assert stats.synaptic_events == sum(s.synaptic_events for s in singles)
    assert stats.ticks == sum(s.ticks for s in singles)


def test_verify_variable_lengths(models: dict[str, Any]) -> None:
    _, compiled = models["all"]
    rng = np.random.default_rng(7)
    seqs = [activities(rng, n, FEATURES) for n in (3, 5, 3)]
    report = nsc.verify(compiled, seqs)
    assert report.exact and report.outputs_compared == (3 + 5 + 3) * CLASSES


def test_verify_variable_lengths_numbers_inputs_as_given(
    models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, compiled = models["all"]
    rng = np.random.default_rng(8)
    seqs = [activities(rng, n, FEATURES) for n in (3, 5, 3)]
    real_run = Compiled.run

    def broken(self: Compiled, x: Any, **kw: Any) -> Any:  # the runtime differs on length 5
        y, stats = real_run(self, x, **kw)
        if y.shape[1] == 5:
            y = y + 1
        return y, stats

    monkeypatch.setattr(Compiled, "run", broken)
    report = nsc.verify(compiled, seqs)
    assert [m["input"] for m in report.mismatches] == [1]
    assert report.agreement == pytest.approx(6 / 11)


def test_packed_sequence_equals_the_list(models: dict[str, Any]) -> None:
    _, compiled = models["last"]
    rng = np.random.default_rng(9)
    seqs = [activities(rng, n, FEATURES) for n in (2, 5, 3)]
    packed = torch.nn.utils.rnn.pack_sequence(
        [torch.tensor(s, dtype=torch.float32) for s in seqs], enforce_sorted=False
    )
    np.testing.assert_array_equal(compiled.run(packed, last=True), compiled.run(seqs, last=True))
    got = compiled.reference(packed)
    for a, b in zip(got, compiled.reference(seqs)):
        np.testing.assert_array_equal(a, b)


def test_torch_tensor_and_one_sequence(models: dict[str, Any]) -> None:
    _, compiled = models["last"]
    x = activities(np.random.default_rng(10), 2, 4, FEATURES)
    np.testing.assert_array_equal(compiled.run(torch.tensor(x)), compiled.run(x))
    np.testing.assert_array_equal(compiled.run(x[0]), compiled.run(x)[:1])


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((2, 3, FEATURES + 2)), f"takes {FEATURES} features per step, got 5"),
        ([np.zeros((3, FEATURES)), np.zeros((2, 4))], f"x[1]: the model takes {FEATURES}"),
        ([], "empty list"),
        ([np.zeros(FEATURES)], "x[0]: each sequence must have shape (steps, features)"),
        ([np.zeros((0, FEATURES))], "x[0]: a sequence of 0 steps"),
        (np.zeros(FEATURES), "expected an array of shape (batch, steps, features)"),
        (np.full((1, 2, FEATURES), np.inf), "NaN or infinite"),
        (-np.ones((1, 2, FEATURES)), "activities must lie in [0, 16)"),
        (np.array([[["a"] * FEATURES]]), "expected numbers"),
        (np.array([np.zeros((2, 3)), np.zeros((3, 3))], dtype=object), "as a list"),
    ],
)
def test_api_bad_inputs_are_nsc_errors(models: dict[str, Any], x: Any, message: str) -> None:
    _, compiled = models["last"]
    for call in (compiled.run, compiled.reference, lambda v: nsc.verify(compiled, v)):
        with pytest.raises(nsc.NscError) as err:
            call(x)
        assert message in str(err.value)


def test_as_sequences_pads_and_groups() -> None:
    seqs = as_sequences([np.ones((3, 2)), np.ones((1, 2)), np.ones((3, 2))])
    assert seqs.padded.shape == (3, 3, 2) and seqs.ragged
    assert seqs.lengths.tolist() == [3, 1, 3]
    assert not seqs.padded[1, 1:].any()
    assert [idx.tolist() for idx, _ in seqs.groups()] == [[1], [0, 2]]
    with pytest.raises(nsc.NscError, match="one length"):
        seqs.uniform()


# -- the documented commands ----------------------------------------------------------------


NETS = f"""
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN({FEATURES}, {HIDDEN}, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear({HIDDEN}, {CLASSES})

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])
"""


def documented_commands() -> list[str]:
    """The command block of docs/runtime.md, "Running a compiled model"."""
    text = (Path(__file__).parents[2] / "docs" / "runtime.md").read_text()
    section = text.split("## Running a compiled model", 1)[1]
    block = section.split("```", 2)[1]
    return [line for line in block.splitlines() if line.strip()]


def test_documented_commands_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex
    import sys

    (tmp_path / "mynets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mynets", raising=False)
    from mynets import Net  # type: ignore[import-not-found]

    torch.manual_seed(0)
    torch.save(Net().state_dict(), tmp_path / "weights.pt")
    monkeypatch.chdir(tmp_path)
    commands = documented_commands()
    assert [c.split()[0] for c in commands] == ["python", "nsc", "nsc", "python"]
    for line in commands:
        argv = shlex.split(line)
        if argv[0] == "python":
            assert argv[1] == "-c"
            exec(argv[2], {})  # the doc's numpy one-liners
        else:
            assert main(argv[1:]) == 0, line
    printed = capsys.readouterr().out
    with np.load(tmp_path / "y.npz") as data:
        assert data["y"].shape == (8, CLASSES)
        assert printed.endswith(str(data["y"] * data["scale"]) + "\n")  # the last command
    compiled = Compiled.load(tmp_path / "model.corelet")
    with np.load(tmp_path / "x.npz") as data:
        expect = compiled.run(data["x"], last=True)
    with np.load(tmp_path / "y.npz") as data:
        np.testing.assert_array_equal(data["y"], expect)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_any_lengths_equal_each_sequence_alone(
    models: dict[str, Any], lengths: list[int], seed: int
) -> None:
    _, compiled = models["all"]
    rng = np.random.default_rng(seed)
    seqs = [activities(rng, n, FEATURES) for n in lengths]
    together = compiled.reference(seqs)
    last = compiled.reference(seqs, last=True)
    for i, s in enumerate(seqs):
        alone = compiled.reference(s[None])[0]
        np.testing.assert_array_equal(together[i], alone)
        np.testing.assert_array_equal(last[i], alone[-1])
