"""`nsc ir check` reports what a later compile would refuse (issue 11 item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsc.cli import main

OPT = Path(__file__).parents[1] / "opt" / "insert-delays.nsir"  # an integer-level graph


def _graph(tmp_path: Path, weights: str) -> Path:
    old = "[[1, 0], [0, 1]], delay = i32[2] splat 1}"  # %in, before insert-delays
    text = OPT.read_text()
    assert old in text
    text = text.replace(old, f"{weights}, delay = i32[2] splat 1}}")
    path = tmp_path / "g.nsir"
    path.write_text(text)
    return path


def test_a_weight_no_encoding_can_hold_is_reported_by_ir_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ir", "check", str(_graph(tmp_path, "[[100, 3], [0, 1]]"))]) == 1
    err = capsys.readouterr().err
    assert "parses and verifies at level integer, but compiling it fails" in err
    assert "pass encode-weights failed" in err and "g.nsir:" in err


def test_an_encodable_graph_checks_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ir", "check", str(_graph(tmp_path, "[[7, 3], [0, 1]]"))]) == 0
    assert "ok: graph @t" in capsys.readouterr().out
