"""FileCheck-style tests of single passes through ``nsc opt``.

Each ``*.nsir`` file here is its own input. Its leading comments say what to run and what to
expect: ``// RUN: ARGS`` (the arguments after ``nsc opt``; the file is appended), then either
``// CHECK: TEXT`` lines that must appear in the output in this order (``// CHECK-NOT: TEXT``:
must not appear between the previous CHECK and the next one), or one ``// ERROR: TEXT`` that
the error message must contain (and a non-zero exit).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from nsc.cli import main

HERE = Path(__file__).parent
CASES = sorted(HERE.glob("*.nsir"))


def directives(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if not line.startswith("//"):
            break
        kind, sep, rest = line[2:].strip().partition(": ")
        if sep and kind in ("RUN", "CHECK", "CHECK-NOT", "ERROR"):
            out.append((kind, rest))
    return out


def filecheck(output: str, checks: list[tuple[str, str]]) -> None:
    pos, forbidden = 0, []
    for kind, text in checks:
        if kind == "CHECK-NOT":
            forbidden.append(text)
            continue
        found = output.find(text, pos)
        assert found >= 0, f"CHECK not found after offset {pos}: {text!r}"
        for bad in forbidden:
            assert bad not in output[pos:found], f"CHECK-NOT {bad!r} found before {text!r}"
        pos, forbidden = found + len(text), []
    for bad in forbidden:
        assert bad not in output[pos:], f"CHECK-NOT {bad!r} found at the end"


def test_there_are_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = directives(path)
    runs = [rest for kind, rest in found if kind == "RUN"]
    assert len(runs) == 1, f"{path.name}: exactly one RUN line"
    rc = main(["opt", *shlex.split(runs[0]), str(path)])
    out, err = capsys.readouterr()
    errors = [rest for kind, rest in found if kind == "ERROR"]
    if errors:
        assert rc != 0 and errors[0] in err, err
        return
    assert rc == 0, err
    checks = [(k, t) for k, t in found if k in ("CHECK", "CHECK-NOT")]
    assert checks, f"{path.name}: no CHECK lines"
    filecheck(out, checks)


def test_compile_help_lists_the_default_pipelines_stages() -> None:
    """The CLI help names the stages without importing the passes (start-up time); this keeps
    that list equal to the one definition, nsc.passes.default_pipeline."""
    from nsc.cli.compile_cmd import EPILOG
    from nsc.passes import default_pipeline, parse_pipeline

    names = ", ".join(p.name for p in parse_pipeline(default_pipeline()))
    assert names in " ".join(EPILOG.split())
