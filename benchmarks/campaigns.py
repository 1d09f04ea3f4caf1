"""Reliability campaigns (issue 15): random hostile inputs, counted by outcome.

Four campaigns, each of ``--cases`` cases (default 10,000), every case drawn from its own seed
(``SEED:CAMPAIGN:CASE``, so one case can be replayed with ``--only NAME --first K --cases 1``):

- ``ir``: golden ``.nsir`` files and generated graphs, mutated by characters, tokens, numbers,
  array types and raw bytes. Every rejection must be an ``IRParseError`` at ``file:line:col``
  inside the text (or another ``NscError``); every accepted text must print canonically and
  read back ``same_as`` (``print(parse(print(g))) == print(g)``); ``verify`` must raise nothing
  but ``NscError``.
- ``corelet``: corelet binaries (random, heterogeneous and stress corelets with ports and
  metadata) with bit flips, truncations, extensions and field edits, the last three also with
  the size and the SHA-256 trailer recomputed so that the loader's range checks are reached.
  Every one must be refused by ``CoreletFormatError`` or load, re-serialize to the same bytes
  and run a few ticks; loading must stay within a small multiple of the file size.
- ``kill``: a writer saves corelets over one target in a loop with the CLI's atomic write
  (``nsc_runtime.atomic.write_bytes_atomic``; ``nsc_runtime.format.save`` for a third) and is
  SIGKILLed at a random time (one case in 100 kills a real ``nsc corelet random -o`` process).
  The target must be absent or one of the complete files written, never anything else.
  Temporary files left behind are counted (``temp files left``), not failed.
- ``determinism``: a random or stress corelet written twice gives the same bytes, drawn twice
  from its seed gives the same corelet, and runs with 1 and 2 threads (and a repeated run) give
  identical spikes, counters and potentials.

Prints one line per outcome and campaign, then one JSON line; exits 1 if any case failed.

    PYTHONPATH=.:runtime .venv/bin/python benchmarks/campaigns.py [--cases N] [--seed S]
        [--only ir,corelet,kill,determinism] [--first K]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsc.errors import IRParseError, NscError
from nsc.ir import NODE_TYPES, Graph, attribute_fields, operand_fields
from nsc.ir.nodes import NUMPY_DTYPES
from nsc.text import parse_ir, parse_ir_file, print_ir
from nsc_runtime import format as fmt
from nsc_runtime.atomic import write_bytes_atomic
from nsc_runtime.corelet import Corelet
from nsc_runtime.errors import CoreletFormatError
from nsc_runtime.synth import random_corelet, random_inputs, stress_corelet

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_GLOBS = ("tests/text/golden/*.nsir", "tests/golden/passes/*.nsir")
FAIL = "FAIL"  # outcomes that break a campaign's property start with this
MAX_EXAMPLES = 20  # failing cases kept per campaign (the counts have them all)


@dataclass
class Campaign:
    """The outcome counts of one campaign and the first failing cases, described."""

    name: str
    cases: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str, detail: str = "") -> None:
        """Count one outcome; one that starts with ``FAIL`` also keeps ``detail``."""
        self.counts[outcome] += 1
        if outcome.startswith(FAIL) and len(self.failures) < MAX_EXAMPLES:
            self.failures.append(f"{outcome}: {detail}"[:2000])

    @property
    def failed(self) -> int:
        return sum(n for outcome, n in self.counts.items() if outcome.startswith(FAIL))


def _case_rng(seed: int, name: str, case: int) -> random.Random:
    return random.Random(f"{seed}:{name}:{case}")


# ---------------------------------------------------------------------------------------------
# ir: mutated nsir texts

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[%@]?[A-Za-z0-9_.$\-]+(?:\[[^\]\n]*\])?|\S')
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")
_TYPE = re.compile(r"\b(i8|i16|i32|i64|u8|bool|f32|f64)\[([0-9x]*)\]")
GARBAGE = [
    "{", "}", "[", "]", "[[", "]]", "%", "@", "=", ",", '"', "\\", "//", "\n", "x", "-",
    "splat", "hex", "nan", "-inf", "1e999", "99999999999999999999999", "0x1F", "1_000",
    "%x =", '%"q"', "@g", "i32[", "bool[2x2]", "f64[]", "u8[3] splat 300", "nsir 1",
    "graph @g {", "\x00", "\x0b", "\ufeff", "\u2028", "é", "\ud800", "   ", "\t", "core",
    "input", "synapses", "%a = relu %a", "f64[8192x8192] splat 0.5", "i32[99999x99999]",
    'hex "ff"', "true", "false", "-0.0", "5e-324", "+1", "1.", ".5",
]  # fmt: skip
NUMBERS = [
    "0", "-1", "1", "255", "256", "-256", "2147483647", "2147483648", "-2147483649",
    "9223372036854775807", "9223372036854775808", "18446744073709551616", "1" + "0" * 40,
    "1e308", "1e309", "-1e-400", "nan", "inf", "4294967295", "65536", "1073741824",
]  # fmt: skip
DTYPES = list(NUMPY_DTYPES)
DIMS = ["0", "1", "3", "255", "256", "257", "8192x8192", "4096x4096", "99999999999", "1x1x1x1x1"]


def _mutate_chars(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    kind = rng.randrange(6)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2:
        return text[:i] + text[i + 1 : i + 2] + text[i] + text[i + 2 :]
    if kind == 3:
        return text[:i]
    if kind == 4:
        return text[:i] + rng.choice(GARBAGE) + text[i:]
    lines = text.split("\n")
    j, k = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[j], lines[k] = lines[k], lines[j]
    return "\n".join(lines)


def _mutate_tokens(rng: random.Random, text: str) -> str:
    spans = [m.span() for m in _TOKEN.finditer(text)]
    if not spans:
        return text + rng.choice(GARBAGE)
    a, b = rng.choice(spans)
    kind = rng.randrange(5)
    if kind == 0:  # delete
        return text[:a] + text[b:]
    if kind == 1:  # duplicate
        return text[:b] + " " + text[a:b] + text[b:]
    if kind == 2:  # replace by another token of the same text
        c, d = rng.choice(spans)
        return text[:a] + text[c:d] + text[b:]
    if kind == 3:  # replace by garbage
        return text[:a] + rng.choice(GARBAGE) + text[b:]
    c, d = rng.choice(spans)  # swap two tokens
    if c < a:
        a, b, c, d = c, d, a, b
    if c < b:
        return text
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def _mutate_numbers(rng: random.Random, text: str) -> str:
    spans = [m.span() for m in _NUMBER.finditer(text)]
    if not spans:
        return text
    a, b = rng.choice(spans)
    return text[:a] + rng.choice(NUMBERS) + text[b:]


def _mutate_types(rng: random.Random, text: str) -> str:
    found = list(_TYPE.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    dims = m.group(2).split("x") if m.group(2) else []
    kind = rng.randrange(4)
    if kind == 0:
        new = f"{rng.choice(DTYPES)}[{m.group(2)}]"
    elif kind == 1 and dims:
        k = rng.randrange(len(dims))
        dims[k] = str(max(0, int(dims[k]) + rng.choice([-1, 1, 2])))
        new = f"{m.group(1)}[{'x'.join(dims)}]"
    elif kind == 2:
        new = f"{m.group(1)}[{rng.choice(DIMS)}]"
    else:
        new = f"{m.group(1)}[{m.group(2)}x1]" if dims else f"{m.group(1)}[1]"
    return text[: m.start()] + new + text[m.end() :]


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    kind = rng.randrange(4)
    if kind == 0:
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
    if kind == 1:
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        return data[:i] + junk + data[i:]
    if kind == 2:
        return data[:i]
    return data[:i] + rng.choice([b"\xff", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\xef\xbb\xbf"])


TEXT_MUTATIONS: list[Callable[[random.Random, str], str]] = [
    _mutate_chars,
    _mutate_tokens,
    _mutate_numbers,
    _mutate_types,
]


def _random_name(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return "".join(rng.choice("abcxyz019_.$-") for _ in range(rng.randint(1, 6)))
    return "".join(rng.choice(['"', "\\", " ", "é", "\n", "%", "{", "a", "\u2028"]) for _ in "xyz")


def _random_array(rng: random.Random, np_rng: np.random.Generator, dtype: str) -> np.ndarray:
    shape = tuple(rng.choice([0, 1, 2, 3, 5, 17]) for _ in range(rng.choice([0, 1, 1, 2, 2, 3])))
    np_dtype: Any = np.dtype(NUMPY_DTYPES[dtype])
    values: Any
    if np_dtype == np.bool_:
        values = np_rng.random(shape) < 0.5
    elif np_dtype.kind == "f":
        pool = np.array([0.0, -0.0, 0.5, -1e-300, 5e-324, 1e300, np.inf, -np.inf, np.nan, 3.25])
        values = np_rng.choice(pool, shape) if shape else np.float64(rng.choice(pool.tolist()))
    else:
        info = np.iinfo(np_dtype)
        pool = np.array([info.min, info.max, 0, 1, -1 if info.min else 2, 7], dtype=np.int64)
        values = np_rng.choice(pool, shape) if shape else np.int64(rng.choice(pool.tolist()))
    if shape and rng.random() < 0.3:  # constant: printed as splat
        values = np.full(shape, np.asarray(values).reshape(-1)[:1].tolist() or [0])
    with np.errstate(over="ignore"):  # 1e300 as f32 is inf, as intended
        return np.asarray(values).astype(np_dtype)


def random_graph(rng: random.Random) -> Graph:
    """A graph of random nodes of every op with random operands and attribute values (most do
    not verify; all must print and read back)."""
    np_rng = np.random.default_rng(rng.randrange(1 << 32))
    graph = Graph(name=_random_name(rng))
    if rng.random() < 0.5:
        graph.attrs = {"window": rng.choice([1, 15, 2**40]), "note": _random_name(rng)}
    names: list[str] = []
    for _ in range(rng.randint(1, 8)):
        cls = rng.choice(list(NODE_TYPES.values()))
        fields: dict[str, Any] = {}
        for f in operand_fields(cls):  # optional operands: present ones first
            if names and not f.metadata["optional"]:
                fields[f.name] = rng.choice(names)
            elif not f.metadata["optional"]:
                break  # no node to read yet
            elif names and rng.random() < 0.5:
                fields[f.name] = rng.choice(names)
            else:
                break
        else:
            _fill_attributes(rng, np_rng, cls, fields)
            name = _random_name(rng)
            if name not in graph.nodes:
                graph.add(cls(name=name, **fields))
                names.append(name)
    return graph


def _fill_attributes(
    rng: random.Random, np_rng: np.random.Generator, cls: type, fields: dict[str, Any]
) -> None:
    for f in attribute_fields(cls):
        kind = f.metadata["kind"]
        if f.default is not dataclasses.MISSING and rng.random() < 0.3:
            continue
        if kind == "int":
            fields[f.name] = rng.choice([0, 1, -1, 15, 2**31 - 1, -(2**63), 2**70])
        elif kind == "float":
            fields[f.name] = rng.choice([0.0, -0.0, 1e-300, 0.1, float("inf"), float("nan")])
        elif kind == "str":
            fields[f.name] = _random_name(rng)
        elif f.default is None and rng.random() < 0.3:
            fields[f.name] = None
        else:
            fields[f.name] = _random_array(rng, np_rng, f.metadata["dtype"])


def ir_sources(seed: int) -> list[tuple[str, str]]:
    """(name, text): the golden files, a two-core chip and 16 generated graphs."""
    sources = [
        (str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
        for pattern in GOLDEN_GLOBS
        for path in sorted(ROOT.glob(pattern))
    ]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ir_text_scale import chip_graph

    sources.append(("chip_graph(2)", print_ir(chip_graph(2, seed))))
    for k in range(16):
        graph = random_graph(_case_rng(seed, "ir-graph", k))
        text = print_ir(graph)
        back = parse_ir(text)
        if not back.same_as(graph) or print_ir(back) != text:
            raise AssertionError(f"generated graph {k} does not round-trip:\n{text}")
        sources.append((f"random_graph({k})", text))
    return sources


def _check_ir_text(camp: Campaign, text: str | None, data: bytes | None, tmp: Path) -> None:
    """Parse one mutant (``text``, or ``data`` through a file) and count the outcome."""
    path = "mutant.nsir"
    try:
        if data is not None:
            (tmp / path).write_bytes(data)
            path = str(tmp / path)
            graph = parse_ir_file(path)
            text = (tmp / path).read_bytes().decode("utf-8", "replace")
        else:
            graph = parse_ir(text or "", path)
    except IRParseError as err:
        lines = (text or "").count("\n") + 2 if data is None else 1 << 30
        ok = str(err).startswith(f"{path}:{err.line}:{err.col}: ") and 1 <= err.line <= lines
        camp.count("rejected: IRParseError at file:line:col" if ok else f"{FAIL}: bad position",
                   f"{err!r} for {text!r}"[:1500])  # fmt: skip
        return
    except NscError as err:
        camp.count(f"rejected: {type(err).__name__} while parsing")
        return
    except Exception as err:  # the point of the campaign: nothing else may escape
        camp.count(f"{FAIL}: {type(err).__name__} while parsing", f"{err!r} for {text!r}")
        return
    try:
        canonical = print_ir(graph)
        again = parse_ir(canonical, "canonical.nsir")
        if not again.same_as(graph) or print_ir(again) != canonical:
            camp.count(f"{FAIL}: round trip differs", repr(text))
            return
    except NscError as err:
        camp.count(f"{FAIL}: accepted text does not print and read back ({type(err).__name__})",
                   f"{err} for {text!r}")  # fmt: skip
        return
    except Exception as err:
        camp.count(f"{FAIL}: {type(err).__name__} in the round trip", f"{err!r} for {text!r}")
        return
    try:
        graph.verify()
    except NscError as err:
        where = "at file:line:col" if str(err).startswith(f"{path}:") else "without a position"
        camp.count(f"accepted, round trip exact, verify: {type(err).__name__} {where}")
        return
    except Exception as err:
        camp.count(f"{FAIL}: {type(err).__name__} in verify", f"{err!r} for {text!r}")
        return
    camp.count("accepted, round trip exact, verifies")


def ir_campaign(cases: int, seed: int = 0, first: int = 0) -> Campaign:
    """Mutated nsir texts: rejected with a position, or accepted with an exact round trip."""
    camp = Campaign("ir")
    sources = ir_sources(seed)
    with tempfile.TemporaryDirectory(prefix="nsc-campaign-ir-") as tmp:
        for case in range(first, first + cases):
            rng = _case_rng(seed, "ir", case)
            _, text = rng.choice(sources)
            if rng.random() < 0.15:  # raw bytes, read through parse_ir_file
                data = text.encode("utf-8")
                for _ in range(rng.randint(1, 3)):
                    data = _mutate_bytes(rng, data) if data else data
                _check_ir_text(camp, None, data, Path(tmp))
            else:
                for _ in range(rng.randint(1, 3)):
                    text = rng.choice(TEXT_MUTATIONS)(rng, text) if text else text
                _check_ir_text(camp, text, None, Path(tmp))
            camp.cases += 1
    return camp


# ---------------------------------------------------------------------------------------------
# corelet: corrupted binaries

_SECTION = fmt.SECTION


def corelet_sources(seed: int) -> list[bytes]:
    """Valid corelet files: random (shared and per-neuron parameters), stress, with metadata."""
    out = []
    for k in range(6):
        c = random_corelet(1 + k % 3, 20.0 + k, 8 * (k + 1), seed + k, input_lines=3 + k,
                           output_lines=2 + k, heterogeneous=k % 2 == 1)  # fmt: skip
        c.metadata = {"name": f"c{k}", "host_ir": "nsir 1\ngraph @g {}\n", "é": "ü" * k}
        out.append(fmt.dumps(c))
    for k in range(4):
        out.append(fmt.dumps(stress_corelet(1 + k, seed + 100 + k)))
    return out


def _sections(data: bytes) -> list[tuple[bytes, int, int]]:
    """(tag, payload offset, payload length) of each section of a valid file."""
    out, pos = [], fmt.HEADER.size
    for _ in fmt.SECTION_TAGS:
        tag, _, length = _SECTION.unpack_from(data, pos)
        out.append((tag, pos + _SECTION.size, length))
        pos += _SECTION.size + length
    return out


def _reseal(body: bytes, fix_size: bool = True) -> bytes:
    """``body`` (a file without its trailer) with the header's size and the SHA-256 trailer
    recomputed, as a careful attacker would."""
    data = bytearray(body)
    if fix_size and len(data) >= fmt.HEADER.size:
        struct.pack_into("<Q", data, 24, len(data) + fmt.DIGEST_SIZE)
    return bytes(data) + hashlib.sha256(bytes(data)).digest()


EDIT_VALUES = [0, 1, 2, 3, 4, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 2**31 - 1, 2**31, 2**32 - 1]


def _field_edit(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Overwrite 1, 2, 4 or 8 bytes at a chosen place with a boundary or random value, then
    reseal: headers, section headers, counts and lengths, array elements, text."""
    body = bytearray(data[: -fmt.DIGEST_SIZE])
    sections = _sections(data)
    where = rng.randrange(4)
    if where == 0:  # header field
        offset = rng.choice([8, 10, 12, 16, 20, 24])
    elif where == 1:  # section header: tag, reserved or length
        _, start, _ = rng.choice(sections)
        offset = start - _SECTION.size + rng.choice([0, 4, 8])
    elif where == 2:  # start of a payload (counts, lengths, chip rows)
        _, start, length = rng.choice(sections)
        offset = start + rng.choice([0, 2, 4, 6, 8, 10, 12]) if length else start
    else:  # anywhere in a payload
        _, start, length = rng.choice(sections)
        offset = start + rng.randrange(max(1, length))
    width = rng.choice([1, 2, 4, 4, 8])
    value = rng.choice(EDIT_VALUES) if rng.random() < 0.7 else rng.getrandbits(8 * width)
    value &= (1 << (8 * width)) - 1
    offset = min(offset, max(0, len(body) - width))
    body[offset : offset + width] = value.to_bytes(width, "little")
    place = ["header", "section header", "payload start", "payload"][where]
    description = f"field edit, resealed ({place}): {width} bytes at {offset} = {value}"
    return description, _reseal(bytes(body), fix_size=where != 0)


def mutate_corelet(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One corruption of a valid corelet file, described."""
    kind = rng.randrange(7)
    n = len(data)
    if kind == 0:
        bits = [rng.randrange(8 * n) for _ in range(rng.randint(1, 8))]
        out = bytearray(data)
        for b in bits:
            out[b // 8] ^= 1 << (b % 8)
        return f"bit flips: {bits}", bytes(out)
    if kind == 1:
        cut = rng.randrange(n)
        return f"truncation: to {cut}", data[:cut]
    if kind == 2:
        cut = rng.randrange(fmt.HEADER.size, n - fmt.DIGEST_SIZE)
        return f"truncation, resealed: to {cut}", _reseal(data[:cut])
    if kind == 3:
        extra = os.urandom(rng.choice([1, 7, 100])) if rng.random() < 0.5 else b"\0" * 16
        return f"extension: {len(extra)} bytes", data + extra
    if kind == 4:
        extra = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 16])))
        at = rng.randrange(fmt.HEADER.size, n - fmt.DIGEST_SIZE)
        body = data[: -fmt.DIGEST_SIZE]
        return f"insertion, resealed: {len(extra)} at {at}", _reseal(body[:at] + extra + body[at:])
    return _field_edit(rng, data)


def _run_a_few_ticks(corelet: Corelet) -> None:
    from nsc_runtime import sim

    sim.Simulator(corelet).run(random_inputs(corelet, 4, 0.5, 0), 4)


def corelet_campaign(cases: int, seed: int = 0, first: int = 0) -> Campaign:
    """Corrupted corelets: ``CoreletFormatError``, or a valid corelet that re-serializes to
    the same bytes and runs; peak memory of a load within 16x the file plus 1 MiB. Outcomes
    are counted per kind of corruption."""
    camp = Campaign("corelet")
    sources = corelet_sources(seed)
    for case in range(first, first + cases):
        rng = _case_rng(seed, "corelet", case)
        what, data = mutate_corelet(rng, rng.choice(sources))
        kind = what.split(":")[0]
        camp.cases += 1
        tracemalloc.start()
        try:
            corelet = fmt.loads(data)
        except CoreletFormatError:
            camp.count(f"rejected: CoreletFormatError [{kind}]")
            continue
        except Exception as err:
            camp.count(f"{FAIL}: {type(err).__name__} while loading", f"{what}: {err!r}")
            continue
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            _check_memory(camp, peak, len(data), what)
        try:
            same = fmt.dumps(corelet) == data
            _run_a_few_ticks(corelet)
        except Exception as err:
            camp.count(f"{FAIL}: {type(err).__name__} using a loaded corelet", f"{what}: {err!r}")
            continue
        outcome = "loaded, valid, same bytes, runs" if same else f"{FAIL}: loaded, new bytes"
        camp.count(f"{outcome} [{kind}]", what)
    return camp


def _check_memory(camp: Campaign, peak: int, size: int, what: str) -> None:
    if peak > 16 * size + (1 << 20):
        camp.count(f"{FAIL}: load used {peak} bytes for {size}", what)


# ---------------------------------------------------------------------------------------------
# kill: SIGKILL during writes


def _writer(target: Path, payloads: list[bytes], mode: int) -> None:
    """In a forked child: write the payloads over ``target`` in turn, forever (mode 0: the
    CLI's atomic write, 1: ``format.save``, -1: a plain non-atomic write, for self-tests)."""
    try:
        k = 0
        while True:
            data = payloads[k % len(payloads)]
            if mode == 0:
                write_bytes_atomic(target, data)
            elif mode == 1:
                fmt.save(fmt.loads(data), target)
            else:
                target.write_bytes(data)
            k += 1
    finally:
        os._exit(0)


WRITERS = ["write_bytes_atomic", "format.save", "nsc corelet random"]


def _judge_target(camp: Campaign, target: Path, valid: set[bytes], what: str, writer: str) -> None:
    temps = list(target.parent.glob(f".{target.name}.*.tmp"))
    if temps:
        camp.counts[f"temp files left [{writer}] (not a failure)"] += len(temps)
        for t in temps:
            t.unlink()
    if not target.exists():
        camp.count("target absent")
        return
    data = target.read_bytes()
    if data in valid:
        camp.count("target complete and valid")
        fmt.loads(data)
        return
    camp.count(f"{FAIL}: target is neither absent nor complete ({len(data)} bytes)", what)


def kill_campaign(
    cases: int, seed: int = 0, first: int = 0, cli_every: int = 100, atomic: bool = True
) -> Campaign:
    """SIGKILL a writer at random times: the target is absent or a complete file written.
    ``atomic=False`` writes in place instead (to check that the campaign sees truncation)."""
    camp = Campaign("kill")
    payloads = [fmt.dumps(random_corelet(n, 20.0, 64, seed + n)) for n in (8, 24)]
    valid = set(payloads)
    with tempfile.TemporaryDirectory(prefix="nsc-campaign-kill-") as tmp:
        work = Path(tmp)
        cli_out: dict[int, bytes] = {}
        for case in range(first, first + cases):
            rng = _case_rng(seed, "kill", case)
            target = work / f"out{case % 7}.corelet"
            target.unlink(missing_ok=True)
            if rng.random() < 0.5:  # sometimes an earlier complete file is being replaced
                target.write_bytes(rng.choice(payloads))
            if cli_every and case % cli_every == cli_every - 1:
                cores = rng.choice([1, 8, 40])
                if cores not in cli_out:
                    cli_out[cores] = fmt.dumps(random_corelet(cores, 20.0, 128, 0))
                valid.add(cli_out[cores])
                what, writer = _kill_cli(rng, target, cores), WRITERS[2]
            else:
                mode = int(rng.random() < 0.33) if atomic else -1
                delay = rng.uniform(0.0, 0.03)
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child
                    _writer(target, payloads, mode)
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                writer = WRITERS[mode] if atomic else "plain write"
                what = f"{writer} in a loop, killed after {delay * 1000:.1f} ms"
            _judge_target(camp, target, valid, what, writer)
            camp.cases += 1
    return camp


def _kill_cli(rng: random.Random, target: Path, cores: int) -> str:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'runtime'}")
    command = [sys.executable, "-m", "nsc.cli", "corelet", "random", "--cores", str(cores)]
    command += ["--seed", "0", "-o", str(target)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    delay = rng.uniform(0.0, 1.5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(delay)
    proc.kill()
    proc.wait()
    return f"nsc corelet random --cores {cores} killed after {delay:.2f} s (rc {proc.returncode})"


# ---------------------------------------------------------------------------------------------
# determinism


def _draw(rng: random.Random) -> tuple[str, Callable[[], Corelet]]:
    cores = rng.choice([1, 2, 3, 4, 6])
    s = rng.randrange(1 << 31)
    if rng.random() < 0.5:
        rate, syn, het = (
            rng.choice([0.0, 5.0, 50.0, 300.0]),
            rng.randrange(0, 257),
            rng.random() < 0.5,
        )
        return (
            f"random_corelet({cores}, {rate}, {syn}, {s}, heterogeneous={het})",
            lambda: random_corelet(cores, rate, syn, s, heterogeneous=het),
        )
    return f"stress_corelet({cores}, {s})", lambda: stress_corelet(cores, s)


def _same_result(a: Any, b: Any) -> bool:
    if (
        a.counters != b.counters
        or not np.array_equal(a.v, b.v)
        or a.spikes.keys() != b.spikes.keys()
    ):
        return False
    return all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)


def determinism_campaign(cases: int, seed: int = 0, first: int = 0) -> Campaign:
    """Same corelet, same bytes; same seed, same corelet; threads 1 and 2, same run."""
    from nsc_runtime import sim

    camp = Campaign("determinism")
    with tempfile.TemporaryDirectory(prefix="nsc-campaign-det-") as tmp:
        for case in range(first, first + cases):
            rng = _case_rng(seed, "determinism", case)
            what, build = _draw(rng)
            corelet = build()
            data = fmt.dumps(corelet)
            paths = [Path(tmp) / f"{k}.corelet" for k in range(2)]
            for p in paths:
                fmt.save(corelet, p)
            files = [p.read_bytes() for p in paths]
            camp.cases += 1
            if fmt.dumps(build()) != data or files != [data, data]:
                camp.count(f"{FAIL}: bytes differ", what)
                continue
            ticks = rng.choice([1, 7, 20, 40])
            inputs = random_inputs(corelet, ticks, rng.random(), rng.randrange(1 << 31))
            one = sim.Simulator(corelet, threads=1).run(inputs, ticks)
            two = sim.Simulator(corelet, threads=2, cores_per_thread=1).run(inputs, ticks)
            again = sim.Simulator(fmt.loads(data), threads=1).run(inputs, ticks)
            if not _same_result(one, two):
                camp.count(f"{FAIL}: threads 1 and 2 differ", what)
            elif not _same_result(one, again):
                camp.count(f"{FAIL}: a repeated run differs", what)
            else:
                camp.count("identical bytes and runs (threads 1 = 2)")
    return camp


# ---------------------------------------------------------------------------------------------

CAMPAIGNS: dict[str, Callable[..., Campaign]] = {
    "ir": ir_campaign,
    "corelet": corelet_campaign,
    "kill": kill_campaign,
    "determinism": determinism_campaign,
}


def main() -> None:
    # libgomp's default spin-wait makes a 2-thread run of a tiny corelet about 13x slower on a
    # busy machine; this only changes how idle threads wait. It must be set before the runtime's
    # kernel (and OpenMP) loads, which nothing imported at the top of this file does.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per campaign (10000)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (0)")
    parser.add_argument("--first", type=int, default=0, help="first case number (0)")
    parser.add_argument("--only", default=",".join(CAMPAIGNS), help="campaigns, comma separated")
    args = parser.parse_args()
    if args.cases < 1:
        parser.error(f"--cases must be >= 1, got {args.cases}")
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in CAMPAIGNS]
    if unknown:
        parser.error(
            f"unknown campaign(s) {', '.join(unknown)}; choose from {', '.join(CAMPAIGNS)}"
        )
    results: list[Campaign] = []
    for name in names:
        start = time.perf_counter()
        camp = CAMPAIGNS[name](args.cases, args.seed, args.first)
        camp.seconds = round(time.perf_counter() - start, 1)
        results.append(camp)
        print(f"{name}: {camp.cases} cases, {camp.failed} failed, {camp.seconds} s", flush=True)
        for outcome, n in sorted(camp.counts.items(), key=lambda kv: -kv[1]):
            print(f"  {n:7d}  {outcome}")
        for failure in camp.failures:
            print(f"  example: {failure}")
    summary = {
        "benchmark": "campaigns",
        "cases": args.cases,
        "seed": args.seed,
        "first": args.first,
        "campaigns": {
            c.name: {
                "cases": c.cases,
                "failed": c.failed,
                "seconds": c.seconds,
                "counts": dict(c.counts),
            }
            for c in results
        },
    }
    print(json.dumps(summary))
    if any(c.failed for c in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
