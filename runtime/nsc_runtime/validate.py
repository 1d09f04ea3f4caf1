"""The hardware rules a corelet must obey, checked in one place.

:func:`find_violation` returns the first broken rule as a :class:`Violation` (which field, where,
the value, the allowed range); :func:`validate_corelet` raises it as a :class:`CoreletError`.
``Corelet.validate()`` and the binary loader (``nsc_runtime.format.loads``) both use it, so an
in-memory corelet and a loaded one obey exactly the same rules. Ranges come from ``hw.py``.

Rules (C = number of cores, N = 256 neurons, A = 256 axons per core):

- shapes: ``axon_types`` (C, A), ``crossbar`` (C, A, N) bool (while the corelet holds packed
  rows: ``crossbar_packed`` (C, A, N / 8) uint8, checked as it is, never unpacked), every
  ``NEURON_FIELDS`` entry (C, N) (``weights`` (C, N, 4)) with an integer dtype, ``position``
  (C, 2), ``seeds`` (C,);
- values: :data:`NEURON_RANGES` (from ``hw.NEURON_PARAM_RANGES``) per neuron field;
  ``axon_types`` in 0..3; ``dest_core`` in -1..C-1; ``delay`` in 1..15 where
  ``dest_core != -1`` (ignored, any 0..255, where -1);
  seeds in 0..2**32-1;
- geometry: ``chips`` = (rows, cols), each in 1..1024; core ``c`` at (x, y) = ``position[c]`` with
  0 <= x < 64 * cols and 0 <= y < 64 * rows; no two cores at one position;
- ports: names non-empty, at most 255 UTF-8 bytes, no control characters, not starting with
  ``@``, unique among inputs and among outputs; at most 2**20 lines in all; each port's
  flat ``entries`` an integer (total, 2) array of (core, axon or neuron) with core in 0..C-1
  and index in 0..255, its ``offsets`` non-decreasing from 0 to total; output lines have
  exactly one entry;
- metadata: ``str -> str``, at most 2**16 entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import hw
from .corelet import NEURON_FIELDS, ROW_BYTES, Corelet, Port, neuron_field_shape
from .errors import CoreletError

# field -> (min, max) of every value, from the one table hw.NEURON_PARAM_RANGES; dest_core and
# delay depend on the corelet (see module doc): delay is checked here against its storage range
# and narrowed to DELAY_MIN..DELAY_MAX where dest_core != -1
_U8_MAX = 255
NEURON_RANGES: dict[str, tuple[int, int]] = {
    name: (lo, hi) for name, (_, lo, hi) in hw.NEURON_PARAM_RANGES.items()
}
NEURON_RANGES["delay"] = (0, _U8_MAX)
assert NEURON_RANGES.keys() == NEURON_FIELDS.keys(), "every neuron field needs a range"

PORT_NAME_MAX_BYTES = 255
PORT_LINES_MAX = 1 << 20  # all lines of all ports together (bounds a loader's memory)
METADATA_MAX_ITEMS = 1 << 16
CHIPS_SIDE_MAX = 1024  # chip grid rows and cols (keeps mesh coordinates well inside int32)
SEED_MAX = (1 << 32) - 1


@dataclass(frozen=True)
class Violation:
    """One broken rule. ``field`` names the array (``"alpha"``, ``"position"``,
    ``"inputs[2]"``...), ``index`` the offending element inside it (numpy index order; for a
    port: ``(line, entry, column)``), ``value`` what was found and ``allowed`` what is allowed."""

    field: str
    index: tuple[int, ...]
    value: object
    allowed: str
    where: str = ""

    def message(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}{self.field} = {self.value!r} is out of range (allowed: {self.allowed})"


def validate_corelet(corelet: Corelet) -> None:
    """Raise :class:`CoreletError` naming the first broken hardware rule, if any."""
    violation = find_violation(corelet)
    if violation is not None:
        raise CoreletError(violation.message())


def find_violation(corelet: Corelet) -> Violation | None:
    """The first broken hardware rule of ``corelet`` (checked in a fixed order), or None."""
    for check in (_check_shapes, _check_cores, _check_neurons, _check_geometry, _check_ports):
        found = check(corelet)
        if found is not None:
            return found
    return _check_metadata(corelet)


def _neuron_where(field: str, index: tuple[int, ...]) -> str:
    if field in ("axon_types",):
        return f"core {index[0]} axon {index[1]}"
    if field == "crossbar":
        return f"core {index[0]} axon {index[1]} neuron {index[2]}"
    if field == "weights":
        return f"core {index[0]} neuron {index[1]} axon type {index[2]}"
    return f"core {index[0]} neuron {index[1]}"


def _shape_violation(field: str, arr: object, shape: tuple[int, ...]) -> Violation | None:
    if not isinstance(arr, np.ndarray):
        return Violation(field, (), type(arr).__name__, "a numpy array", "structure")
    if arr.shape != shape:
        return Violation(field, (), f"shape {arr.shape}", f"shape {shape}", "structure")
    if arr.dtype.kind not in "biu":
        return Violation(field, (), f"dtype {arr.dtype}", "an integer or bool dtype", "structure")
    return None


def _check_shapes(corelet: Corelet) -> Violation | None:
    if not isinstance(corelet.axon_types, np.ndarray) or corelet.axon_types.ndim != 2:
        return Violation("axon_types", (), "not a 2-D array", "shape (C, 256)", "structure")
    c, a, n = corelet.n_cores, hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE
    packed = corelet.crossbar_is_packed  # checked as held: never unpacked here
    crossbar = corelet.crossbar_packed if packed else corelet.crossbar
    expected: list[tuple[str, object, tuple[int, ...]]] = [
        ("axon_types", corelet.axon_types, (c, a)),
        ("crossbar", crossbar, (c, a, ROW_BYTES if packed else n)),
        ("position", corelet.position, (c, 2)),
        ("seeds", corelet.seeds, (c,)),
    ]
    if not isinstance(corelet.neurons, dict) or set(corelet.neurons) != set(NEURON_FIELDS):
        got = sorted(corelet.neurons) if isinstance(corelet.neurons, dict) else corelet.neurons
        return Violation("neurons", (), got, f"exactly the keys {list(NEURON_FIELDS)}", "structure")
    for name in NEURON_FIELDS:
        expected.append((name, corelet.neurons[name], neuron_field_shape(name, c)))
    for name, arr, shape in expected:
        found = _shape_violation(name, arr, shape)
        if found is not None:
            return found
    want = np.dtype(np.uint8 if packed else np.bool_)
    if crossbar.dtype != want:
        allowed = "uint8 (packed rows)" if packed else "bool"
        return Violation("crossbar", (), f"dtype {crossbar.dtype}", allowed, "structure")
    return None


def _first_outside(
    field: str, arr: np.ndarray, lo: int, hi: int, mask: np.ndarray | None = None
) -> Violation | None:
    """The first element of ``arr`` (where ``mask``) outside ``lo..hi``."""
    bad = (arr < lo) | (arr > hi)
    if mask is not None:
        bad &= mask
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
    return Violation(field, index, int(arr[index]), f"{lo}..{hi}", _neuron_where(field, index))


def _check_cores(corelet: Corelet) -> Violation | None:
    found = _first_outside("axon_types", corelet.axon_types, 0, hw.AXON_TYPES - 1)
    if found is not None:
        return found
    seeds = corelet.seeds
    bad = (seeds < 0) | (seeds > SEED_MAX)
    if bad.any():
        core = int(np.argmax(bad))
        return Violation("seeds", (core,), int(seeds[core]), f"0..{SEED_MAX}", f"core {core}")
    return None


def _check_neurons(corelet: Corelet) -> Violation | None:
    c = corelet.n_cores
    for name, (lo, hi) in NEURON_RANGES.items():
        arr = corelet.neurons[name]
        if name == "dest_core":
            hi = c - 1
        found = _first_outside(name, arr, lo, hi)
        if found is not None:
            return found
    routed = corelet.neurons["dest_core"] != -1
    return _first_outside(
        "delay", corelet.neurons["delay"], hw.DELAY_MIN, hw.DELAY_MAX, mask=routed
    )


def _check_geometry(corelet: Corelet) -> Violation | None:
    chips = corelet.chips
    if (
        not isinstance(chips, tuple)
        or len(chips) != 2
        or not all(isinstance(v, (int, np.integer)) and 1 <= v <= CHIPS_SIDE_MAX for v in chips)
    ):
        return Violation("chips", (), chips, f"(rows, cols), each 1..{CHIPS_SIDE_MAX}", "geometry")
    side = hw.CORES_PER_CHIP_SIDE
    pos = corelet.position
    for axis, limit in ((0, side * int(chips[1])), (1, side * int(chips[0]))):
        bad = (pos[:, axis] < 0) | (pos[:, axis] >= limit)
        if bad.any():
            core = int(np.argmax(bad))
            coord = "xy"[axis]
            return Violation(
                "position",
                (core, axis),
                int(pos[core, axis]),
                f"{coord} in 0..{limit - 1} for chips={tuple(int(v) for v in chips)}",
                f"core {core}",
            )
    if pos.shape[0] > 1:
        keys = pos[:, 1].astype(np.int64) * (side * int(chips[1])) + pos[:, 0]
        order = np.argsort(keys, kind="stable")
        dup = np.flatnonzero(keys[order][1:] == keys[order][:-1])
        if dup.size:
            first, second = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
            return Violation(
                "position",
                (second, 0),
                tuple(int(v) for v in pos[second]),
                f"a position not already used (core {first} is there)",
                f"core {second}",
            )
    return None


def port_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a port name, or None if it can."""
    if not isinstance(name, str):
        return f"not a string ({type(name).__name__})"
    if not name:
        return "empty"
    if len(name.encode("utf-8", "surrogatepass")) > PORT_NAME_MAX_BYTES:
        return f"longer than {PORT_NAME_MAX_BYTES} UTF-8 bytes"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "contains a control character"
    if name.startswith("@"):
        return "starts with '@' (reserved for counters in output files)"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode text"
    return None


def _check_port_list(corelet: Corelet, kind: str, ports: Sequence[Port]) -> Violation | None:
    seen: set[str] = set()
    c = corelet.n_cores
    for p, port in enumerate(ports):
        field = f"{kind}[{p}]"
        if not isinstance(port, Port):
            return Violation(field, (), type(port).__name__, "a Port", f"{kind} port {p}")
        problem = port_name_problem(port.name)
        if problem is not None:
            return Violation(f"{field}.name", (), port.name, f"a valid name: {problem}", kind)
        if port.name in seen:
            return Violation(f"{field}.name", (), port.name, "a unique name", f"{kind} port")
        seen.add(port.name)
        where = f"{kind} port {port.name!r}"
        found = _check_port_arrays(port, field, where)
        if found is None and kind == "outputs":
            lengths = np.diff(port.offsets)
            if (lengths != 1).any():
                k = int(np.argmax(lengths != 1))
                found = Violation(
                    field, (k,), f"{int(lengths[k])} entries", "exactly 1", f"{where} line {k}"
                )
        if found is None:
            found = _check_port_entries(port, field, where, kind, c)
        if found is not None:
            return found
    return None


def _check_port_arrays(port: Port, field: str, where: str) -> Violation | None:
    """The flat arrays of a port: int (total, 2) entries, int64 offsets from 0 to total."""
    entries, offsets = port.entries, port.offsets
    if not isinstance(entries, np.ndarray) or entries.ndim != 2 or entries.shape[1] != 2:
        shape = getattr(entries, "shape", type(entries).__name__)
        return Violation(field, (), shape, "(total, 2) entries", where)
    if entries.dtype.kind not in "iu":
        return Violation(field, (), str(entries.dtype), "integer entries", where)
    if not isinstance(offsets, np.ndarray) or offsets.ndim != 1 or offsets.dtype.kind not in "iu":
        shape = getattr(offsets, "shape", type(offsets).__name__)
        return Violation(field, (), shape, "1-D integer line offsets", where)
    if (
        offsets.size == 0
        or offsets[0] != 0
        or offsets[-1] != entries.shape[0]
        or (offsets[1:] < offsets[:-1]).any()
    ):
        return Violation(
            field,
            (),
            "inconsistent line offsets",
            f"0 .. {entries.shape[0]}, non-decreasing",
            where,
        )
    return None


def _check_port_entries(
    port: Port, field: str, where: str, kind: str, n_cores: int
) -> Violation | None:
    """Every entry's core in 0..C-1 and axon/neuron in 0..255; the first bad one is named."""
    entries = port.entries
    for col, hi in ((0, n_cores - 1), (1, hw.NEURONS_PER_CORE - 1)):
        values = entries[:, col]
        bad = (values < 0) | (values > hi)
        if not bad.any():
            continue
        flat = int(np.argmax(bad))
        k = int(np.searchsorted(port.offsets, flat, side="right")) - 1
        e = flat - int(port.offsets[k])
        what = "core" if col == 0 else ("neuron" if kind == "outputs" else "axon")
        return Violation(
            field,
            (k, e, col),
            int(values[flat]),
            f"{what} in 0..{hi}",
            f"{where} line {k} entry {e} ({what})",
        )
    return None


def _check_ports(corelet: Corelet) -> Violation | None:
    total = 0
    for kind, ports in (("inputs", corelet.inputs), ("outputs", corelet.outputs)):
        if not isinstance(ports, list):
            return Violation(kind, (), type(ports).__name__, "a list of Port", kind)
        found = _check_port_list(corelet, kind, ports)
        if found is not None:
            return found
        total += sum(port.n_lines for port in ports)
    if total > PORT_LINES_MAX:
        return Violation("ports", (), f"{total} lines", f"at most {PORT_LINES_MAX}", "ports")
    return None


def _check_metadata(corelet: Corelet) -> Violation | None:
    meta = corelet.metadata
    if not isinstance(meta, dict):
        return Violation("metadata", (), type(meta).__name__, "a dict of str -> str", "metadata")
    if len(meta) > METADATA_MAX_ITEMS:
        return Violation("metadata", (), len(meta), f"at most {METADATA_MAX_ITEMS} entries")
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return Violation("metadata", (), (key, type(value).__name__), "str -> str", "metadata")
        for text in (key, value):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return Violation("metadata", (), key, "valid Unicode text", "metadata")
    return None
