"""`nsc corelet random|info` and `nsc run`, through nsc.cli.main."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nsc.cli import main
from nsc_runtime import format as fmt
from nsc_runtime import sim


@pytest.fixture
def corelet_file(tmp_path: Path) -> Path:
    path = tmp_path / "net.corelet"
    args = ["corelet", "random", "--cores", "4", "--rate", "50", "--synapses", "32"]
    assert main([*args, "--seed", "7", "-o", str(path)]) == 0
    return path


def test_random_then_info(corelet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corelet = fmt.load(corelet_file)
    assert corelet.n_cores == 4 and corelet.metadata["seed"] == "7"
    capsys.readouterr()
    assert main(["corelet", "info", str(corelet_file)]) == 0
    out = capsys.readouterr().out
    assert "cores: 4" in out and "input port 'in': 16 lines" in out
    assert "neurons used: 1024 of 1024" in out and "alpha:" in out


def test_run_writes_spikes_and_counters(
    corelet_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spikes = (np.random.default_rng(0).random((80, 16)) < 0.2).astype(np.uint8)
    np.savez(tmp_path / "in.npz", **{"in": spikes})
    out = tmp_path / "sub" / "out.npz"
    out.parent.mkdir()  # nsc never creates output folders (docs/security.md)
    args = ["run", str(corelet_file), "--input", str(tmp_path / "in.npz")]
    assert main([*args, "--ticks", "100", "-o", str(out), "--threads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "synaptic_events:" in printed and "model 1" in printed and "model 2" in printed
    expected = sim.run(fmt.load(corelet_file), {"in": spikes}, 100)
    with np.load(out) as data:
        assert set(data.files) == {"out", "@ticks", *(f"@{k}" for k in expected.counters)}
        np.testing.assert_array_equal(data["out"], expected.spikes["out"])
        assert data["out"].dtype == np.uint8 and data["out"].shape == (100, 16)
        assert int(data["@ticks"]) == 100
        for name, value in expected.counters.items():
            assert int(data[f"@{name}"]) == value
    assert [p.name for p in out.parent.iterdir()] == ["out.npz"]
    # --ticks defaults to the input length
    assert main([*args, "-o", str(tmp_path / "o2.npz")]) == 0
    with np.load(tmp_path / "o2.npz") as data:
        assert data["out"].shape == (80, 16)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ticks", "10", "--input", "{bad_npz}"], "cannot read input file"),
        (["--ticks", "10", "--input", "{missing}"], "does not exist"),
        (["--ticks", "10", "--input", "{wrong_port}"], "unknown input port"),
        ([], "give --ticks"),
        (["--ticks", "{huge}"], "--ticks 2,000,000,000: the spike arrays"),
    ],
)
def test_run_user_errors(
    corelet_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "wrong.npz", nope=np.zeros((3, 1), np.uint8))
    paths = {
        "bad_npz": tmp_path / "bad.npz",
        "missing": tmp_path / "none.npz",
        "wrong_port": tmp_path / "wrong.npz",
    }
    argv = [a.format(huge=2_000_000_000, **paths) for a in extra]
    monkeypatch.setattr("nsc.cli.run_cmd.memory_budget", lambda: 1 << 30)
    out = tmp_path / "out.npz"
    assert main(["run", str(corelet_file), *argv, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ticks", "-1"], "argument --ticks: must be in 0..2,147,483,647, got -1"),
        (["--ticks", "5", "--threads", "0"], "argument --threads: must be in 1..1,024, got 0"),
        (["--ticks", "1e3"], "argument --ticks: expected an integer, got '1e3'"),
    ],
)
def test_run_argument_ranges(
    corelet_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "out.npz"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(corelet_file), *extra, "-o", str(out)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(message)
    assert not out.exists()


def test_corrupt_corelet_is_one_line_error(
    corelet_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(corelet_file.read_bytes())
    data[500] ^= 0xFF
    bad = tmp_path / "bad.corelet"
    bad.write_bytes(bytes(data))
    assert main(["corelet", "info", str(bad)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    bad.write_bytes(bytes(data[:100]))
    assert main(["run", str(bad), "--ticks", "3", "-o", str(tmp_path / "o.npz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nsc: error:") and "truncated" in err and err.count("\n") == 1


def test_random_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.corelet"
    with pytest.raises(SystemExit):
        main(["corelet", "random", "--cores", "0", "-o", str(out)])
    assert "argument --cores: must be >= 1, got 0" in capsys.readouterr().err
    assert not out.exists()
    # more port lines than the cores have axons: an error, not a silent clamp
    assert main(["corelet", "random", "--cores", "2", "--inputs", "10000000", "-o", str(out)]) == 1
    assert "--inputs 10,000,000: 2 core(s) have only 512 axons" in capsys.readouterr().err
    assert not out.exists()


def test_cli_modules_do_not_import_heavy_dependencies() -> None:
    code = (
        "import sys; import nsc.cli.run_cmd, nsc.cli.corelet_cmd, nsc_runtime.sim, "
        "nsc_runtime.format, nsc_runtime.synth, nsc_runtime.reference, nsc_runtime.energy; "
        "bad = [m for m in ('torch', 'lark', 'ortools', 'networkx') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
