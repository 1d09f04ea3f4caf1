"""The in-memory corelet: a compiled network of TrueNorth-class cores, ports and geometry.

This is the contract between the compiler backend (which builds one), the binary format
(``nsc_runtime.format``, which writes and reads one), the numpy reference simulator and the
Cython runtime (which run one). Arrays are plain numpy arrays with the dtypes given here.

Per-tick semantics of every neuron: ``shared/reference/truenorth.md`` and docs/runtime.md.

Geometry: core ``c`` sits at global mesh position ``(x, y) = position[c]``; it belongs to chip
``(x // 64, y // 64)``. Mesh hops between two cores are the Manhattan distance of positions.

Ports:
- an input port line ``k`` drives every (core, axon) listed for it; a host spike on line ``k`` due
  at tick ``t`` is integrated at tick ``t`` (no delay);
- an output port line ``k`` reports the spikes of one (core, neuron) at the tick they fire.
  A neuron may be an output and also have an on-chip destination.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from . import hw
from .errors import CoreletError

_DTYPES: dict[str, type] = {"u8": np.uint8, "i16": np.int16, "i32": np.int32}

# name -> dtype for the (cores, 256) per-neuron parameter arrays (weights: (cores, 256, 4)),
# in file order; both come from the one range table, hw.NEURON_PARAM_RANGES
NEURON_FIELDS: dict[str, type] = {
    name: _DTYPES[dtype] for name, (dtype, _, _) in hw.NEURON_PARAM_RANGES.items()
}


def neuron_field_shape(name: str, n_cores: int) -> tuple[int, ...]:
    """Shape of the ``NEURON_FIELDS[name]`` array of a corelet with ``n_cores`` cores."""
    if name == "weights":
        return (n_cores, hw.NEURONS_PER_CORE, hw.AXON_TYPES)
    return (n_cores, hw.NEURONS_PER_CORE)


class PortLines(Sequence[np.ndarray]):
    """The lines of a :class:`Port` as a read-only sequence: item ``k`` is the (m_k, 2) int32
    view ``entries[offsets[k]:offsets[k + 1]]`` (writing into it edits the port)."""

    def __init__(self, entries: np.ndarray, offsets: np.ndarray) -> None:
        self._entries, self._offsets = entries, offsets

    def __len__(self) -> int:
        return max(int(self._offsets.shape[0]) - 1, 0)

    @overload
    def __getitem__(self, k: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, k: slice) -> list[np.ndarray]: ...

    def __getitem__(self, k: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        n = len(self)
        i = operator.index(k)
        if not -n <= i < n:
            raise IndexError(f"line {k} of a port with {n} lines")
        i %= n
        return self._entries[int(self._offsets[i]) : int(self._offsets[i + 1])]

    def __iter__(self) -> Iterator[np.ndarray]:
        off = self._offsets.tolist()
        for lo, hi in itertools.pairwise(off):
            yield self._entries[lo:hi]


@dataclass(eq=False, init=False)
class Port:
    """A named group of lines. Line ``k`` lists (core, index) pairs: axons for an input port
    (a line may drive several axons, or none), exactly one neuron for an output port.

    Stored flat, so that ports of a million lines cost a few bytes per line: ``entries`` is
    the int32 (total, 2) array of every line's pairs, line after line, and line ``k`` is
    ``entries[offsets[k]:offsets[k + 1]]`` (``offsets``: int64, n_lines + 1, from 0).

    ``Port(name, lines)`` builds one from a list of (m_k, 2) integer arrays (the shape the
    compiler's backend produces); ``Port.from_arrays(name, entries, offsets)`` takes the flat
    form as is; ``port.lines[k]`` is line ``k`` (a view), ``len(port.lines)`` the line count."""

    name: str
    entries: np.ndarray  # int32 (total, 2): (core, axon or neuron)
    offsets: np.ndarray  # int64 (n_lines + 1,): line k = entries[offsets[k]:offsets[k + 1]]

    def __init__(self, name: str, lines: Iterable[npt.ArrayLike] = ()) -> None:
        arrays = []
        for k, line in enumerate(lines):
            arr = np.asarray(line)
            if arr.ndim != 2 or arr.shape[1] != 2 or (arr.size and arr.dtype.kind not in "iu"):
                raise CoreletError(
                    f"port {name!r} line {k}: expected an (m, 2) integer array of (core, index) "
                    f"pairs, got shape {arr.shape} dtype {arr.dtype}"
                )
            arrays.append(arr)
        lengths = np.fromiter((a.shape[0] for a in arrays), np.int64, len(arrays))
        offsets = np.zeros(len(arrays) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        entries = np.zeros((0, 2), np.int32)
        if arrays:
            joined = np.concatenate(arrays)
            info = np.iinfo(np.int32)
            if joined.size and (joined.min() < info.min or joined.max() > info.max):
                raise CoreletError(f"port {name!r}: an entry does not fit 32 bits")
            entries = joined.astype(np.int32)
        self.name, self.entries, self.offsets = name, entries.reshape(-1, 2), offsets

    @classmethod
    def from_arrays(cls, name: str, entries: np.ndarray, offsets: np.ndarray) -> Port:
        """A port over existing flat arrays (not copied; checked by ``Corelet.validate``)."""
        port = cls.__new__(cls)
        port.name, port.entries, port.offsets = name, entries, offsets
        return port

    @property
    def lines(self) -> PortLines:
        """The lines, as views into :attr:`entries`."""
        return PortLines(self.entries, self.offsets)

    @property
    def n_lines(self) -> int:
        return max(int(self.offsets.shape[0]) - 1, 0)

    @property
    def line_ids(self) -> np.ndarray:
        """int64 (total,): the line of every entry (work and memory in the entries, not the
        lines: a port may have a million lines, most of them empty)."""
        total = int(self.entries.shape[0])
        return np.searchsorted(self.offsets, np.arange(total), side="right") - 1


def port_table(ports: Sequence[Port]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(line, core, index) int64 arrays of every entry of ``ports``, lines numbered across the
    ports in order (the columns of prepared inputs / outputs). Vectorized: no per-line work."""
    if not ports:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    base = np.cumsum([0] + [p.n_lines for p in ports[:-1]])
    line = np.concatenate([p.line_ids + b for p, b in zip(ports, base, strict=True)])
    entries = np.concatenate([p.entries for p in ports]).astype(np.int64).reshape(-1, 2)
    return line, entries[:, 0], entries[:, 1]


ROW_BYTES = hw.NEURONS_PER_CORE // 8  # one crossbar row (axon) packed: bit j = neuron j
_PACK_CORES = 256  # cores packed or unpacked at a time (bounds the temporaries)


def aligned_zeros(shape: tuple[int, ...], dtype: npt.DTypeLike, alignment: int = 64) -> np.ndarray:
    """A zeroed C-contiguous array starting on an ``alignment``-byte boundary. Allocated by
    ``np.zeros`` (calloc): the pages of a large one take no memory until written."""
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    raw = np.zeros(nbytes + alignment, np.uint8)
    start = -raw.__array_interface__["data"][0] % alignment
    return raw[start : start + nbytes].view(dt).reshape(shape)


def pack_crossbar(crossbar: np.ndarray) -> np.ndarray:
    """uint8 (k, 256, 32) packed rows of a bool (k, 256, 256) crossbar: byte ``q`` of row
    ``i`` holds neurons ``8q..8q+7``, bit ``j % 8`` (LSB first) = ``w_ij`` (the file's rows,
    and the kernel's as little-endian 64-bit words). Packed a slice of cores at a time into
    a 64-byte aligned array."""
    k = crossbar.shape[0]
    out = aligned_zeros((k, hw.AXONS_PER_CORE, ROW_BYTES), np.uint8)
    for lo in range(0, k, _PACK_CORES):
        hi = min(k, lo + _PACK_CORES)
        out[lo:hi] = np.packbits(crossbar[lo:hi], axis=2, bitorder="little")
    return out


def unpack_crossbar(packed: np.ndarray) -> np.ndarray:
    """bool (k, 256, 256) of packed rows (k, 256, 32) (the inverse of :func:`pack_crossbar`).
    Slices of cores whose rows are all zero are not written, so their pages of the result
    stay untouched zeros (a rank's corelet from ``format.load_part`` stays small)."""
    k = packed.shape[0]
    out = np.zeros((k, hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE), np.bool_)
    for lo in range(0, k, _PACK_CORES):
        hi = min(k, lo + _PACK_CORES)
        rows = packed[lo:hi]
        if rows.any():
            out[lo:hi] = np.unpackbits(rows, axis=2, bitorder="little").view(np.bool_)
    return out


@dataclass(eq=False, init=False)
class Corelet:
    """A compiled network ready to run: C cores, their geometry, ports and PRNG seeds.

    The crossbar is held in one of two forms. ``crossbar`` (bool (C, 256 axons, 256 neurons),
    ``w_ij = crossbar[c, i, j]``) is what the compiler, the checks and the reference simulator
    read and write. A corelet read from a file (``format.load``, ``format.load_part``) holds
    only the file's packed rows, ``crossbar_packed`` (uint8 (C, 256, 32), see
    :func:`pack_crossbar`): 1 bit per synapse, as the kernel's tables hold them, so loading and
    running never build the 8x larger bool array (``Simulator`` builds its tables straight
    from the packed rows). Reading ``crossbar`` on such a corelet unpacks the rows once; from
    then on the bool array is the crossbar (it may be edited in place) and the packed rows are
    dropped (``crossbar_is_packed`` turns False). Assigning ``crossbar`` or
    ``crossbar_packed`` replaces the crossbar. Pass exactly one of the two to the
    constructor; the packed rows are not copied (do not edit them afterwards)."""

    axon_types: np.ndarray  # uint8 (C, 256), values 0..3
    neurons: dict[str, np.ndarray]  # NEURON_FIELDS, each (C, 256) [weights: (C, 256, 4)]
    position: np.ndarray  # int32 (C, 2) global mesh (x, y)
    seeds: np.ndarray  # uint32 (C,)
    inputs: list[Port]
    outputs: list[Port]
    chips: tuple[int, int]  # chip grid (rows, cols)
    metadata: dict[str, str]

    def __init__(
        self,
        axon_types: np.ndarray,
        crossbar: np.ndarray | None,
        neurons: dict[str, np.ndarray],
        position: np.ndarray,
        seeds: np.ndarray,
        inputs: list[Port] | None = None,
        outputs: list[Port] | None = None,
        chips: tuple[int, int] = (1, 1),
        metadata: dict[str, str] | None = None,
        *,
        crossbar_packed: np.ndarray | None = None,
    ) -> None:
        if crossbar is not None and crossbar_packed is not None:
            raise CoreletError("give the crossbar as bool or as packed rows, not both")
        self.axon_types = axon_types
        self._crossbar: np.ndarray | None = crossbar  # bool, or None while packed
        self._packed: np.ndarray | None = crossbar_packed  # uint8 rows, or None
        self.neurons = neurons
        self.position = position
        self.seeds = seeds
        self.inputs = [] if inputs is None else inputs
        self.outputs = [] if outputs is None else outputs
        self.chips = chips
        self.metadata = {} if metadata is None else metadata

    @property
    def crossbar(self) -> np.ndarray:
        """bool (C, 256 axons, 256 neurons); unpacked (once) from packed rows if need be."""
        if self._packed is not None:
            packed, self._packed = self._packed, None
            self._crossbar = unpack_crossbar(packed)
        return self._crossbar  # type: ignore[return-value]  # None only if given None

    @crossbar.setter
    def crossbar(self, value: np.ndarray) -> None:
        self._crossbar, self._packed = value, None

    @property
    def crossbar_packed(self) -> np.ndarray:
        """uint8 (C, 256, 32) packed rows: the rows held (not a copy) while
        ``crossbar_is_packed``, else packed from the bool crossbar (a new array)."""
        if self._packed is not None:
            return self._packed
        return pack_crossbar(self.crossbar)

    @crossbar_packed.setter
    def crossbar_packed(self, value: np.ndarray) -> None:
        self._crossbar, self._packed = None, value

    @property
    def crossbar_is_packed(self) -> bool:
        """True while the corelet holds only packed rows (the bool crossbar not built)."""
        return self._packed is not None

    def crossbar_rows(self, lo: int, hi: int) -> np.ndarray:
        """uint8 (hi - lo, 256, 32) packed rows of cores ``lo:hi``: a view of the rows held, or
        packed from the bool crossbar (never unpacks)."""
        if self._packed is not None:
            return self._packed[lo:hi]
        return pack_crossbar(self.crossbar[lo:hi])

    @property
    def n_cores(self) -> int:
        return int(self.axon_types.shape[0])

    @classmethod
    def empty(cls, n_cores: int, chips: tuple[int, int] = (1, 1)) -> Corelet:
        """All-silent cores: zero crossbar, no destinations, alpha = 1, reset mode none=0."""
        c, n = n_cores, hw.NEURONS_PER_CORE
        neurons: dict[str, np.ndarray] = {
            k: np.zeros((c, n), dt) for k, dt in NEURON_FIELDS.items() if k != "weights"
        }
        neurons["weights"] = np.zeros((c, n, hw.AXON_TYPES), np.int16)
        neurons["alpha"][:] = 1
        neurons["dest_core"][:] = hw.NO_DEST
        neurons["delay"][:] = hw.DELAY_MIN
        side = hw.CORES_PER_CHIP_SIDE
        pos = np.stack([np.arange(c) % side, np.arange(c) // side], axis=1).astype(np.int32)
        return cls(
            axon_types=np.zeros((c, hw.AXONS_PER_CORE), np.uint8),
            crossbar=np.zeros((c, hw.AXONS_PER_CORE, n), bool),
            neurons=neurons,
            position=pos,
            seeds=np.arange(1, c + 1, dtype=np.uint32),
            chips=chips,
        )

    def validate(self) -> None:
        """Raise :class:`CoreletError` naming the first core/neuron that breaks a hardware rule."""
        from .validate import validate_corelet

        validate_corelet(self)
