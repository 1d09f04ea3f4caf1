"""End to end: PyTorch model -> IR -> passes -> placement -> cores -> Cython runtime, and the
runtime must agree with the integer reference on every output of every input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nsc
from nsc.compiler import Compiled
from nsc.ir import Core, Input


class Elman(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int, n_out: int = 3) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, hidden, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


def _random_model(n_in: int, hidden: int, seed: int) -> Elman:
    torch.manual_seed(seed)
    return Elman(n_in, hidden)


def _inputs(rng: np.random.Generator, batch: int, steps: int, n_in: int) -> np.ndarray:
    x = rng.integers(0, 16, size=(batch, steps, n_in))
    x[0] = 0  # all-zero input
    if batch > 1:
        x[1] = 15  # saturating input
    return x


@pytest.mark.parametrize(
    ("n_in", "hidden", "steps"),
    [(1, 1, 1), (3, 5, 50), (20, 40, 8), (47, 16, 12), (100, 12, 4), (8, 130, 3), (300, 512, 3)],
)
def test_random_elman_is_exact(n_in: int, hidden: int, steps: int) -> None:
    rng = np.random.default_rng(n_in * 1000 + hidden)
    model = _random_model(n_in, hidden, seed=hidden)
    calib = rng.integers(0, 16, size=(16, steps, n_in)).astype(np.float64)
    compiled = nsc.compile(model, calib, time_limit=5)
    x = _inputs(rng, 6, steps, n_in)
    report = nsc.verify(compiled, x)
    assert report.agreement == 1.0, report.mismatches
    assert report.outputs_compared == x.shape[0] * steps * 3
    # the outputs are not trivially constant: the saturating input gives a different answer
    y = compiled.run(x)
    assert y.shape == (6, steps, 3)
    assert np.array_equal(y, compiled.reference(x))


def test_fanin_is_split_and_still_exact() -> None:
    model = _random_model(100, 6, seed=3)
    rng = np.random.default_rng(0)
    calib = rng.integers(0, 16, size=(8, 4, 100)).astype(np.float64)
    compiled = nsc.compile(model, calib, max_fanin=32, time_limit=5)
    assert "split-fanin" in compiled.stages
    parts = [n for n in compiled.stages["split-fanin"] if n.name.startswith("rnn_part")]
    assert len(parts) >= 4  # 106 inputs in chunks of 32
    assert nsc.verify(compiled, rng.integers(0, 16, size=(4, 4, 100))).agreement == 1.0


def test_trained_parameter_dict_compiles_to_one_core() -> None:
    rng = np.random.default_rng(7)
    hidden, proj, n_in = 16, 47, 50
    params = {
        "proj_w": rng.integers(-8, 8, size=(proj, n_in)),
        "proj_b": rng.integers(-50, 50, size=proj),
        "proj_div": 40,
        "w_in": rng.integers(-8, 8, size=(hidden, proj)),
        "w_rec": rng.integers(-8, 8, size=(hidden, hidden)),
        "alpha": rng.integers(5, 40, size=hidden),
        "leak": rng.integers(-3, 4, size=hidden),
        "readout_w": rng.integers(-20, 20, size=(6, hidden)),
        "readout_b": rng.integers(-20, 20, size=6),
        "window": 15,
        "levels": 16,
    }
    compiled = nsc.compile(params)
    assert compiled.n_cores == 1
    core = compiled.stages["lower-to-cores"].of_type(Core)[0]
    assert int(core.crossbar.any(axis=1).sum()) <= 256
    x = rng.integers(-127, 128, size=(8, 9, n_in))
    report = nsc.verify(compiled, x)
    assert report.agreement == 1.0
    spikes = compiled.raster(x[:1])
    assert spikes.any()


def test_saved_corelet_verifies_on_its_own(tmp_path) -> None:
    model = _random_model(4, 6, seed=1)
    rng = np.random.default_rng(1)
    compiled = nsc.compile(model, rng.integers(0, 16, size=(8, 5, 4)).astype(float))
    path = tmp_path / "m.corelet"
    compiled.save(path)
    loaded = Compiled.load(path)
    assert loaded.host.of_type(Input)[0].features == 4
    x = rng.integers(0, 16, size=(5, 5, 4))
    assert np.array_equal(loaded.run(x), compiled.run(x))
    assert nsc.verify(loaded, x).agreement == 1.0


def test_cli_compile_and_verify(tmp_path, capsys) -> None:
    from nsc.cli import main

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ReLU(), torch.nn.Linear(10, 2))
    torch.save(model, tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((16, 5, 6)))
    out = tmp_path / "m.corelet"
    ir = tmp_path / "m.nsir"
    rc = main(
        [
            "compile",
            str(tmp_path / "m.pt"),
            "--allow-pickle",
            "--example-input",
            str(tmp_path / "x.npy"),
            "-o",
            str(out),
            "--emit-ir",
            "encode-weights",
            "--ir-out",
            str(ir),
        ]
    )
    assert rc == 0 and out.exists() and ir.read_text().startswith("nsir 1")
    assert main(["verify", str(out), "--samples", "4"]) == 0
    assert "EXACT" in capsys.readouterr().out
    # compiling on from the edited IR works too
    assert main(["compile", str(ir), "-o", str(tmp_path / "again.corelet")]) == 0


def test_cli_bad_inputs_exit_cleanly(tmp_path, capsys) -> None:
    from nsc.cli import main
    from nsc.ir import Graph

    g = Graph("g")
    g.add(Input("x", features=2, levels=16))
    text = nsc.print_ir(g).replace("= input", "= frobnicate")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "frobnicate" in t)
    bad = tmp_path / "bad.nsir"
    bad.write_text(text)
    assert main(["compile", str(bad), "-o", str(tmp_path / "x.corelet")]) == 1
    err = capsys.readouterr().err
    assert f"bad.nsir:{line}:" in err and "Traceback" not in err
    assert not (tmp_path / "x.corelet").exists()
    assert main(["compile", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "y")]) == 1
    garbage = tmp_path / "g.corelet"
    garbage.write_bytes(b"\x00garbage" * 10)
    assert main(["verify", str(garbage)]) == 1


def test_verify_catches_a_runtime_difference_and_locates_it() -> None:
    """The check can fail: alter the corelet behind the compiler's back."""
    model = _random_model(5, 8, seed=2)
    rng = np.random.default_rng(2)
    compiled = nsc.compile(model, rng.integers(0, 16, size=(8, 6, 5)).astype(float))
    x = rng.integers(1, 16, size=(4, 6, 5))
    assert nsc.verify(compiled, x).agreement == 1.0
    compiled.corelet.neurons["alpha"][0, :8] += 1  # these neurons now need more input
    report = nsc.verify(compiled, x)
    assert report.agreement < 1.0
    first = report.mismatches[0]
    assert first["stage"] == "runtime"
    assert {"tick", "core", "neuron"} <= set(first)
    assert first["core"] == 0 and first["tick"] >= 0
