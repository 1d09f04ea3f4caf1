"""Run a corelet with the compiled kernel (``_core``): bit-exact with :mod:`.reference`.

``run(corelet, inputs, ticks)`` gives a :class:`~nsc_runtime.reference.Result`;
``run_batch(corelet, inputs, ticks)`` gives a :class:`~nsc_runtime.reference.BatchResult` of
independent runs, each from the initial state. Inputs and outputs follow the port
conventions of :mod:`.reference` (``prepare_inputs`` / ``prepare_batch``).

Threads: a run splits its cores over ``threads`` OpenMP threads (at most one per 32 cores, so
small corelets do not pay for barriers), switching to one thread for stretches where that is
faster (a busy machine); a batch of small corelets runs its items on ``threads`` Python
threads instead (the kernel releases the GIL). Results are identical for every thread count.

There is no pure-Python fallback: importing this module without the built extension fails.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from . import hw
from .corelet import Corelet, Port, port_table
from .errors import NscError
from .reference import (
    COUNTERS,
    BatchResult,
    Inputs,
    Result,
    input_lines,
    output_lines,
    prepare_batch,
    prepare_inputs,
    split_outputs,
    stack_results,
)
from .validate import validate_corelet

try:
    from . import _core
except ImportError as err:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "nsc_runtime._core (the compiled simulator) is not built: run "
        "`python setup.py build_ext --inplace` or `pip install -e .` in the nsc checkout"
    ) from err

CORES_PER_THREAD = 32  # a run uses at most one thread per this many cores
CHUNK_CORE_TICKS = 1_000_000  # core-ticks per kernel call (progress, Ctrl-C, thread tuning)
REPROBE_CHUNKS = 16  # a multi-threaded run re-times its other thread count this often
PROGRESS_MIN_CORE_TICKS = 50_000_000  # show a progress bar (on a tty) above this much work

__all__ = [
    "BatchResult",
    "Result",
    "Simulator",
    "available_isas",
    "build_tables",
    "have_openmp",
    "run",
    "run_batch",
]


def available_isas() -> tuple[str, ...]:
    """The kernel builds this CPU can run ("baseline", "avx2", "avx512"); "auto" picks the
    last. All give identical results."""
    return tuple(_core.available_isas())


def have_openmp() -> bool:
    """Whether the extension was built with OpenMP (else every run uses one thread)."""
    return bool(_core.have_openmp())


def build_tables(corelet: Corelet, palette: bool = True) -> dict[str, np.ndarray]:
    """The kernel's flat, typed, cache-line-aligned tables for a valid corelet (see
    ``_core.TABLES``). Per-neuron tables are in the kernel's bit-plane order (position p holds
    neuron ``_core.NEURON[p]``). Tables no core needs (``_core.OPTIONAL``) are left empty.
    Built one field at a time, so the temporaries stay small next to the corelet.

    ``palette``: a deterministic core whose neurons do not all share their parameters, but
    use at most ``_core.PALETTE_SIZE`` distinct sets of (weights, leak, flags, alpha, beta,
    reset), is given a palette of those sets and a 4-bit index per neuron
    (``_core.CF_PALETTE``): its per-tick update then reads 256 bytes of indices instead of
    about 5 KB of per-neuron parameters. If only per-neuron leaks (biases) make too many sets,
    the palette leaves the leak out and the core reads the leak table (``CF_PLEAK``).
    ``False`` keeps every core on the per-neuron tables (the same results; for comparisons)."""
    c, n = corelet.n_cores, corelet.neurons
    nflags = (
        n["leak_reversal"].astype(np.uint8)
        | (n["reset_mode"].astype(np.uint8) << 1)
        | (n["kappa"].astype(np.uint8) << 3)
        | (n["stoch_leak"].astype(np.uint8) << 4)
    )
    fields = {name: n[name] for name in ("leak", "alpha", "beta", "reset", "tm")}
    fields["nflags"] = nflags
    same = {name: (a == a[:, :1]).all(axis=1) for name, a in fields.items()}
    weights = [_det_weights(corelet, g) for g in range(hw.AXON_TYPES)]
    cflags = (
        np.logical_and.reduce([u for name, u in same.items() if name != "leak"]) * _core.CF_UNIFORM
        | same["leak"] * _core.CF_ULEAK
        | same["nflags"] * _core.CF_UFLAGS
        | np.logical_and.reduce([(w == w[:, :1]).all(axis=1) for w in weights]) * _core.CF_UWEIGHTS
        | (n["stoch_synapse"] != 0).any(axis=1) * _core.CF_STOCH_SYN
        | ((n["stoch_leak"] != 0) | (n["tm"] != 0)).any(axis=1) * _core.CF_STOCH_NEURON
        | (n["leak"] == 0).all(axis=1) * _core.CF_LEAKFREE
    ).astype(np.int32)
    uniform = (cflags & _core.CF_UNIFORM != 0) & (cflags & _core.CF_UWEIGHTS != 0)
    deterministic = (cflags & _core.CF_STOCH_NEURON) == 0
    candidates = deterministic & ~uniform if palette else np.zeros(c, bool)
    pal_index, pal_sizes = _palette_index(weights, fields, candidates)
    fits = pal_sizes <= _core.PALETTE_SIZE
    # too many sets only because every neuron has its own leak (a bias): palette + leak table
    index_nl, sizes_nl = _palette_index(weights, fields, candidates & ~fits, leak=False)
    on_pleak = candidates & ~fits & (sizes_nl <= _core.PALETTE_SIZE)
    pal_index = np.where(on_pleak[:, None], index_nl, pal_index)
    on_palette = (candidates & fits) | on_pleak
    cflags |= np.where(on_palette, _core.CF_PALETTE, 0).astype(np.int32)
    cflags |= np.where(on_pleak, _core.CF_PLEAK, 0).astype(np.int32)
    head = np.zeros((c, 16), np.int32)
    firsts: dict[str, np.ndarray] = {k: a[:, 0] for k, a in fields.items() if k != "tm"}
    firsts.update({f"w{g}": w[:, 0] for g, w in enumerate(weights)})
    firsts.update(cflags=cflags, seed=corelet.seeds.astype(np.uint32).view(np.int32))
    for slot, name in enumerate(_core.HEAD_FIELDS):
        head[:, slot] = firsts[name]
    shifts = 2 * np.arange(32, dtype=np.uint64)
    atype = corelet.axon_types.astype(np.uint64).reshape(c, 8, 32) << shifts
    in_ptr, in_line, in_axon = _port_csr(c, corelet.inputs)
    out_ptr, out_line, out_neuron = _port_csr(c, corelet.outputs)
    routed = n["dest_core"] >= 0
    tables = {
        "head": aligned(head),
        "xbar": _crossbar_table(corelet),
        "atype": aligned(np.bitwise_or.reduce(atype, axis=2)),
        "route": _permuted(_routes(corelet), np.int64),
        "v0": _permuted(n["v0"], np.int32),
        "in_ptr": in_ptr,
        "in_line": in_line,
        "in_axon": in_axon,
        "out_ptr": out_ptr,
        "out_line": out_line,
        "out_pos": _core.POSITION[out_neuron].astype(np.int32),
        "box_ptr": np.concatenate([[0], np.cumsum(routed.sum(axis=1))]).astype(np.int64),
        "rbox_ptr": np.zeros(c + 1, np.int64),  # no remote lines (nsc_runtime.distributed)
    }
    need = _core.needed_tables(cflags)
    lazy: dict[str, Callable[[], np.ndarray]] = {
        "wdet": lambda: np.stack([_permuted(w, np.int16) for w in weights], axis=1),
        "wfull": lambda: np.stack(
            [_permuted(n["weights"][:, :, g], np.int16) for g in range(hw.AXON_TYPES)], axis=2
        ),
        "smask": lambda: _stochastic_masks(corelet),
        "pidx": lambda: _permuted(np.where(on_palette[:, None], pal_index, 0), np.uint8),
        "pal": lambda: _palette_table(weights, fields, pal_index, on_palette, on_pleak),
    }
    for name, arr in fields.items():
        lazy[name] = functools.partial(_permuted, arr, _core.TABLES[name][0])
    for name in _core.OPTIONAL:
        dtype = np.dtype(_core.TABLES[name][0])
        tables[name] = aligned(lazy[name]()) if name in need else np.zeros(0, dtype)
    return {k: np.ascontiguousarray(a).reshape(-1) for k, a in tables.items()}


def _palette_values(weights: list[np.ndarray], fields: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The (C, 256) arrays a palette entry holds, in the order of ``_core.PALETTE_RAW``."""
    named = {f"w{g}": w for g, w in enumerate(weights)} | fields
    return [named[name] for name in _core.PALETTE_RAW]


def _palette_index(
    weights: list[np.ndarray],
    fields: dict[str, np.ndarray],
    cores: np.ndarray,
    leak: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """For the ``cores`` selected: (C, 256) the rank of each neuron's parameter set among its
    core's distinct sets (in sorted order), and (C,) the number of distinct sets (0 for the
    cores not selected); ``leak=False`` leaves the leak out of the sets. Vectorized over
    cores: one sort of the selected neurons."""
    c, n = cores.shape[0], hw.NEURONS_PER_CORE
    index = np.zeros((c, n), np.int64)
    sizes = np.zeros(c, np.int64)
    picked = np.flatnonzero(cores)
    if picked.size == 0:
        return index, sizes
    values = [a[picked].astype(np.int64) for a in _palette_values(weights, fields)]
    # two exact int64 keys: 4 weights, leak (9 bits each, offset) and flags (5 bits); then
    # alpha and beta (18 bits each) and reset (20 bits, offset)
    w0, w1, w2, w3, lam, flags, alpha, beta, reset = values
    if not leak:
        lam = np.zeros_like(lam)
    k1 = flags
    for part in (w0, w1, w2, w3, lam):
        k1 = (k1 << 9) | (part - hw.WEIGHT_MIN)
    k2 = (((alpha << 18) | beta) << 20) | (reset - hw.RESET_MIN)
    core = np.repeat(np.arange(picked.size), n)
    order = np.lexsort((k2.reshape(-1), k1.reshape(-1), core))
    k1s, k2s = k1.reshape(-1)[order], k2.reshape(-1)[order]
    new = np.ones(order.size, bool)
    new[1:] = (k1s[1:] != k1s[:-1]) | (k2s[1:] != k2s[:-1])
    new[::n] = True  # every core starts a new set (sorted by core first)
    group = np.cumsum(new) - 1
    rank = group - np.repeat(group[::n], n)
    flat = np.empty(order.size, np.int64)
    flat[order] = rank
    index[picked] = flat.reshape(-1, n)
    sizes[picked] = rank.reshape(-1, n).max(axis=1) + 1
    return index, sizes


def _palette_table(
    weights: list[np.ndarray],
    fields: dict[str, np.ndarray],
    index: np.ndarray,
    on: np.ndarray,
    own_leak: np.ndarray,
) -> np.ndarray:
    """(C, len(PALETTE_RAW), PALETTE_SIZE) int32: entry ``index[c, j]`` of core ``c`` holds
    neuron ``j``'s values (zero for unused entries, for cores off the palette, and for the
    leak of ``own_leak`` cores, which read their per-neuron leaks)."""
    c = index.shape[0]
    table = np.zeros((c, len(_core.PALETTE_RAW), _core.PALETTE_SIZE), np.int32)
    cores, neurons = np.nonzero(on[:, None] & np.ones_like(index, bool))
    entry = index[cores, neurons]
    for row, values in enumerate(_palette_values(weights, fields)):
        table[cores, row, entry] = values[cores, neurons]
    table[own_leak, _core.PALETTE_RAW.index("leak")] = 0
    return table


def _det_weights(corelet: Corelet, g: int) -> np.ndarray:
    """(C, 256) deterministic weights of axon type ``g``: s^g, or 0 where it is stochastic."""
    n = corelet.neurons
    stochastic = (n["stoch_synapse"] >> g) & 1 == 1
    return np.where(stochastic, 0, n["weights"][:, :, g]).astype(np.int16)


def _permuted(arr: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """A (C, 256) per-neuron array in the kernel's bit-plane order, aligned."""
    out = aligned(np.zeros(0, dtype), size=arr.size).reshape(arr.shape)
    out[:] = arr[:, _core.NEURON]
    return out


def _stochastic_masks(corelet: Corelet) -> np.ndarray:
    """(C, 4 types, 4 words): bit j set where neuron j's synapses of that type are stochastic
    (neuron order, as the crossbar rows)."""
    types = np.arange(hw.AXON_TYPES, dtype=np.uint8)
    bits = (corelet.neurons["stoch_synapse"].astype(np.uint8)[:, None, :] >> types[:, None]) & 1
    return np.packbits(bits, axis=2, bitorder="little").view("<u8")


def _routes(corelet: Corelet) -> np.ndarray:
    """Per neuron: -1, or (dest_core * ROUTE_CORE_STRIDE (4096) + dest_axon) << 22 | inter-chip
    << 21 | mesh hops << 4 | delay (``_core.ROUTE_SHIFT``)."""
    n = corelet.neurons
    routed = n["dest_core"] >= 0
    target = np.where(routed, n["dest_core"], 0).astype(np.int64)
    pos = corelet.position.astype(np.int64)
    hops = np.abs(pos[target, 0] - pos[:, :1])
    hops += np.abs(pos[target, 1] - pos[:, 1:])
    side = hw.CORES_PER_CHIP_SIDE
    chip_differs = (pos[target, 0] // side != pos[:, :1] // side) | (
        pos[target, 1] // side != pos[:, 1:] // side
    )
    route = target * _core.ROUTE_CORE_STRIDE + n["dest_axon"]
    route <<= _core.ROUTE_SHIFT
    route |= np.where(chip_differs, _core.ROUTE_INTER_CHIP, 0)
    route |= hops << 4
    route |= n["delay"]
    route[~routed] = -1
    return route


def _crossbar_table(corelet: Corelet) -> np.ndarray:
    """Crossbar rows as 256-bit masks (little-endian bits) in uint64 words: the packed rows
    of the file's format (``Corelet.crossbar_packed``), read as words. A corelet holding
    packed rows (one loaded from a file) lends them as they are when they are 64-byte
    aligned (the loaders allocate them so): no copy, and the bool crossbar is never built.
    Otherwise the rows are copied, or packed from the bool crossbar, slice by slice of cores
    straight into the aligned table (no full-size temporary)."""
    c = corelet.n_cores
    if corelet.crossbar_is_packed:
        rows = corelet.crossbar_packed.reshape(-1)
        if rows.flags.c_contiguous and rows.__array_interface__["data"][0] % 64 == 0:
            return rows.view("<u8")
    per_core = hw.AXONS_PER_CORE * hw.NEURONS_PER_CORE // 64
    out = aligned(np.zeros(0, np.uint64), size=c * per_core)
    for lo in range(0, c, 256):
        hi = min(c, lo + 256)
        out[lo * per_core : hi * per_core] = corelet.crossbar_rows(lo, hi).reshape(-1).view("<u8")
    return out


def aligned(arr: np.ndarray, alignment: int = 64, size: int | None = None) -> np.ndarray:
    """A flat, C-contiguous copy of ``arr`` starting on an ``alignment``-byte boundary (or,
    with ``size``, a zeroed array of ``size`` elements of ``arr``'s dtype)."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    count = flat.size if size is None else size
    raw = np.empty(count * flat.dtype.itemsize + alignment, np.uint8)
    start = -raw.__array_interface__["data"][0] % alignment
    out = raw[start : start + count * flat.dtype.itemsize].view(flat.dtype)
    out[:] = flat if size is None else 0
    return out


def _port_csr(n_cores: int, ports: Sequence[Port]) -> tuple[np.ndarray, ...]:
    """(ptr, line, index) of every port entry, grouped by core: CSR over cores."""
    line, core, index = port_table(ports)
    order = np.argsort(core, kind="stable")
    ptr = np.zeros(n_cores + 1, np.int64)
    np.cumsum(np.bincount(core, minlength=n_cores), out=ptr[1:])
    return ptr, line[order].astype(np.int32), index[order].astype(np.int32)


class Simulator:
    """A corelet's kernel tables, built once, for any number of runs.

    ``threads``: for the cores of one run (or the items of a batch of small corelets); 1 by
    default, as threads only help when that many CPUs are idle. ``isa``: "auto" or one of
    :func:`available_isas` (all give the same results). ``progress``: None = a tqdm bar on a
    tty for long runs, True/False to force. ``cores_per_thread``: a run uses at most one
    thread per this many cores. ``palette``: see :func:`build_tables` (same results; not used
    by the baseline kernel, whose scalar palette pass is slower than per-neuron tables)."""

    def __init__(
        self,
        corelet: Corelet,
        *,
        threads: int = 1,
        isa: str = "auto",
        progress: bool | None = None,
        cores_per_thread: int = CORES_PER_THREAD,
        palette: bool = True,
    ) -> None:
        validate_corelet(corelet)
        if int(threads) != threads or threads < 1:
            raise NscError(f"threads must be a whole number >= 1, got {threads!r}")
        self.corelet = corelet
        self.threads = int(threads)
        self.cores_per_thread = max(1, int(cores_per_thread))
        self.isa = isa
        self.progress = progress
        self.n_in, self.n_out = input_lines(corelet), output_lines(corelet)
        # the palette pass is vectorized for AVX2 and AVX-512; baseline C runs faster without
        use_palette = palette and (isa if isa != "auto" else available_isas()[-1]) != "baseline"
        self.tables = build_tables(corelet, use_palette) if corelet.n_cores else {}
        self.last_profile = np.zeros(4)  # seconds: integrate, neuron update, route, deliver
        self.last_inter_chip = 0  # routed spikes between chips in the last run (not a batch)

    def engine(self) -> Any:
        """A fresh kernel state over this simulator's tables."""
        return _core.Engine(self.tables, self.corelet.n_cores, self.n_in, self.n_out, self.isa)

    def run_threads(self) -> int:
        """Threads one run would use (at most one per ``cores_per_thread`` cores)."""
        return max(1, min(self.threads, self.corelet.n_cores // self.cores_per_thread))

    def run(self, inputs: Inputs = None, ticks: int = 0, *, profile: bool = False) -> Result:
        """One run of ``ticks`` ticks from the initial state."""
        drive = prepare_inputs(self.corelet, inputs, ticks)
        with self._bar(ticks, 1, "ticks") as bar:
            return self._run_one(drive, self.run_threads(), bar, profile)

    def run_batch(
        self, inputs: Sequence[Inputs] | Inputs, ticks: int, batch: int | None = None
    ) -> BatchResult:
        """Independent runs from the initial state (inputs as in ``prepare_batch``)."""
        drives = prepare_batch(self.corelet, inputs, ticks, batch)
        per_item = self.run_threads()
        workers = min(self.threads, len(drives)) if per_item < self.threads else 1
        results: list[Result] = [None] * len(drives)  # type: ignore[list-item]

        def work(first: int) -> None:
            """Items first, first + workers, ... on one kernel state, reset between items."""
            engine = self.engine() if self.corelet.n_cores else None
            for b in range(first, len(drives), workers):
                threads = 1 if workers > 1 else per_item
                results[b] = self._run_one(drives[b], threads, bar, False, engine)

        with self._bar(ticks, len(drives), "ticks") as bar:
            if workers > 1:
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(work, range(workers)))
            else:
                work(0)
        return stack_results(self.corelet, results, ticks)

    def _run_one(
        self, drive: np.ndarray, threads: int, bar: Any, profile: bool, engine: Any = None
    ) -> Result:
        corelet, ticks = self.corelet, drive.shape[0]
        out = np.zeros((ticks, self.n_out), np.uint8)
        if corelet.n_cores == 0:
            bar.update(ticks)
            empty = np.zeros((0, hw.NEURONS_PER_CORE), np.int32)
            return Result(split_outputs(corelet, out), dict.fromkeys(COUNTERS, 0), empty, ticks)
        if engine is None:
            engine = self.engine()
        else:
            engine.reset()
        chunk = max(1, CHUNK_CORE_TICKS // corelet.n_cores)
        tuner = _ThreadTuner(threads)
        for lo in range(0, ticks, chunk):
            hi = min(ticks, lo + chunk)
            use = tuner.next()
            start = time.perf_counter()
            engine.run(drive[lo:hi], out[lo:hi], use, profile)
            tuner.record(use, (hi - lo) / max(time.perf_counter() - start, 1e-9))
            bar.update(hi - lo)
        if profile:
            self.last_profile = np.asarray(engine.profile, np.float64).copy()
        counters = {k: int(v) for k, v in zip(COUNTERS, engine.counters, strict=True)}
        self.last_inter_chip = int(engine.inter_chip)
        return Result(split_outputs(corelet, out), counters, engine.v, ticks)

    def _bar(self, ticks: int, items: int, unit: str) -> Any:
        work = ticks * items * max(self.corelet.n_cores, 1)
        show = self.progress
        if show is None:
            show = sys.stderr.isatty() and work >= PROGRESS_MIN_CORE_TICKS
        return _Progress(ticks * items, unit, bool(show))


class _ThreadTuner:
    """Chooses between ``threads`` threads and one thread, chunk by chunk, by measured speed.

    A per-tick barrier makes extra threads slower than one when other programs hold the CPUs
    (a descheduled thread stalls every tick). Results do not depend on the thread count, so a
    run may switch freely: it times each option, keeps the faster and re-times the other
    every ``REPROBE_CHUNKS`` chunks."""

    def __init__(self, threads: int) -> None:
        self.options = [threads, 1] if threads > 1 else [1]
        self.speed: dict[int, float] = {}
        self.calls = 0

    def next(self) -> int:
        """The thread count for the next chunk."""
        self.calls += 1
        untimed = [t for t in self.options if t not in self.speed]
        if untimed:
            return untimed[0]
        ranked = sorted(self.options, key=lambda t: -self.speed[t])
        return ranked[-1] if self.calls % REPROBE_CHUNKS == 0 else ranked[0]

    def record(self, threads: int, ticks_per_s: float) -> None:
        self.speed[threads] = ticks_per_s


class _Progress:
    """A tqdm bar when asked for and available; otherwise a no-op with the same methods."""

    def __init__(self, total: int, unit: str, show: bool) -> None:
        self.bar: Any = None
        if show:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is optional for the runtime
                return
            self.bar = tqdm(total=total, unit=unit, unit_scale=True, leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def run(
    corelet: Corelet,
    inputs: Inputs = None,
    ticks: int = 0,
    *,
    threads: int = 1,
    progress: bool | None = None,
    isa: str = "auto",
) -> Result:
    """Run ``corelet`` for ``ticks`` ticks from its initial state (bit-exact with
    ``reference.simulate``)."""
    return Simulator(corelet, threads=threads, isa=isa, progress=progress).run(inputs, ticks)


def run_batch(
    corelet: Corelet,
    inputs: Sequence[Inputs] | Inputs,
    ticks: int,
    *,
    batch: int | None = None,
    threads: int = 1,
    progress: bool | None = None,
    isa: str = "auto",
) -> BatchResult:
    """Independent runs, each from the initial state (bit-exact with
    ``reference.simulate_batch``)."""
    sim = Simulator(corelet, threads=threads, isa=isa, progress=progress)
    return sim.run_batch(inputs, ticks, batch)
