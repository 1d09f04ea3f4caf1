"""Model files through `nsc compile` / `nsc verify`: nothing in a file runs by default
(issue 15 item 1, issue 11 item 1), the supported formats, and the example-input rule
(issue 11 item 7); plus outputs written only on success, broken pipes and --help text."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from clitest_util import MODULE, Evil, Fixtures

from nsc.cli import main
from nsc.errors import FrontendError
from nsc.frontend.load import load_model

CLASS = ["--model-class", f"{MODULE}:Tiny"]


def _compile(fx: Fixtures, model: Path, out: Path, *extra: str) -> int:
    return main(
        ["compile", str(model), "--example-input", str(fx / "x.npy"), "-o", str(out), *extra]
    )


def _tiny(fx: Fixtures):
    import torch
    from nsc_cli_tinynet import Tiny  # type: ignore[import-not-found]

    model = Tiny()
    model.load_state_dict(torch.load(fx / "model.pt", weights_only=True))
    return model.eval()


def test_evil_pickle_never_runs(
    fx: Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.corelet"
    assert _compile(fx, fx / "evil.pt", out) == 1
    err = capsys.readouterr().err
    assert not fx.marker.exists() and not out.exists()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "pickled Python object" in err and "--model-class" in err and ".pt2" in err
    assert "--allow-pickle" in err and "trust" in err
    assert main(["verify", str(fx / "evil.pt")]) == 1
    assert not fx.marker.exists()
    with pytest.raises(FrontendError, match="pickled"):
        load_model(fx / "evil.pt")
    assert not fx.marker.exists()


def test_allow_pickle_is_an_explicit_opt_in(
    fx: Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import torch

    # the opt-in really runs the file's code: that is the documented risk
    marker = tmp_path / "ran"
    torch.save({"w": Evil(marker)}, tmp_path / "evil.pt")
    with pytest.warns(UserWarning, match="full pickle"), pytest.raises(FrontendError):
        load_model(tmp_path / "evil.pt", allow_pickle=True)
    assert marker.exists()
    # a whole pickled module whose class is importable compiles with it
    out = tmp_path / "m.corelet"
    with pytest.warns(UserWarning, match="--allow-pickle"):
        assert _compile(fx, fx / "full.pt", out, "--allow-pickle") == 0
    assert out.exists()
    capsys.readouterr()
    assert _compile(fx, fx / "full.pt", tmp_path / "n.corelet") == 1  # not without it
    assert "pickled Python object" in capsys.readouterr().err


def test_state_dict_with_model_class_compiles_and_verifies(
    fx: Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.corelet"
    assert _compile(fx, fx / "model.pt", out, *CLASS, "--model-args", '{"hidden": 4}') == 0
    assert main(["verify", str(out), "--samples", "3", "--steps", "4"]) == 0
    assert "EXACT" in capsys.readouterr().out
    # the same weights as a checkpoint dict, and verify compiling the model itself
    import torch

    torch.save({"model_state_dict": torch.load(fx / "model.pt"), "epoch": 3}, tmp_path / "ck.pt")
    argv = ["verify", str(tmp_path / "ck.pt"), *CLASS, "--example-input", str(fx / "x.npy")]
    assert main([*argv, "--samples", "2"]) == 0


def test_torchscript_needs_model_class(fx: Fixtures, tmp_path: Path, capsys) -> None:
    import torch

    model = _tiny(fx)
    torch.jit.save(torch.jit.trace(model, torch.rand(2, 5, 3)), tmp_path / "ts.pt")
    assert _compile(fx, tmp_path / "ts.pt", tmp_path / "a.corelet") == 1
    assert "TorchScript" in capsys.readouterr().err
    assert _compile(fx, tmp_path / "ts.pt", tmp_path / "b.corelet", *CLASS) == 0
    rebuilt = load_model(tmp_path / "ts.pt", model_class=f"{MODULE}:Tiny")
    x = torch.rand(3, 5, 3)
    assert torch.equal(rebuilt(x), model(x))


@pytest.fixture(scope="module")
def pt2(fx: Fixtures) -> Path:
    """The tiny model as a torch.export archive (exported once: it takes seconds)."""
    import torch

    path = fx / "m.pt2"
    if not path.exists():
        with pytest.warns(UserWarning):  # torch: RNN flat weights assigned during export
            program = torch.export.export(_tiny(fx), (torch.rand(2, 5, 3),))
        torch.export.save(program, path)
    return path


def test_pt2_loads_as_a_graph_module_and_with_model_class(
    fx: Fixtures, pt2: Path, tmp_path: Path
) -> None:
    import torch

    module = load_model(pt2)
    assert isinstance(module, torch.fx.GraphModule)
    x = torch.rand(2, 5, 3)  # the exported shape
    assert torch.allclose(module(x), _tiny(fx)(x))
    assert _compile(fx, pt2, tmp_path / "m.corelet", *CLASS) == 0


def test_pt2_compiles_without_model_class(fx: Fixtures, pt2: Path, tmp_path: Path) -> None:
    assert _compile(fx, pt2, tmp_path / "m.corelet") == 0


def _rewrite(src: Path, dst: Path, edit) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, edit(info.filename, data))


def test_pt2_that_would_run_code_is_refused(fx: Fixtures, pt2: Path, tmp_path: Path) -> None:
    """torch.export.load evaluates shape expressions (sympy) and unpickles flagged tensors."""
    marker = tmp_path / "ran"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch() and s0"

    def expression(name: str, data: bytes) -> bytes:
        if not name.endswith("models/model.json"):
            return data
        program = json.loads(data)
        values = program["graph_module"]["graph"]["tensor_values"]
        first = next(iter(values.values()))
        first["sizes"][0] = {"as_expr": {"expr_str": payload, "hint": {"as_int": 2}}}
        return json.dumps(program).encode()

    def pickled(name: str, data: bytes) -> bytes:
        if not name.endswith("model_weights_config.json"):
            return data
        config = json.loads(data)
        next(iter(config["config"].values()))["use_pickle"] = True
        return json.dumps(config).encode()

    def sample(name: str, data: bytes) -> bytes:
        if "sample_inputs" not in name:
            return data
        import torch

        buffer = io.BytesIO()
        torch.save(Evil(marker), buffer)
        return buffer.getvalue()

    for edit, message in (
        (expression, "shape expression"),
        (pickled, "stored pickled"),
        (sample, "sample inputs"),
    ):
        bad = tmp_path / f"{edit.__name__}.pt2"
        _rewrite(pt2, bad, edit)
        with pytest.raises(FrontendError, match=message):
            load_model(bad)
        assert _compile(fx, bad, tmp_path / "x.corelet") == 1
        assert not marker.exists() and not (tmp_path / "x.corelet").exists()


def test_example_input_rule(fx: Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # a float model needs it (the message says how to make one) ...
    argv = ["compile", str(fx / "model.pt"), *CLASS, "-o", str(tmp_path / "a.corelet")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--example-input is required" in err and "numpy.save" in err
    # ... an integer-level model does not, and --help says so
    assert main(["compile", str(fx / "neuron.nsir"), "-o", str(tmp_path / "b.corelet")]) == 0
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    assert "needs --example-input" in capsys.readouterr().out


def test_compile_writes_no_output_when_saving_fails(
    fx: Fixtures, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nsc.compiler import Compiled

    def fail(self: Compiled, path: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Compiled, "save", fail)
    out, ir = tmp_path / "m.corelet", tmp_path / "m.nsir"
    extra = ("--emit-ir", "input", "--ir-out", str(ir))
    assert _compile(fx, fx / "model.pt", out, *CLASS, *extra) == 1
    assert sorted(tmp_path.iterdir()) == []


def test_place_writes_no_output_when_the_picture_fails(
    fx: Fixtures, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nsc.place

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nsc.place, "plot_placement", fail)
    argv = ["place", str(fx / "neuron.nsir"), "-o", str(tmp_path / "p.nsir")]
    argv += ["--report", str(tmp_path / "r.json"), "--png", str(tmp_path / "p.png")]
    assert main([*argv, "--time-limit", "1"]) == 1
    assert sorted(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert main([*argv, "--time-limit", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.nsir", "p.png", "r.json"]


def test_broken_pipe_ends_quietly(fx: Fixtures) -> None:
    """`nsc ... | head -0`: the reader is gone before nsc writes."""
    argv = [sys.executable, "-m", "nsc.cli", "ir", "fmt", str(fx / "neuron.nsir")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


def test_verify_help_says_100_percent(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "100%." in out and "100%%" not in out


def test_npz_where_npy_expected_and_back(fx: Fixtures, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "params.npy", np.zeros(3))
    assert main(["compile", str(tmp_path / "params.npy"), "-o", str(tmp_path / "c")]) == 1
    assert ".npy array is not a model" in capsys.readouterr().err


def test_compressed_npz_bombs_are_refused_before_unpacking(
    fx: Fixtures, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, **{"in": np.zeros((1 << 21, 16), np.uint8)})  # 32 MiB of zeros
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr("nsc.cli.run_cmd.memory_budget", lambda: 1 << 24)
    argv = ["run", str(fx / "rand.corelet"), "--input", str(bomb), "-o", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "unpack to 32.0 MiB, more than 16.0 MiB" in capsys.readouterr().err
    monkeypatch.setattr("nsc.frontend.load.MAX_NPZ_BYTES", 1 << 24)
    with pytest.raises(FrontendError, match="unpack to 33,554,"):
        load_model(bomb)


@pytest.mark.parametrize(
    ("expr", "safe"),
    [
        ("s0", True),
        ("s0*s1 + 2", True),
        ("FloorDiv(s0, 4) + Mod(u1, 3)", True),
        ("Max(1, s0 - 1)", True),
        ("__import__('os')", False),
        ("s0.__class__", False),
        ("open(s0)", False),
        ("s0 + 10**10**100", False),
        ("Symbol(s0)", False),
        ("exec", False),
    ],
)
def test_pt2_shape_expressions_allowlist(expr: str, safe: bool) -> None:
    from nsc.frontend.load import _safe_expr

    assert _safe_expr(expr) is safe


def test_verify_takes_the_inputs_nsc_run_takes(tmp_path: Path, capsys) -> None:
    """An .npz with x and lengths (the file nsc run takes) verifies sequence by sequence."""
    import torch

    import nsc

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    x = np.random.default_rng(0).integers(0, 16, size=(6, 4, 3))
    nsc.compile(model, x.astype(float), time_limit=5).save(tmp_path / "m.corelet")
    np.savez(tmp_path / "x.npz", x=x, lengths=np.array([4, 2, 3, 4, 1, 2]))
    assert main(["verify", str(tmp_path / "m.corelet"), "--input", str(tmp_path / "x.npz")]) == 0
    out = capsys.readouterr().out
    assert "EXACT" in out and "6 inputs of 1..4 steps" in out
