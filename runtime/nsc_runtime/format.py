"""The corelet binary format: the one definition, used by the writer and the loader.

A file is ``header | 6 sections | trailer``, all integers little-endian:

- header (32 bytes, :data:`HEADER`): magic, version, flags (0), number of cores, number of
  sections (6), total file size;
- sections, in this fixed order, each a 16-byte section header (:data:`SECTION`: 4-byte ASCII
  tag, 4 reserved zero bytes, payload length) then the payload: ``CORE`` (neuron-field table,
  axon types, packed crossbar rows, one array per neuron field), ``GEOM`` (chip grid,
  positions), ``SEED`` (per-core PRNG seeds), ``INPT`` and ``OUTP`` (ports), ``META``
  (metadata, keys sorted);
- trailer: the SHA-256 of every byte before it.

The neuron-field arrays and their order come from ``NEURON_FIELDS`` (``corelet.py``); the file
stores that table and the loader requires it to match. :func:`layout_markdown` renders the
byte-by-byte layout from these same definitions (docs/corelet-format.md embeds its output).

Writing is deterministic (same corelet, same bytes). Loading trusts nothing: every length is
checked against the bytes that remain before anything is allocated, then the checksum, then
every hardware rule (``validate.py``). Any problem raises :class:`CoreletFormatError` naming the
section, the element and the byte offset. Memory used by a load is bounded by a small multiple
of the file size (the crossbar stays packed as in the file, ``Corelet.crossbar_packed``, and is
never unpacked to bool by a load; a port line costs 8 bytes of offsets for the 4 of its
length, with no per-line Python object; ports and metadata are capped by ``validate``).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from . import hw
from .atomic import write_bytes_atomic
from .corelet import (
    NEURON_FIELDS,
    ROW_BYTES,
    Corelet,
    Port,
    aligned_zeros,
    neuron_field_shape,
)
from .errors import CoreletError, CoreletFormatError
from .validate import (
    METADATA_MAX_ITEMS,
    NEURON_RANGES,
    PORT_LINES_MAX,
    Violation,
    find_violation,
)

MAGIC = b"\x89NSC\r\n\x1a\n"  # PNG-style: catches text-mode transfers and truncation at once
VERSION = (1, 0)
HEADER = struct.Struct("<8sHHIIIQ")  # magic, major, minor, flags, n_cores, n_sections, size
SECTION = struct.Struct("<4sIQ")  # tag, reserved (0), payload length
DIGEST_SIZE = hashlib.sha256().digest_size  # trailer: SHA-256 of everything before it
SECTION_TAGS = (b"CORE", b"GEOM", b"SEED", b"INPT", b"OUTP", b"META")

_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")
_CUMSUM_CHUNK = 1 << 16  # port line lengths summed this many at a time
T = TypeVar("T")


@dataclass(frozen=True)
class FieldSpec:
    """One neuron-field array in the ``CORE`` section: ``count`` values per neuron."""

    name: str
    dtype: np.dtype  # little-endian, fixed width
    count: int

    @property
    def code(self) -> bytes:
        """The struct format character of the dtype (``b B h H i I``)."""
        return np.dtype(self.dtype).char.encode("ascii")

    @property
    def bytes_per_core(self) -> int:
        return hw.NEURONS_PER_CORE * self.count * self.dtype.itemsize


def field_specs() -> list[FieldSpec]:
    """The neuron-field arrays of the ``CORE`` section, derived from ``NEURON_FIELDS``."""
    specs = []
    for name, dtype in NEURON_FIELDS.items():
        shape = neuron_field_shape(name, 1)
        count = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
        specs.append(FieldSpec(name, np.dtype(dtype).newbyteorder("<"), count))
    return specs


FIELDS = field_specs()


def _field_table() -> bytes:
    """``u16 n_fields`` then per field ``u8 name_len, name, u8 dtype code, u8 count``."""
    parts = [_U16.pack(len(FIELDS))]
    for spec in FIELDS:
        name = spec.name.encode("ascii")
        parts += [bytes([len(name)]), name, spec.code, bytes([spec.count])]
    return b"".join(parts)


FIELD_TABLE = _field_table()
CORE_BYTES = (
    hw.AXONS_PER_CORE + hw.AXONS_PER_CORE * ROW_BYTES + sum(f.bytes_per_core for f in FIELDS)
)


# ---------------------------------------------------------------------------------------------
# writer


def dumps(corelet: Corelet) -> bytes:
    """The binary form of ``corelet`` (deterministic). Raises :class:`CoreletError` if the
    corelet breaks a hardware rule: an invalid corelet is never written."""
    violation = find_violation(corelet)
    if violation is not None:
        raise CoreletError(violation.message())
    sections = [
        (b"CORE", _core_payload(corelet)),
        (b"GEOM", _geom_payload(corelet)),
        (b"SEED", corelet.seeds.astype("<u4").tobytes()),
        (b"INPT", _ports_payload(corelet.inputs)),
        (b"OUTP", _ports_payload(corelet.outputs)),
        (b"META", _meta_payload(corelet.metadata)),
    ]
    body = [part for tag, data in sections for part in (SECTION.pack(tag, 0, len(data)), data)]
    size = HEADER.size + sum(len(p) for p in body) + DIGEST_SIZE
    header = HEADER.pack(MAGIC, *VERSION, 0, corelet.n_cores, len(sections), size)
    digest = hashlib.sha256(header)
    for part in body:
        digest.update(part)
    return b"".join([header, *body, digest.digest()])


def _core_payload(corelet: Corelet) -> bytes:
    packed = corelet.crossbar_packed  # the rows held (a loaded corelet), or packed from bool
    parts = [FIELD_TABLE, corelet.axon_types.astype(np.uint8).tobytes(), packed.tobytes()]
    parts += [corelet.neurons[f.name].astype(f.dtype).tobytes() for f in FIELDS]
    return b"".join(parts)


def _geom_payload(corelet: Corelet) -> bytes:
    rows, cols = (int(v) for v in corelet.chips)
    return _U32.pack(rows) + _U32.pack(cols) + corelet.position.astype("<i4").tobytes()


def _ports_payload(ports: list[Port]) -> bytes:
    parts = [_U32.pack(len(ports))]
    for port in ports:
        name = port.name.encode("utf-8")
        lengths = np.diff(port.offsets).astype("<u4")
        parts += [_U16.pack(len(name)), name, _U32.pack(port.n_lines), lengths.tobytes()]
        parts.append(port.entries.astype("<i4").tobytes())
    return b"".join(parts)


def _meta_payload(metadata: dict[str, str]) -> bytes:
    parts = [_U32.pack(len(metadata))]
    for key in sorted(metadata):
        for text in (key, metadata[key]):
            raw = text.encode("utf-8")
            parts += [_U32.pack(len(raw)), raw]
    return b"".join(parts)


def save(corelet: Corelet, path: str | os.PathLike[str]) -> None:
    """Write ``corelet`` to ``path`` atomically (rules: :mod:`nsc_runtime.atomic`)."""
    write_bytes_atomic(path, dumps(corelet))


# ---------------------------------------------------------------------------------------------
# loader


class _Reader:
    """Bounds-checked little-endian reads from ``data[pos:end]`` within one section."""

    def __init__(self, data: bytes, pos: int, end: int, section: str) -> None:
        self.data, self.pos, self.end, self.section = data, pos, end, section

    def fail(self, what: str, offset: int | None = None) -> CoreletFormatError:
        at = self.pos if offset is None else offset
        return CoreletFormatError(f"section {self.section}: {what} (byte offset {at})")

    def take(self, n: int, what: str) -> int:
        """Reserve ``n`` bytes; return their offset. Never trusts ``n``."""
        if n < 0 or n > self.end - self.pos:
            raise self.fail(f"{what} needs {n} bytes but only {self.end - self.pos} remain")
        start = self.pos
        self.pos += n
        return start

    def uint(self, fmt: struct.Struct, what: str) -> int:
        return int(fmt.unpack_from(self.data, self.take(fmt.size, what))[0])

    def array(self, dtype: npt.DTypeLike, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        start = self.take(count * dt.itemsize, what)
        view = np.frombuffer(self.data, dt, count, start)
        return view.astype(dt.newbyteorder("="))

    def view(self, dtype: npt.DTypeLike, count: int, what: str) -> np.ndarray:
        """Like :meth:`array` but a read-only view of the file's bytes (no copy)."""
        dt = np.dtype(dtype)
        return np.frombuffer(self.data, dt, count, self.take(count * dt.itemsize, what))

    def text(self, n: int, what: str) -> str:
        start = self.take(n, what)
        try:
            return self.data[start : start + n].decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.fail(f"{what} is not valid UTF-8", start) from err

    def done(self) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} unexpected bytes at the end of the section")


@dataclass
class _Layout:
    """Where each array of a loaded corelet came from, to turn a violation into an offset."""

    arrays: dict[str, tuple[str, int, int, tuple[int, ...]]]  # field -> section, off, size, shape
    ports: dict[str, tuple[str, int, np.ndarray]]  # "inputs[p]" -> section, off, line starts
    sections: dict[str, int]  # tag -> payload offset
    port_lines: int = 0  # lines read so far, all ports together


def _walk(
    data: Any, c: int, layout: _Layout, core: Callable[[_Reader], T]
) -> tuple[T, tuple[Any, ...]]:
    """Every section in order: the CORE payload through ``core``, then (chips, position,
    seeds, inputs, outputs, metadata), the arguments of :func:`_assemble` after the core."""
    walk = _Sections(data, layout)
    core_value = walk.next(core)
    chips, position = walk.next(lambda r: _parse_geom(r, c, layout))
    seeds = walk.next(lambda r: _parse_seed(r, c, layout))
    inputs = walk.next(lambda r: _parse_ports(r, layout))
    outputs = walk.next(lambda r: _parse_ports(r, layout))
    metadata = walk.next(_parse_meta)
    walk.finish()
    return core_value, (chips, position, seeds, inputs, outputs, metadata)


class _Sections:
    """Walks the fixed sequence of sections, checking each section header."""

    def __init__(self, data: bytes, layout: _Layout) -> None:
        self.data, self.layout = data, layout
        self.pos, self.end = HEADER.size, len(data) - DIGEST_SIZE
        self.expected = iter(SECTION_TAGS)

    def next(self, parse: Callable[[_Reader], T]) -> T:
        tag = next(self.expected)
        name = tag.decode("ascii")
        head = _Reader(self.data, self.pos, self.end, name)
        off = head.take(SECTION.size, "section header")
        got, reserved, length = SECTION.unpack_from(self.data, off)
        if got != tag:
            raise head.fail(f"expected section tag {tag!r}, found {got!r}", off)
        if reserved != 0:
            raise head.fail(f"reserved bytes must be 0, found {reserved}", off + 4)
        start = head.take(length, "section payload")
        body = _Reader(self.data, start, start + length, name)
        self.layout.sections[name] = start
        value = parse(body)
        body.done()
        self.pos = body.end
        return value

    def finish(self) -> None:
        if self.pos != self.end:
            raise CoreletFormatError(
                f"{self.end - self.pos} unexpected bytes after the last section (byte {self.pos})"
            )


def loads(data: bytes | bytearray | memoryview) -> Corelet:
    """Parse and fully validate a corelet binary. Raises :class:`CoreletFormatError` only."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CoreletFormatError(f"expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    c = _check_envelope(raw)
    layout = _Layout({}, {}, {})
    core, rest = _walk(raw, c, layout, lambda r: _parse_core(r, c, layout))
    corelet = _assemble(core, *rest, layout)
    return corelet


def _check_envelope(data: bytes) -> int:
    """Check magic, version, flags, size and checksum; return the number of cores."""
    n_cores = _check_header(bytes(data[: HEADER.size]), len(data))
    digest = hashlib.sha256(memoryview(data)[:-DIGEST_SIZE]).digest()
    if digest != data[-DIGEST_SIZE:]:
        raise CoreletFormatError(
            f"checksum mismatch: the SHA-256 at byte {len(data) - DIGEST_SIZE} does not match "
            "the content (the file is corrupted)"
        )
    _check_sections(bytes(data[: HEADER.size]))
    return n_cores


def _check_header(head: bytes, size_found: int) -> int:
    """Check the header of a file of ``size_found`` bytes (all but the checksum); return the
    number of cores."""
    minimum = HEADER.size + DIGEST_SIZE
    if size_found < minimum:
        raise CoreletFormatError(
            f"file is truncated: {size_found} bytes, a corelet file has at least {minimum}"
        )
    magic, major, minor, flags, n_cores, _, size = HEADER.unpack_from(head, 0)
    if magic != MAGIC:
        raise CoreletFormatError(f"not an nsc corelet file: bad magic {magic!r} at byte 0")
    if (major, minor) != VERSION:
        raise CoreletFormatError(
            f"unsupported format version {major}.{minor} at byte 8 "
            f"(this nsc_runtime reads {VERSION[0]}.{VERSION[1]})"
        )
    if flags != 0:
        raise CoreletFormatError(f"header flags must be 0, found {flags:#x} at byte 12")
    if size != size_found:
        kind = "truncated" if size > size_found else "followed by unexpected bytes"
        raise CoreletFormatError(
            f"file is {kind}: the header (byte 24) says {size} bytes, the file has {size_found}"
        )
    return int(n_cores)


def _check_sections(head: bytes) -> None:
    n_sections = HEADER.unpack_from(head, 0)[5]
    if n_sections != len(SECTION_TAGS):
        raise CoreletFormatError(
            f"header (byte 20) lists {n_sections} sections, version 1.0 has {len(SECTION_TAGS)}"
        )


def _parse_core(r: _Reader, n_cores: int, layout: _Layout) -> dict[str, np.ndarray]:
    table_at = r.take(len(FIELD_TABLE), "neuron field table")
    if r.data[table_at : table_at + len(FIELD_TABLE)] != FIELD_TABLE:
        raise r.fail(
            "the neuron field table differs from this nsc_runtime's "
            f"({', '.join(f.name for f in FIELDS)}): written by another version?",
            table_at,
        )
    need = n_cores * CORE_BYTES
    if need != r.end - r.pos:
        raise r.fail(
            f"{n_cores} cores need {need} bytes of arrays, the section has {r.end - r.pos}"
        )
    out: dict[str, np.ndarray] = {}
    a = hw.AXONS_PER_CORE
    layout.arrays["axon_types"] = (r.section, r.pos, 1, (n_cores, a))
    out["axon_types"] = r.array(np.uint8, n_cores * a, "axon types").reshape(n_cores, a)
    layout.arrays["crossbar"] = (r.section, r.pos, 1, (n_cores, a, ROW_BYTES))
    rows = r.view(np.uint8, n_cores * a * ROW_BYTES, "crossbar")
    packed = aligned_zeros((n_cores, a, ROW_BYTES), np.uint8)  # kept packed, as in the file
    packed.reshape(-1)[:] = rows
    packed.flags.writeable = False  # the kernel may read these very rows (sim.build_tables)
    out["crossbar"] = packed
    for spec in FIELDS:
        shape = neuron_field_shape(spec.name, n_cores)
        layout.arrays[spec.name] = (r.section, r.pos, spec.dtype.itemsize, shape)
        count = int(np.prod(shape, dtype=np.int64))
        out[spec.name] = r.array(spec.dtype, count, f"field {spec.name}").reshape(shape)
    return out


def _parse_geom(r: _Reader, n_cores: int, layout: _Layout) -> tuple[tuple[int, int], np.ndarray]:
    rows = r.uint(_U32, "chip rows")
    cols = r.uint(_U32, "chip columns")
    layout.arrays["position"] = (r.section, r.pos, 4, (n_cores, 2))
    pos = r.array("<i4", n_cores * 2, "positions").reshape(n_cores, 2)
    return (rows, cols), pos


def _parse_seed(r: _Reader, n_cores: int, layout: _Layout) -> np.ndarray:
    layout.arrays["seeds"] = (r.section, r.pos, 4, (n_cores,))
    return r.array("<u4", n_cores, "seeds")


def _parse_ports(r: _Reader, layout: _Layout) -> list[Port]:
    kind = "inputs" if r.section == "INPT" else "outputs"
    n_ports = r.uint(_U32, "port count")
    if n_ports > PORT_LINES_MAX:
        raise r.fail(f"{n_ports} ports is more than the limit of {PORT_LINES_MAX} port lines")
    ports: list[Port] = []
    for p in range(n_ports):
        name = r.text(r.uint(_U16, f"port {p} name length"), f"port {p} name")
        n_lines = r.uint(_U32, f"port {name!r} line count")
        layout.port_lines += n_lines
        if layout.port_lines > PORT_LINES_MAX:
            raise r.fail(f"more than {PORT_LINES_MAX} port lines in all (port {name!r})")
        lengths = r.view("<u4", n_lines, f"port {name!r} line lengths")
        starts = np.zeros(n_lines + 1, np.int64)  # flat: 8 bytes per line, no per-line object
        for lo in range(0, n_lines, _CUMSUM_CHUNK):  # chunks: no full-size int64 temporary
            hi = min(n_lines, lo + _CUMSUM_CHUNK)
            np.cumsum(lengths[lo:hi], dtype=np.int64, out=starts[lo + 1 : hi + 1])
            starts[lo + 1 : hi + 1] += starts[lo]
        total = int(starts[-1])
        layout.ports[f"{kind}[{p}]"] = (r.section, r.pos, starts)
        entries = r.array("<i4", total * 2, f"port {name!r} entries").reshape(total, 2)
        ports.append(Port.from_arrays(name, entries, starts))
    return ports


def _parse_meta(r: _Reader) -> dict[str, str]:
    n_items = r.uint(_U32, "metadata count")
    if n_items > METADATA_MAX_ITEMS:
        raise r.fail(f"{n_items} metadata entries, the limit is {METADATA_MAX_ITEMS}")
    meta: dict[str, str] = {}
    previous: str | None = None
    for i in range(n_items):
        at = r.pos
        key = r.text(r.uint(_U32, f"metadata key {i} length"), f"metadata key {i}")
        if previous is not None and key <= previous:
            raise r.fail(
                f"metadata key {key!r} is not after {previous!r} (keys sorted, unique)", at
            )
        meta[key] = r.text(r.uint(_U32, f"metadata {key!r} length"), f"metadata {key!r} value")
        previous = key
    return meta


def _assemble(
    core: dict[str, Any],
    chips: Any,
    position: Any,
    seeds: Any,
    inputs: Any,
    outputs: Any,
    metadata: Any,
    layout: _Layout,
) -> Corelet:
    """The corelet of parsed sections, validated like user input (a violation names where)."""
    corelet = Corelet(
        axon_types=core.pop("axon_types"),
        crossbar=None,
        crossbar_packed=core.pop("crossbar"),
        neurons=core,
        position=position,
        seeds=seeds,
        inputs=inputs,
        outputs=outputs,
        chips=chips,
        metadata=metadata,
    )
    violation = find_violation(corelet)
    if violation is not None:
        raise CoreletFormatError(f"{violation.message()} [{_locate(violation, layout)}]")
    return corelet


def _locate(v: Violation, layout: _Layout) -> str:
    """'section X, byte offset N' for a violation found in a loaded corelet."""
    if v.field in layout.arrays and v.index:
        section, off, size, shape = layout.arrays[v.field]
        index = v.index
        if v.field == "crossbar":
            index = (*index[:2], index[2] // 8)
        flat = int(np.ravel_multi_index(index, shape))
        return f"section {section}, byte offset {off + flat * size}"
    port = layout.ports.get(v.field)
    if port is not None and len(v.index) == 3:
        section, off, starts = port
        line, entry, col = v.index
        return f"section {section}, byte offset {off + (int(starts[line]) + entry) * 8 + col * 4}"
    prefixes = {"chips": "GEOM", "metadata": "META", "inputs": "INPT", "ports": "INPT"}
    prefixes["outputs"] = "OUTP"
    section = next((t for p, t in prefixes.items() if v.field.startswith(p)), "CORE")
    return f"section {section}, byte offset {layout.sections[section]}"


def load(path: str | os.PathLike[str]) -> Corelet:
    """Read and fully validate a corelet file (:class:`CoreletFormatError` on any problem)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise CoreletFormatError(f"cannot read corelet file {str(path)!r}: {err.strerror}") from err
    try:
        return loads(data)
    except CoreletFormatError as err:
        raise CoreletFormatError(f"{path}: {err}") from None


# Neuron fields every rank of a distributed run reads whole (the routes): the rest is read
# for its own cores only by load_part.
ROUTE_FIELDS = ("dest_core", "dest_axon", "delay")
_READ_CHUNK = 1 << 24


def load_part(
    path: str | os.PathLike[str],
    owned: Callable[[int, tuple[int, int], np.ndarray], tuple[int, int]],
) -> tuple[Corelet, tuple[int, int]]:
    """Read a corelet file for one process of a distributed run, holding only its own cores.

    ``owned(n_cores, chips, position)`` returns the cores ``(lo, hi)`` this process runs.
    The result is a full-size :class:`Corelet` in which the cores ``lo:hi`` hold the file's
    values, the routes (:data:`ROUTE_FIELDS`), geometry, seeds, ports and metadata are whole,
    and the other cores' crossbars, axon types and neuron parameters are zero: arrays
    allocated by ``np.zeros`` and never written, so they take address space but no memory.
    The file is checked as :func:`load` checks it (envelope, checksum streamed in chunks,
    sections, then the hardware rules on what was read; the zeros are valid values)."""
    import mmap

    where = str(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, after the mapping)
    except OSError as err:
        raise CoreletFormatError(f"cannot read corelet file {where!r}: {err.strerror}") from err
    try:
        with f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _load_part(f, mm, owned)
    except (ValueError, OSError) as err:  # an empty file cannot be mapped
        raise CoreletFormatError(f"{where}: cannot read the corelet file: {err}") from None
    except CoreletFormatError as err:
        raise CoreletFormatError(f"{where}: {err}") from None


def _load_part(
    f: Any, mm: Any, owned: Callable[[int, tuple[int, int], np.ndarray], tuple[int, int]]
) -> tuple[Corelet, tuple[int, int]]:
    size = len(mm)
    c = _check_header(bytes(mm[: HEADER.size]), size)
    digest = hashlib.sha256()
    f.seek(0)
    left = size - DIGEST_SIZE
    while left:  # streamed: the file's pages are not mapped into this process
        chunk = f.read(min(_READ_CHUNK, left))
        if not chunk:
            raise CoreletFormatError("file changed while reading it")
        digest.update(chunk)
        left -= len(chunk)
    trailer = bytes(mm[size - DIGEST_SIZE :])
    if digest.digest() != trailer:
        raise CoreletFormatError(
            f"checksum mismatch: the SHA-256 at byte {size - DIGEST_SIZE} does not match "
            "the content (the file is corrupted)"
        )
    _check_sections(bytes(mm[: HEADER.size]))
    layout = _Layout({}, {}, {})
    (core_at, core_size), rest = _walk(mm, c, layout, _span)
    chips, position = rest[0], rest[1]
    lo, hi = (int(v) for v in owned(c, chips, position))
    if not 0 <= lo <= hi <= c:
        raise CoreletFormatError(f"cores {lo}:{hi} are not a range of the file's {c} cores")
    core = _parse_core_part(f, mm, core_at, core_size, c, lo, hi, layout)
    corelet = _assemble(core, *rest, layout)
    return corelet, (lo, hi)


def _span(r: _Reader) -> tuple[int, int]:
    """(offset, size) of the whole section, skipped (read later, in parts)."""
    size = r.end - r.pos
    return r.take(size, f"{r.section} payload"), size


def _parse_core_part(
    f: Any, mm: Any, at: int, size: int, c: int, lo: int, hi: int, layout: _Layout
) -> dict[str, np.ndarray]:
    """The CORE arrays (the payload at ``at``, ``size`` bytes): cores lo:hi (and the route
    fields whole) read, the rest zeros. Sizes checked as :func:`loads` checks them."""
    table = bytes(mm[at : at + min(size, len(FIELD_TABLE))])
    if table != FIELD_TABLE:
        raise CoreletFormatError(
            "section CORE: the neuron field table differs from this nsc_runtime's: written by "
            f"another version? (byte offset {at})"
        )
    pos = at + len(FIELD_TABLE)
    need, have = c * CORE_BYTES, size - len(FIELD_TABLE)
    if need != have:
        raise CoreletFormatError(
            f"section CORE: {c} cores need {need} bytes of arrays, the section has {have} "
            f"(byte offset {pos})"
        )
    a = hw.AXONS_PER_CORE

    def read(dtype: npt.DTypeLike, per_core: int, shape: tuple[int, ...], whole: bool) -> Any:
        nonlocal pos
        dt = np.dtype(dtype)
        out = aligned_zeros(shape, dt.newbyteorder("="))
        first, last = (0, c) if whole else (lo, hi)
        count = (last - first) * per_core
        f.seek(pos + first * per_core * dt.itemsize)
        data = f.read(count * dt.itemsize)
        flat = out.reshape(c, -1) if c else out.reshape(0, max(per_core, 1))
        flat[first:last] = np.frombuffer(data, dt, count).reshape(last - first, -1)
        pos += c * per_core * dt.itemsize
        return out

    out: dict[str, np.ndarray] = {}
    layout.arrays["axon_types"] = ("CORE", pos, 1, (c, a))
    out["axon_types"] = read(np.uint8, a, (c, a), False)
    layout.arrays["crossbar"] = ("CORE", pos, 1, (c, a, ROW_BYTES))
    out["crossbar"] = read(np.uint8, a * ROW_BYTES, (c, a, ROW_BYTES), False)  # kept packed
    out["crossbar"].flags.writeable = False  # the kernel may read these very rows
    for spec in FIELDS:
        shape = neuron_field_shape(spec.name, c)
        layout.arrays[spec.name] = ("CORE", pos, spec.dtype.itemsize, shape)
        per_core = int(np.prod(shape[1:], dtype=np.int64))
        out[spec.name] = read(spec.dtype, per_core, shape, spec.name in ROUTE_FIELDS)
    return out


# ---------------------------------------------------------------------------------------------
# documentation, generated from the definitions above


def layout_markdown() -> str:
    """The byte-by-byte layout as markdown tables (embedded in docs/corelet-format.md)."""
    lines = [
        "### Header (32 bytes)",
        "",
        "| offset | size | type | field | value |",
        "|---|---|---|---|---|",
        f"| 0 | 8 | bytes | magic | `{MAGIC!r}` |",
        f"| 8 | 2 | u16 | version major | {VERSION[0]} |",
        f"| 10 | 2 | u16 | version minor | {VERSION[1]} |",
        "| 12 | 4 | u32 | flags | 0 |",
        "| 16 | 4 | u32 | n_cores (C) | |",
        f"| 20 | 4 | u32 | n_sections | {len(SECTION_TAGS)} |",
        "| 24 | 8 | u64 | file size in bytes, trailer included | |",
        "",
        "### Section header (16 bytes, before every payload)",
        "",
        "| offset | size | type | field |",
        "|---|---|---|---|",
        "| 0 | 4 | ASCII | tag: " + ", ".join(f"`{t.decode()}`" for t in SECTION_TAGS) + " |",
        "| 4 | 4 | u32 | reserved, 0 |",
        "| 8 | 8 | u64 | payload length in bytes |",
        "",
        "### `CORE` payload",
        "",
        "Neuron-field table (must equal the reader's, byte for byte):",
        "",
        "| size | type | content |",
        "|---|---|---|",
        f"| 2 | u16 | number of fields = {len(FIELDS)} |",
        "| per field: 1 + len + 1 + 1 | u8, ASCII, char, u8 | name length, name, "
        "dtype code (`b B h H i I`), values per neuron |",
        "",
        f"Then the arrays, C x {CORE_BYTES} bytes in total, each in C order:",
        "",
        "| array | element | shape | bytes per core | values |",
        "|---|---|---|---|---|",
        f"| axon_types | u8 | (C, 256) | {hw.AXONS_PER_CORE} | G_i in 0..{hw.AXON_TYPES - 1} |",
        f"| crossbar | u8 | (C, 256, 32) | {hw.AXONS_PER_CORE * ROW_BYTES} | "
        "row i = axon i; bit j (byte j // 8, bit j % 8, LSB first) = w_ij |",
    ]
    special = {
        "dest_core": f"{hw.NO_DEST} (none) or 0..C-1",
        "delay": f"{hw.DELAY_MIN}..{hw.DELAY_MAX} where dest_core != {hw.NO_DEST}",
    }
    for spec in FIELDS:
        shape = "(C, 256, 4)" if spec.count > 1 else "(C, 256)"
        element = {"b": "i8", "B": "u8", "h": "i16", "H": "u16", "i": "i32", "I": "u32"}[
            spec.code.decode()
        ]
        lo, hi = NEURON_RANGES[spec.name]
        allowed = special.get(spec.name, f"{lo}..{hi}")
        lines.append(f"| {spec.name} | {element} | {shape} | {spec.bytes_per_core} | {allowed} |")
    lines += [
        "",
        "### `GEOM`, `SEED`, `INPT`/`OUTP`, `META` payloads",
        "",
        "| section | content |",
        "|---|---|",
        "| GEOM | u32 chip rows, u32 chip cols, i32 (C, 2) positions (x, y) |",
        "| SEED | u32 (C,) per-core PRNG seeds |",
        "| INPT, OUTP | u32 n_ports; per port: u16 name length, UTF-8 name, u32 n_lines, "
        "u32 (n_lines,) entries per line, i32 (sum, 2) entries (core, axon or neuron) |",
        "| META | u32 n_items; per item (keys strictly increasing): u32 key length, UTF-8 key, "
        "u32 value length, UTF-8 value |",
        "",
        f"### Trailer ({DIGEST_SIZE} bytes)",
        "",
        "SHA-256 of every byte of the file before the trailer.",
    ]
    return "\n".join(lines) + "\n"
