"""Fuzzing: golden files mutated hundreds of ways raise only NscError subclasses, never
another exception; whatever still parses prints canonically and verifies or fails cleanly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from nsir_graphs import GOLDEN, GOLDEN_DIR

from nsc.errors import IRParseError, NscError
from nsc.text import parse_ir, parse_ir_file, print_ir

GARBAGE = [
    "{", "}", "[", "]", "[[", "]]", "%", "@", "=", ",", '"', "\\", "//", "\n", "x", "-",
    "splat", "hex", "nan", "-inf", "1e999", "99999999999999999999999", "0x1F", "1_000",
    "%x =", '%"q"', "@g", "i32[", "bool[2x2]", "f64[]", "u8[3] splat 300", "nsir 1",
    "graph @g {", "\x00", "\x0b", "\ufeff", "\u2028", "é", "\ud800", " " * 3, "\t",
]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    """One random edit: characters, lines, truncation or inserted garbage."""
    i = rng.randrange(len(text))
    lines = text.split("\n")
    j = rng.randrange(len(lines))
    k = rng.randrange(len(lines))
    kind = rng.randrange(9)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2:
        return text[:i] + text[i + 1 : i + 2] + text[i] + text[i + 2 :]
    if kind == 3:
        return "\n".join(lines[:j] + lines[j + 1 :])
    if kind == 4:
        return "\n".join(lines[: j + 1] + lines[j:])
    if kind == 5:
        lines[j], lines[k] = lines[k], lines[j]
        return "\n".join(lines)
    if kind == 6:
        return text[:i]
    if kind == 7:
        return text[:i] + rng.choice(GARBAGE) + text[i:]
    digit = rng.choice("0123456789")
    return text[:i] + digit + text[i + 1 :] if text[i].isdigit() else text[:i] + digit + text[i:]


def _check(text: str) -> None:
    try:
        graph = parse_ir(text, "fuzz.nsir")
    except IRParseError as err:
        assert str(err).startswith("fuzz.nsir:"), str(err)
        assert err.line >= 1 and err.col >= 1
        return
    canonical = print_ir(graph)
    again = parse_ir(canonical)
    assert again.same_as(graph) and print_ir(again) == canonical
    try:
        graph.verify()
    except NscError as err:
        assert str(err)


@pytest.mark.parametrize(("name", "count"), [(name, 400) for name in sorted(GOLDEN)])
def test_mutated_golden_files_fail_cleanly(name: str, count: int) -> None:
    text = (GOLDEN_DIR / name).read_text(encoding="utf-8")
    rng = random.Random(f"nsir-fuzz-{name}")
    for _ in range(count):
        mutant = text
        for _ in range(rng.randint(1, 3)):
            mutant = _mutate(rng, mutant) or mutant
        _check(mutant)


def test_random_bytes_in_files_fail_cleanly(tmp_path: Path) -> None:
    data = (GOLDEN_DIR / "integer.nsir").read_bytes()
    rng = random.Random("nsir-bytes")
    path = tmp_path / "bytes.nsir"
    for _ in range(150):
        i = rng.randrange(len(data))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        path.write_bytes(data[:i] + junk + data[i:])
        try:
            parse_ir_file(path)
        except IRParseError as err:
            assert str(err).startswith(f"{path}:"), str(err)
        except NscError:
            pass
