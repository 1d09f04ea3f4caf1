"""The corelet binary: exact round trips, determinism, and hostile input that never crashes."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from nsc_runtime import NEURON_FIELDS, Corelet, CoreletError, CoreletFormatError, Port, synth
from nsc_runtime import format as fmt

DOCS = Path(__file__).resolve().parents[2] / "docs" / "corelet-format.md"


def sample() -> Corelet:
    c = synth.stress_corelet(3, 42)
    c.inputs.append(Port("ünïcode port", [np.zeros((0, 2), np.int32)]))
    c.outputs.append(Port("z", [np.array([[2, 255]], np.int32)]))
    c.chips = (2, 3)
    c.position[:] = [[191, 127], [0, 0], [64, 5]]
    c.metadata.update({"b": "two", "a": "one\nline two", "": "empty key"})
    return c


def assert_same_corelet(a: Corelet, b: Corelet) -> None:
    np.testing.assert_array_equal(a.axon_types, b.axon_types)
    np.testing.assert_array_equal(a.crossbar, b.crossbar)
    assert b.crossbar.dtype == np.bool_
    for name, dtype in NEURON_FIELDS.items():
        np.testing.assert_array_equal(a.neurons[name], b.neurons[name], err_msg=name)
        assert b.neurons[name].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.seeds, b.seeds)
    assert a.chips == b.chips and a.metadata == b.metadata
    for pa, pb in zip([*a.inputs, *a.outputs], [*b.inputs, *b.outputs], strict=True):
        assert pa.name == pb.name and len(pa.lines) == len(pb.lines)
        for la, lb in zip(pa.lines, pb.lines, strict=True):
            np.testing.assert_array_equal(la, lb)


def rehash(data: bytearray) -> bytes:
    """Fix up the trailer so a deliberately edited file passes the checksum."""
    data[-fmt.DIGEST_SIZE :] = hashlib.sha256(bytes(data[: -fmt.DIGEST_SIZE])).digest()
    return bytes(data)


def test_round_trip_is_exact_and_deterministic(tmp_path: Path) -> None:
    c = sample()
    data = fmt.dumps(c)
    assert data == fmt.dumps(c) and data.startswith(fmt.MAGIC)
    back = fmt.loads(data)
    assert_same_corelet(c, back)
    assert fmt.dumps(back) == data
    path = tmp_path / "x.corelet"
    fmt.save(c, path)
    assert path.read_bytes() == data
    assert_same_corelet(c, fmt.load(path))
    assert [p.name for p in tmp_path.iterdir()] == ["x.corelet"]  # no temporary left behind


def test_empty_corelet_round_trip() -> None:
    c = Corelet.empty(0)
    assert_same_corelet(c, fmt.loads(fmt.dumps(c)))


def test_invalid_corelet_is_never_written(tmp_path: Path) -> None:
    c = sample()
    c.neurons["delay"][1, 7] = 0
    c.neurons["dest_core"][1, 7] = 2
    with pytest.raises(CoreletError, match="core 1 neuron 7: delay = 0"):
        fmt.save(c, tmp_path / "x.corelet")
    assert not list(tmp_path.iterdir())


def test_docs_embed_the_generated_layout() -> None:
    assert fmt.layout_markdown() in DOCS.read_text(encoding="utf-8")


def test_layout_matches_the_bytes() -> None:
    c = Corelet.empty(2)
    data = fmt.dumps(c)
    magic, major, minor, flags, n, sections, size = fmt.HEADER.unpack_from(data, 0)
    assert (magic, major, minor, flags, n, sections, size) == (fmt.MAGIC, 1, 0, 0, 2, 6, len(data))
    tag, reserved, length = fmt.SECTION.unpack_from(data, fmt.HEADER.size)
    assert (tag, reserved, length) == (b"CORE", 0, len(fmt.FIELD_TABLE) + 2 * fmt.CORE_BYTES)


def test_value_errors_name_field_place_and_offset() -> None:
    c = Corelet.empty(3)
    c.neurons["alpha"][2, 10] = 12345
    data = bytearray(fmt.dumps(c))
    offset = data.index(struct.pack("<i", 12345))
    data[offset : offset + 4] = struct.pack("<i", 1 << 20)
    with pytest.raises(CoreletFormatError) as err:
        fmt.loads(rehash(data))
    text = str(err.value)
    assert "core 2 neuron 10: alpha = 1048576" in text
    assert "0..262143" in text and f"section CORE, byte offset {offset}" in text


def test_port_errors_name_offset() -> None:
    c = Corelet.empty(2)
    c.outputs.append(Port("y", [np.array([[1, 200]], np.int32), np.array([[1, 201]])]))
    data = bytearray(fmt.dumps(c))
    offset = data.rindex(struct.pack("<ii", 1, 201))
    data[offset : offset + 4] = struct.pack("<i", 7)
    with pytest.raises(CoreletFormatError, match=rf"line 1 entry 0 .*byte offset {offset}\]"):
        fmt.loads(rehash(data))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.__setitem__(slice(0, 8), b"NOTNSC!!"), "bad magic"),
        (lambda d: d.__setitem__(slice(8, 10), b"\x02\x00"), "version 2.0"),
        (lambda d: d.__setitem__(slice(12, 16), b"\x01\x00\x00\x00"), "flags"),
        (lambda d: d.extend(b"\x00"), "header"),
        (lambda d: d.__setitem__(-1, d[-1] ^ 1), "checksum"),
        (lambda d: d.__setitem__(100, d[100] ^ 0x10), "checksum"),
    ],
)
def test_envelope_errors(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(fmt.dumps(Corelet.empty(1)))
    edit(data)
    with pytest.raises(CoreletFormatError, match=message):
        fmt.loads(bytes(data))


def hostile(data: bytes, at: int, value: bytes) -> bytes:
    """Overwrite bytes at ``at`` and make the checksum valid again."""
    d = bytearray(data)
    d[at : at + len(value)] = value
    return rehash(d)


def section_offsets(data: bytes) -> dict[bytes, int]:
    """tag -> offset of its section header."""
    pos, out = fmt.HEADER.size, {}
    for tag in fmt.SECTION_TAGS:
        out[tag] = pos
        pos += fmt.SECTION.size + fmt.SECTION.unpack_from(data, pos)[2]
    return out


def test_hostile_lengths_fail_cleanly() -> None:
    c = Corelet.empty(1)
    c.inputs.append(Port("x", [np.array([[0, 1]], np.int32)]))
    c.metadata["k"] = "v"
    data = fmt.dumps(c)
    at = section_offsets(data)
    huge = struct.pack("<Q", (1 << 63) - 1)
    cases = [
        (at[b"CORE"] + 8, huge, "section payload needs"),
        (16, struct.pack("<I", 0xFFFFFFFF), "cores need"),
        (20, struct.pack("<I", 9), "sections"),
        (at[b"GEOM"], b"XXXX", "expected section tag"),
        (at[b"GEOM"] + 4, b"\x01", "reserved"),
        (at[b"INPT"] + 16, struct.pack("<I", 0xFFFFFFFF), "port lines"),
        (at[b"INPT"] + 20, struct.pack("<H", 0xFFFF), "name needs"),
        (at[b"INPT"] + 23, struct.pack("<I", 0xFFFFFFF0), "port lines in all"),
        (at[b"INPT"] + 27, struct.pack("<I", 0x7FFFFFFF), "entries needs"),
        (at[b"META"] + 16, struct.pack("<I", 0xFFFFFFFF), "metadata entries"),
        (at[b"META"] + 20, struct.pack("<I", 0xFFFFFFFF), "needs"),
        (at[b"INPT"] + 22, b"\xff", "UTF-8"),
        (at[b"CORE"] + 16, b"\x09", "field table"),
    ]
    for offset, value, message in cases:
        with pytest.raises(CoreletFormatError, match=message):
            fmt.loads(hostile(data, offset, value))


def test_metadata_must_be_sorted() -> None:
    c = Corelet.empty(1)
    c.metadata.update(a="1", b="2")
    data = fmt.dumps(c)
    start = data.rindex(b"\x01\x00\x00\x00a")
    swapped = data[:start] + data[start:].replace(b"a", b"c", 1)
    with pytest.raises(CoreletFormatError, match="not after"):
        fmt.loads(rehash(bytearray(swapped)))


def test_fuzz_never_raises_anything_else() -> None:
    """Truncations, bit flips and random garbage, with and without a valid checksum."""
    rng = np.random.default_rng(2024)
    data = fmt.dumps(sample())
    header = fmt.HEADER.size
    attempts = 0
    for cut in rng.choice(len(data), 150, replace=False):
        attempts += expect_format_error(data[:cut])
    for _ in range(150):
        d = bytearray(data)
        for pos in rng.choice(len(d), int(rng.integers(1, 4)), replace=False):
            d[pos] ^= 1 << int(rng.integers(0, 8))
        attempts += expect_format_error(bytes(d))
    for _ in range(400):  # edits behind a valid checksum: the parser itself must cope
        d = bytearray(data)
        body_end = len(d) - fmt.DIGEST_SIZE
        for pos in rng.integers(header, body_end, rng.integers(1, 3)):
            d[pos] = int(rng.integers(0, 256))
        expect_format_error_or_valid(rehash(d))
    for size in rng.integers(0, 4000, 100):
        garbage = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        attempts += expect_format_error(bytes(garbage))
        if size >= header + fmt.DIGEST_SIZE:
            garbage[:header] = fmt.HEADER.pack(fmt.MAGIC, 1, 0, 0, 2, 6, size)
            expect_format_error_or_valid(rehash(garbage))
    assert attempts == 400
    for bad in (None, "text", 3):
        with pytest.raises(CoreletFormatError):
            fmt.loads(bad)  # type: ignore[arg-type]


def expect_format_error(data: bytes) -> int:
    with pytest.raises(CoreletFormatError):
        fmt.loads(data)
    return 1


def expect_format_error_or_valid(data: bytes) -> None:
    try:
        corelet = fmt.loads(data)
    except CoreletFormatError:
        return
    corelet.validate()


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CoreletFormatError, match="cannot read"):
        fmt.load(tmp_path / "missing.corelet")
    path = tmp_path / "short.corelet"
    path.write_bytes(b"\x89NSC")
    with pytest.raises(CoreletFormatError, match=r"short\.corelet: file is truncated"):
        fmt.load(path)


def port_heavy(n_lines: int, seed: int = 0) -> Corelet:
    """Issue 15 item 8 in small: a 2-core corelet whose input port has ``n_lines`` lines,
    99% of them empty, the rest driving one axon each."""
    rng = np.random.default_rng(seed)
    c = Corelet.empty(2)
    c.crossbar[:, :, :8] = True
    lengths = (rng.random(n_lines) < 0.01).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    entries = np.column_stack(
        [rng.integers(0, 2, offsets[-1]), rng.integers(0, 256, offsets[-1])]
    ).astype(np.int32)
    c.inputs.append(Port.from_arrays("x", entries, offsets))
    c.outputs.append(Port("y", [np.array([[k % 2, k]], np.int32) for k in range(16)]))
    return c


def test_port_heavy_corelet_loads_and_runs_in_memory_proportional_to_the_file() -> None:
    import tracemalloc

    from nsc_runtime import reference, sim

    n = 100_000
    original = port_heavy(n)
    data = fmt.dumps(original)
    assert len(data) < 5 * n  # 4 bytes per empty line
    drive = {"x": (np.random.default_rng(1).random((4, n)) < 0.5).astype(np.uint8)}
    tracemalloc.start()
    try:
        loaded = fmt.loads(data)
        load_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        result = sim.run(loaded, drive, 4)
        run_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # flat storage: an int64 offset per line (2x the file's 4-byte length), no per-line object
    assert load_peak < 4 * len(data)  # was 86x with a Python list of small arrays per port
    assert run_peak < 8 * len(data)  # tables + this run's (4, n) inputs and outputs
    port = loaded.inputs[0]
    assert port.offsets.shape == (n + 1,) and port.entries.shape == original.inputs[0].entries.shape
    assert port.entries.dtype == np.int32 and port.offsets.dtype == np.int64
    np.testing.assert_array_equal(port.entries, original.inputs[0].entries)
    np.testing.assert_array_equal(port.offsets, original.inputs[0].offsets)
    assert fmt.dumps(loaded) == data
    expected = reference.simulate(loaded, drive, 4)
    assert result.counters == expected.counters and result.counters["synaptic_events"] > 0
    np.testing.assert_array_equal(result.spikes["y"], expected.spikes["y"])


def test_port_lines_api_matches_the_list_form() -> None:
    lines = [np.array([[0, 1], [1, 2]]), np.zeros((0, 2), np.int64), np.array([[1, 255]])]
    port = Port("x", lines)
    assert len(port.lines) == port.n_lines == 3
    for got, want in zip(port.lines, lines, strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int32
    np.testing.assert_array_equal(port.lines[-1], lines[2])
    assert [len(x) for x in port.lines[1:]] == [0, 1]
    np.testing.assert_array_equal(port.line_ids, [0, 0, 2])
    port.lines[0][1, 1] = 7  # a view: edits the port
    assert port.entries[1, 1] == 7
    with pytest.raises(IndexError):
        port.lines[3]
    with pytest.raises(CoreletError, match="does not fit 32 bits"):
        Port("x", [np.array([[0, 1 << 40]])])
    with pytest.raises(CoreletError, match=r"line 1: expected an \(m, 2\) integer array"):
        Port("x", [np.zeros((1, 2), np.int32), np.zeros(3, np.int32)])
