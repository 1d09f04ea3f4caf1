"""Size limits (nsc.text.limits): a short text cannot make the parser allocate gigabytes, every
refusal is a positioned IRParseError that names the array and the limit, and the limits leave
ample room for the largest legitimate files (a full chip, multi-chip core dumps)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from nsc.errors import IRParseError, NscError
from nsc.ir import Core, Graph
from nsc.text import parse_ir, print_ir
from nsc.text.limits import (
    MAX_ARRAY_BYTES,
    MAX_ARRAY_ELEMENTS,
    MAX_BYTES_PER_TEXT_BYTE,
    MAX_FILE_BYTES,
    file_bytes_limit,
)
from nsc_runtime import hw

# The issue's bomb: eight 512 MiB splats in a few hundred bytes of text.
BOMB = (
    "nsir 1\ngraph @bomb {\n  %x = input {features = 8192}\n"
    + "".join(
        f"  %w{i} = linear %x {{weight = f64[8192x8192] splat 0.5, bias = f64[8192] splat 0.5}}\n"
        for i in range(8)
    )
    + "}\n"
)

CORE = """  %c{k} = core {{x = {x}, y = {y}, axon_types = u8[256] splat 0,
    crossbar = bool[256x256] splat false, weights = i32[256x4] splat 1,
    alpha = i32[256] splat 1, leak = i32[256] splat 0, beta = i32[256] splat 0,
    kappa = u8[256] splat 0, reset_mode = u8[256] splat 0, reset = i32[256] splat 0,
    v0 = i32[256] splat 0, tm = u8[256] splat 0, leak_reversal = u8[256] splat 0,
    stoch_leak = u8[256] splat 0, stoch_synapse = u8[256] splat 0,
    dest_core = i32[256] splat -1, dest_axon = i32[256] splat 0, delay = i32[256] splat 1}}
"""
CHIP_LINES = hw.CORES_PER_CHIP * hw.AXONS_PER_CORE  # at most one input line per axon


def _chip_text(cores: int, lines: int) -> str:
    """A core-level file: ``cores`` cores and input and output ports of ``lines`` lines."""
    side = hw.CORES_PER_CHIP_SIDE
    return (
        "nsir 1\ngraph @chip {\n  %x = input {features = 1}\n"
        + "".join(CORE.format(k=k, x=k % side, y=k // side) for k in range(cores))
        + f"  %in = core_input %x {{lines = i32[{lines}x3] splat 0}}\n"
        + f"  %y = core_output {{lines = i32[{lines}x2] splat 0}}\n}}\n"
    )


def _core(crossbar: np.ndarray) -> Core:
    """A core with ``crossbar`` and constant per-neuron arrays."""
    n = hw.NEURONS_PER_CORE
    names = ["leak", "beta", "kappa", "reset_mode", "reset", "v0", "tm", "leak_reversal"]
    names += ["stoch_leak", "stoch_synapse", "dest_core", "dest_axon"]
    arrays = {name: np.zeros(n) for name in names}
    arrays |= {"alpha": np.ones(n), "delay": np.ones(n), "weights": np.zeros((n, hw.AXON_TYPES))}
    return Core(
        name="c", x=0, y=0, axon_types=np.zeros(hw.AXONS_PER_CORE), crossbar=crossbar, **arrays
    )


def _peak_bytes(text: str) -> tuple[IRParseError, int]:
    """The error parsing ``text`` raises and the peak memory traced while parsing it."""
    parse_ir("nsir 1\ngraph @warm {}\n")  # build lark's parser outside the measurement
    tracemalloc.start()
    try:
        with pytest.raises(IRParseError) as info:
            parse_ir(text, "bomb.nsir")
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_issue_bomb_is_refused_before_allocating() -> None:
    assert len(BOMB) < 1000
    err, peak = _peak_bytes(BOMB)
    assert (err.line, err.col) == (4, 29)
    message = str(err)
    assert message.startswith("bomb.nsir:4:29: array 'weight' of %w0: f64[8192x8192]")
    assert "67,108,864 elements" in message and "MAX_ARRAY_ELEMENTS" in message
    assert peak < 4 << 20  # nothing near the 512 MiB array was allocated


def test_per_array_byte_limit_names_the_array() -> None:
    text = BOMB.replace("f64[8192x8192]", "i64[4096x8192]")  # 2^25 elements, 256 MiB
    err, peak = _peak_bytes(text)
    assert "array 'weight' of %w0: i64[4096x8192] is 256 MiB" in str(err)
    assert "limit of 128 MiB per array (MAX_ARRAY_BYTES)" in str(err)
    assert peak < 4 << 20


def test_per_file_limit_counts_every_array_before_any_is_allocated() -> None:
    # each array is at the per-array limit (128 MiB); the ninth passes 1 GiB
    lines = [f"  %w{i} = linear %x {{weight = f64[4096x4096] splat 0.5}}\n" for i in range(9)]
    text = "nsir 1\ngraph @g {\n  %x = input {features = 4096}\n" + "".join(lines) + "}\n"
    err, peak = _peak_bytes(text)
    assert err.line == 12 and str(err).startswith("bomb.nsir:12:")
    assert "array 'weight' of %w8: the arrays up to this one total 1,152 MiB" in str(err)
    assert "limit of 1 GiB" in str(err) and "MAX_FILE_BYTES" in str(err)
    assert peak < 4 << 20  # the eight arrays before it were not allocated either


def test_declared_dimension_beyond_any_limit() -> None:
    with pytest.raises(IRParseError, match=r"dimension 99999999999 is too large") as info:
        text = "nsir 1\ngraph @g {\n  %x = input\n"
        parse_ir(text + "  %l = linear %x {weight = f64[99999999999x1] splat 0}\n}\n")
    assert (info.value.line, info.value.col) == (4, 32)


def test_limits_admit_a_full_chip_with_margin() -> None:
    """A full chip's arrays (measured on a real core node) and its largest possible ports."""
    core = _core(np.zeros((hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE), bool))
    per_core = sum(v.nbytes for v in vars(core).values() if isinstance(v, np.ndarray))
    assert per_core == 79_616
    ports = CHIP_LINES * 3 * 4 + CHIP_LINES * 2 * 4  # i32 (m, 3) input and (m, 2) output lines
    chip = hw.CORES_PER_CHIP * per_core + ports
    assert chip == 347_078_656
    assert 3 * chip < MAX_FILE_BYTES  # a chip needs a third of the per-file floor
    assert 8 * CHIP_LINES * 3 <= MAX_ARRAY_ELEMENTS  # the largest array: input lines
    assert 8 * CHIP_LINES * 3 * 4 <= MAX_ARRAY_BYTES
    # an rnn of 4,096 hidden units (beyond one chip) still has a legal f64 w_hh
    assert MAX_ARRAY_BYTES >= 4096 * 4096 * 8


def test_multi_chip_core_dumps_stay_far_below_the_per_text_allowance() -> None:
    """Past 1 GiB a file may declare MAX_BYTES_PER_TEXT_BYTE bytes per character: a core whose
    crossbar is not constant (one synapse) prints as text that declares about 4 bytes per
    character, so dumps of any number of such cores are admitted."""
    crossbar = np.zeros((hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE), bool)
    crossbar[0, 0] = True
    core = _core(crossbar)
    graph = Graph(name="g")
    graph.add(core)
    text = print_ir(graph)
    declared = sum(v.nbytes for v in vars(core).values() if isinstance(v, np.ndarray))
    assert declared / len(text) < MAX_BYTES_PER_TEXT_BYTE / 8
    assert file_bytes_limit(10**9) == MAX_BYTES_PER_TEXT_BYTE * 10**9
    assert file_bytes_limit(100) == MAX_FILE_BYTES


def test_a_chip_with_the_largest_ports_parses() -> None:
    """A core-level file of 256 cores with the largest ports a chip can have (a million input
    and output lines, 20 MiB: its largest arrays) parses and verifies."""
    text = _chip_text(256, CHIP_LINES)
    graph = parse_ir(text, "chip.nsir")
    assert len(graph.cores()) == 256
    assert graph["in"].lines.shape == (CHIP_LINES, 3)
    graph.verify()


def test_printer_refuses_what_the_parser_would_refuse() -> None:
    text = _chip_text(1, 4)
    graph = parse_ir(text)
    graph["in"].lines = np.zeros((MAX_ARRAY_ELEMENTS // 3 + 1, 3), np.int32)
    with pytest.raises(NscError, match="MAX_ARRAY_ELEMENTS"):
        print_ir(graph)


@pytest.mark.parametrize("dtype", ["i64", "f64", "bool"])
def test_parsed_arrays_are_not_copied_when_no_conversion_is_needed(dtype: str) -> None:
    """Decoding allocates the array once: int64 and float64 values are not recast, the hex
    rows of a bool array become bools in place (peak memory: the decoded array, its text and
    at most half an array more, where a needless copy would add a whole one)."""
    from nsc.text.arrays import parse_payload

    rows, cols = 4096, 256
    if dtype == "bool":
        payload = "hex [" + ", ".join(['"' + "ff" * (cols // 8) + '"'] * rows) + "]"
        shape: tuple[int, ...] = (rows, cols)
    else:
        payload = "[" + ", ".join(["7"] * rows * 64) + "]"
        shape = (rows * 64,)
    tracemalloc.start()
    try:
        array = parse_payload(dtype, shape, payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.shape == shape and array.all()
    assert peak < 2 * len(payload) + 1.5 * array.nbytes


@pytest.mark.parametrize("bad", ["x", "99999999999", "1e999"])
def test_malformed_large_payloads_use_memory_proportional_to_the_text(bad: str) -> None:
    """The token-by-token path that finds the error reads tokens lazily."""
    from nsc.text.arrays import ArraySyntaxError, parse_payload

    n = 1 << 17
    payload = "[" + ", ".join(["7"] * (n - 1)) + f", {bad}]"
    tracemalloc.start()
    try:
        with pytest.raises(ArraySyntaxError, match=r"out of range|expected a value"):
            parse_payload("i32" if bad != "1e999" else "f32", (n,), payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * len(payload)
