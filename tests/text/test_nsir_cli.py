"""`nsc ir fmt` and `nsc ir check`, through ``nsc.cli.main``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from nsir_graphs import GOLDEN_DIR

from nsc.cli import main

NETWORK = GOLDEN_DIR / "network.nsir"


def _write(tmp_path: Path, text: str, name: str = "in.nsir") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_fmt_prints_the_canonical_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", "fmt", str(NETWORK)]) == 0
    assert capsys.readouterr().out == NETWORK.read_text(encoding="utf-8")


def test_fmt_writes_the_output_file(tmp_path: Path) -> None:
    messy = NETWORK.read_text(encoding="utf-8").replace("\n  ", "\n    // note\n      ")
    source, out = _write(tmp_path, messy), tmp_path / "sub" / "out.nsir"
    assert main(["ir", "fmt", str(source), "-o", str(out)]) == 1  # like every -o: no mkdir
    out.parent.mkdir()
    assert main(["ir", "fmt", str(source), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == NETWORK.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["out.nsir"]  # no temporary left


def test_fmt_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", "fmt", "--check", str(NETWORK)]) == 0
    assert capsys.readouterr().out == f"{NETWORK}: canonical\n"
    messy = _write(tmp_path, NETWORK.read_text(encoding="utf-8").replace(" = ", "="))
    assert main(["ir", "fmt", "--check", str(messy)]) == 1
    out = capsys.readouterr().out
    assert out == f"{messy}: not in canonical form (nsc ir fmt {messy} -o {messy})\n"


def test_fmt_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("nsir 1 graph @g{window=15}{}"))
    assert main(["ir", "fmt", "-"]) == 0
    assert capsys.readouterr().out == "nsir 1\ngraph @g {window = 15} {\n}\n"


def test_fmt_reports_parse_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "nsir 1\ngraph @g {\n  %y = relu %z\n}\n")
    out = tmp_path / "out.nsir"
    assert main(["ir", "fmt", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"nsc: error: {bad}:3:13: undefined operand %z\n    %y = relu %z\n" + " " * 14 + "^\n"
    )
    assert not out.exists()


def test_check_summarises_a_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", "check", str(GOLDEN_DIR / "integer.nsir")]) == 0
    assert capsys.readouterr().out == (
        f"{GOLDEN_DIR / 'integer.nsir'}: ok: graph @rnn, 7 nodes (axon_synapses 1, input 1, "
        "neurons 1, output 1, qlinear 1, spike_count 1, synapses 1); level: encoded\n"
    )


def test_check_reports_verify_errors_with_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = NETWORK.read_text(encoding="utf-8").replace(
        "f64[3x2] [[0.5, -0.25],", "f64[3x1] [[0.5],"
    )
    text = text.replace("[0.125, 1.0], [-1.5, 0.75]]", "[0.125], [-1.5]]")
    path = _write(tmp_path, text)
    assert main(["ir", "check", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"nsc: error: {path}:4:3: node %h: w_ih has shape (3, 1), expected (3, 2)\n"
    )


def test_check_reports_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", "check", str(tmp_path / "missing.nsir")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ir", "--help"], ["ir", "fmt", "--help"], ["ir", "check", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    out = capsys.readouterr().out
    assert "canonical form" in out and "FILE:LINE:COL" in out and "--check" in out
