"""Run one corelet on several processes (MPI ranks), bit-identical for any number of ranks.

The Cython kernel stays free of MPI. Rank ``r`` owns the contiguous block of cores
``bounds[r]:bounds[r + 1]`` (whole chips where the cores of each chip are contiguous, see
:func:`partition`) and runs it as a **sub-corelet** with the ordinary kernel:

- a neuron whose destination core lives on another rank becomes a *remote line* of the
  kernel (route ``-2 - (i << 22 | inter-chip << 21 | hops << 4)`` in its tables): the kernel
  lists its spikes (``Engine.remote``, O(spikes) per tick) instead of delivering them;
- a spike received from another rank is OR-ed straight into the receiving core's axon ring
  (``_core.Engine.inject``), in the slot of the tick it is due, exactly where the kernel's own
  delivery would have put it;
- the original input ports keep all their lines, restricted to the rank's entries; the
  original output lines of the rank's neurons keep their global columns.

Timing: a routed spike fired at tick ``t`` with delay ``d`` sets its axon in ring slot
``(t + d) & 15``; the kernel delivers a tick's routed spikes before the next tick and at the
end of each ``run`` call, so between calls the ring holds every spike in flight. Ranks run
windows of ``W`` ticks, ``W`` = the shortest cross-rank delay (1..15; no exchange when no route
crosses ranks), and exchange after each: every spike of a window is due at or after the next
window's first tick and within 15 ticks of it, so it lands in a ring slot not yet read.

Exchange (MPI): per window, counts by ``Alltoall``, spikes by ``Alltoallv``, one int64 word per
spike: ``due_tick * (C * 256) + dest_core * 256 + dest_axon`` (global core index). The PRNG
is keyed by each core's seed (kept in the sub-corelet) and the absolute tick (every sub-engine
starts at the run's first tick), never by the rank, so stochastic modes give the same draws.
Counters: the kernel counts what it sees (synaptic events of received spikes included,
``neuron_spikes``, routes inside the rank and, from the remote lines' route words, the
``cross_core_spikes``, ``mesh_hops`` and inter-chip spikes of its cross-rank spikes); rank 0
sums them.

Also counted (not part of :data:`~nsc_runtime.reference.COUNTERS`, so ``Result`` is unchanged):
spikes exchanged between ranks and spikes that cross a chip boundary (routes whose source and
destination cores are on different chips: the kernel counts those inside a rank,
``Engine.inter_chip``, each rank those of its remote lines).

Checkpoints (:class:`Checkpoint`): at the end of a run (a window boundary: every spike in
flight is in a ring), the potentials, rings, tick and counters by global core index; a run
resumed from one, on any number of ranks, continues exactly as the uninterrupted run. A
:class:`Session` builds each rank's plan and kernel once and runs a long run in parts, each
ending at a window boundary with an optional checkpoint (``nsc run --checkpoint-every``).

:func:`run_partitioned` runs all ranks in one process (exchange by list transposition): the
split/merge logic without MPI. :func:`run_distributed` is the MPI entry (imports mpi4py only
there); every rank passes the same corelet and inputs, rank 0 gets the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import hw
from .corelet import Corelet, Port, port_table
from .errors import NscError
from .reference import (
    COUNTERS,
    BatchResult,
    Inputs,
    Result,
    input_lines,
    prepare_batch,
    prepare_inputs,
    split_outputs,
    stack_results,
)
from .validate import validate_corelet

__all__ = [
    "Checkpoint",
    "DistributedResult",
    "ExchangeStats",
    "OneProcess",
    "RankPlan",
    "Session",
    "chip_of",
    "load_rank",
    "mpi_world",
    "partition",
    "plan_rank",
    "run_distributed",
    "run_distributed_batch",
    "run_distributed_stats",
    "run_partitioned",
]

N = hw.NEURONS_PER_CORE
STEP_BYTES = 1 << 26  # with no exchange needed, ticks per kernel call keep a window this small


def chip_of(corelet: Corelet) -> np.ndarray:
    """int64 (C,): the chip of every core, ``row * chip_cols + col`` (position // 64)."""
    return _chip_of(corelet.chips, corelet.position)


def _chip_of(chips: tuple[int, int], position: np.ndarray) -> np.ndarray:
    side = hw.CORES_PER_CHIP_SIDE
    pos = position.astype(np.int64)
    return (pos[:, 1] // side) * int(chips[1]) + pos[:, 0] // side


def partition(corelet: Corelet, ranks: int) -> np.ndarray:
    """int64 (ranks + 1,) core bounds: rank ``r`` owns cores ``bounds[r]:bounds[r + 1]``.

    Contiguous blocks of about ``C / ranks`` cores. When every chip's cores are contiguous in
    core order and there are at least as many chips as ranks, the bounds fall on chip
    boundaries (the one nearest each even split), so ranks own whole chips. Ranks beyond the
    core count own nothing."""
    return _partition(corelet.n_cores, corelet.chips, corelet.position, ranks)


def _partition(c: int, chips: tuple[int, int], position: np.ndarray, ranks: int) -> np.ndarray:
    if int(ranks) != ranks or ranks < 1:
        raise NscError(f"ranks must be a whole number >= 1, got {ranks!r}")
    even = np.array([(r * c) // ranks for r in range(ranks + 1)], np.int64)
    chip = _chip_of(chips, position)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(chip) != 0) + 1, [c]]).astype(np.int64)
    contiguous = np.unique(chip).size == starts.size - 1
    if c == 0 or not contiguous or starts.size - 1 < ranks:
        return even
    bounds = even.copy()
    for r in range(1, ranks):
        # nearest chip start, leaving room for one chip per remaining rank
        allowed = starts[(starts > bounds[r - 1]) & (starts <= starts[-1 - (ranks - r)])]
        bounds[r] = allowed[np.argmin(np.abs(allowed - even[r]))]
    return bounds


@dataclass
class _Routes:
    """Every routed neuron of the corelet, with its source/destination ranks and remote line."""

    src: np.ndarray  # int64 global neuron id core * 256 + neuron
    dest: np.ndarray  # int64 destination core
    axon: np.ndarray  # int64 destination axon
    delay: np.ndarray  # int64
    src_rank: np.ndarray
    dest_rank: np.ndarray
    hops: np.ndarray  # int64 mesh hops
    inter_chip: np.ndarray  # bool
    window: int  # the shortest delay of a route between ranks, all ranks (0: none crosses)

    @property
    def cross(self) -> np.ndarray:
        return self.src_rank != self.dest_rank


def _routes(corelet: Corelet, bounds: np.ndarray, rank: int | None = None) -> _Routes:
    """The routed neurons of every rank, or of ``rank`` only (what one MPI rank needs: the
    global arrays cost 8 int64 per routed neuron); the window is always global."""
    n = corelet.neurons
    lo, hi = (0, corelet.n_cores) if rank is None else (int(bounds[rank]), int(bounds[rank + 1]))
    src = np.flatnonzero(n["dest_core"][lo:hi].reshape(-1) >= 0).astype(np.int64) + lo * N
    dest = n["dest_core"].reshape(-1)[src].astype(np.int64)
    axon = n["dest_axon"].reshape(-1)[src].astype(np.int64)
    delay = n["delay"].reshape(-1)[src].astype(np.int64)
    window = _min_cross_delay(corelet, bounds)
    src_rank = np.searchsorted(bounds, src // N, side="right") - 1
    dest_rank = np.searchsorted(bounds, dest, side="right") - 1
    pos = corelet.position.astype(np.int64)
    hops = np.abs(pos[dest] - pos[src // N]).sum(axis=1)
    chip = chip_of(corelet)
    inter_chip = chip[dest] != chip[src // N]
    return _Routes(src, dest, axon, delay, src_rank, dest_rank, hops, inter_chip, window)


def _min_cross_delay(corelet: Corelet, bounds: np.ndarray) -> int:
    """The shortest delay of any route between ranks (0: no route crosses), in blocks of
    cores (small temporaries)."""
    dest_core, delay = corelet.neurons["dest_core"], corelet.neurons["delay"]
    best = hw.DELAY_MAX + 1
    for lo in range(0, corelet.n_cores, 4096):
        hi = min(corelet.n_cores, lo + 4096)
        dest = dest_core[lo:hi]
        src_rank = np.searchsorted(bounds, np.arange(lo, hi), side="right") - 1
        dest_rank = np.searchsorted(bounds, dest, side="right") - 1
        cross = (dest >= 0) & (dest_rank != src_rank[:, None])
        if cross.any():
            best = min(best, int(delay[lo:hi][cross].min()))
    return 0 if best > hw.DELAY_MAX else best


@dataclass
class RankPlan:
    """What one rank runs: its sub-corelet and how its lines map to the whole corelet.

    Sub-corelet input port ``"in"``: the corelet's input lines (all ports, in order),
    restricted to this rank's entries.
    Output port ``"out"``: this rank's original output lines (global columns ``out_cols``).
    Cross-rank neurons (``cross_src``, local neuron ids) lose their route in the sub-corelet;
    the runner makes them the kernel's remote lines 0, 1, ... in this order."""

    rank: int
    lo: int
    hi: int
    corelet: Corelet
    n_in: int  # original input lines
    ranks: int
    n_cores: int  # of the whole corelet (spike words use global core indices)
    out_cols: np.ndarray  # int64: global output column of the original lines of "out"
    cross_src: np.ndarray  # int64 local neuron id (core * 256 + neuron) per cross line
    cross_delay: np.ndarray  # int64 per cross line
    cross_rank: np.ndarray  # int64 destination rank per cross line
    cross_target: np.ndarray  # int64 global dest_core * 256 + dest_axon per cross line
    cross_hops: np.ndarray  # int64
    cross_inter_chip: np.ndarray  # bool
    cross_word: np.ndarray  # int64 per cross line: delay * (C * 256) + target (word - tick part)
    rank_start: np.ndarray  # int64 (ranks + 1,): cross lines are grouped by destination rank
    window: int  # ticks between exchanges, 0: none needed (the same on every rank)
    step: int  # ticks per kernel call: the window, or bounded window buffers when it is 0


def plan_rank(corelet: Corelet, bounds: np.ndarray, rank: int) -> RankPlan:
    """The sub-corelet of ``rank`` under ``bounds`` (from :func:`partition`)."""
    return _plan(corelet, bounds, rank, _routes(corelet, bounds))


def _plan(corelet: Corelet, bounds: np.ndarray, rank: int, routes: _Routes) -> RankPlan:
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    packed = corelet.crossbar_is_packed  # a loaded corelet: its packed rows, never unpacked
    sub = Corelet(
        axon_types=corelet.axon_types[lo:hi],
        crossbar=None if packed else corelet.crossbar[lo:hi],
        crossbar_packed=corelet.crossbar_rows(lo, hi) if packed else None,
        neurons={k: a[lo:hi].copy() for k, a in corelet.neurons.items()},
        position=corelet.position[lo:hi],
        seeds=corelet.seeds[lo:hi],
        chips=corelet.chips,
        metadata={},
    )
    mine = np.flatnonzero(routes.src_rank == rank)
    # cross-rank routes first by destination rank (stable), then the rank's own
    cross = routes.cross[mine]
    mine = np.concatenate(
        [mine[cross][np.argsort(routes.dest_rank[mine][cross], kind="stable")], mine[~cross]]
    )
    cross = routes.cross[mine]
    local_src = routes.src[mine] - lo * N
    dest_core = sub.neurons["dest_core"].reshape(-1)
    dest_core[local_src[cross]] = hw.NO_DEST
    dest_core[local_src[~cross]] = routes.dest[mine][~cross] - lo
    # inputs: the original lines restricted to this rank
    n_in = input_lines(corelet)
    line, core, axon = port_table(corelet.inputs)
    keep = (core >= lo) & (core < hi)
    entries = np.stack([core[keep] - lo, axon[keep]], axis=1).astype(np.int32)
    offsets = np.zeros(n_in + 1, np.int64)
    np.cumsum(np.bincount(line[keep], minlength=n_in), out=offsets[1:])
    sub.inputs = [Port.from_arrays("in", entries.reshape(-1, 2), offsets)]
    # outputs: the original lines of this rank
    _, out_core, out_neuron = port_table(corelet.outputs)
    out_cols = np.flatnonzero((out_core >= lo) & (out_core < hi)).astype(np.int64)
    watched = out_core[out_cols].astype(np.int64) * N + out_neuron[out_cols] - lo * N
    out_entries = np.stack([watched // N, watched % N], axis=1).astype(np.int32)
    sub.outputs = [Port.from_arrays("out", out_entries, np.arange(watched.size + 1))]
    return RankPlan(
        rank=rank,
        lo=lo,
        hi=hi,
        corelet=sub,
        n_in=n_in,
        ranks=int(bounds.size - 1),
        n_cores=corelet.n_cores,
        out_cols=out_cols,
        cross_src=local_src[cross],
        cross_delay=routes.delay[mine][cross],
        cross_rank=routes.dest_rank[mine][cross],
        cross_target=(routes.dest * N + routes.axon)[mine][cross],
        cross_hops=routes.hops[mine][cross],
        cross_inter_chip=routes.inter_chip[mine][cross],
        cross_word=(routes.delay * (corelet.n_cores * N) + routes.dest * N + routes.axon)[mine][
            cross
        ],
        rank_start=np.searchsorted(
            routes.dest_rank[mine][cross], np.arange(int(bounds.size)), side="left"
        ).astype(np.int64),
        window=routes.window,
        step=routes.window or max(1, STEP_BYTES // (len(out_core) + 1)),
    )


@dataclass
class ExchangeStats:
    """What crossed ranks and chips in one run (equal for every rank count, except the
    exchange figures, which are 0 on one rank)."""

    ranks: int
    window: int  # ticks between exchanges (0: no route crosses ranks)
    windows: int  # kernel calls, each followed by an exchange on several ranks
    exchanged_spikes: int  # spike words sent between ranks, all ranks together
    # routed spikes whose source and destination chips differ (None: not counted)
    inter_chip_spikes: int | None
    exchange_seconds: float  # rank 0's time in the exchange
    run_seconds: float  # rank 0's time in the window loop (kernel + exchange; no setup)
    bounds: list[int] = field(default_factory=list)


@dataclass
class Checkpoint:
    """A run's state at a window boundary, by global core index (any rank count resumes it):
    the next tick, potentials ``v`` int32 (C, 256) in neuron order, the axon rings ``ring``
    uint64 (C, 64) as ``_core.Engine.ring`` lays them out (slots by ``tick & 15``, so they
    need no shifting), and the counters so far."""

    tick: int
    v: np.ndarray
    ring: np.ndarray
    counters: dict[str, int]

    def save(self, path: str) -> None:
        """Write the checkpoint as an .npz file, atomically."""
        from .atomic import atomic_outputs

        arrays = {"tick": np.int64(self.tick), "v": self.v, "ring": self.ring}
        arrays.update({"@" + k: np.int64(v) for k, v in self.counters.items()})
        with atomic_outputs() as out, out.path(path).open("wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str) -> Checkpoint:
        """Read a checkpoint written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    int(data["tick"]),
                    data["v"].astype(np.int32),
                    data["ring"].astype(np.uint64),
                    {k: int(data["@" + k]) for k in COUNTERS},
                )
        except (OSError, KeyError, ValueError) as err:
            raise NscError(f"cannot read checkpoint {path!r}: {err}") from None


@dataclass
class DistributedResult:
    """A run's :class:`~nsc_runtime.reference.Result` (counters include a resumed
    checkpoint's), its exchange statistics and, when asked for, the final checkpoint."""

    result: Result
    stats: ExchangeStats
    checkpoint: Checkpoint | None = None


class _RankRunner:
    """One rank's kernel state, built once and run part by part (:meth:`start`), window by
    window (:meth:`step`, :meth:`receive`)."""

    def __init__(
        self,
        plan: RankPlan,
        threads: int,
        isa: str,
        resume: Checkpoint | None,
    ) -> None:
        from . import _core, sim

        self.plan, self.threads = plan, threads
        sub = plan.corelet
        self.n_out_sub = plan.out_cols.size
        self.engine: Any = None
        if sub.n_cores:
            palette = (isa if isa != "auto" else sim.available_isas()[-1]) != "baseline"
            tables = sim.build_tables(sub, palette)
            # cross-rank neurons: remote lines 0, 1, ... (listed by the kernel, not delivered)
            src = plan.cross_src
            slot = (src // N) * N + _core.POSITION[src % N]
            flag = np.where(plan.cross_inter_chip, _core.ROUTE_INTER_CHIP, 0)
            lines = np.arange(src.size, dtype=np.int64) << _core.ROUTE_SHIFT
            tables["route"][slot] = -2 - (lines | flag | plan.cross_hops << 4)
            per_core = np.bincount(src // N, minlength=sub.n_cores)
            tables["rbox_ptr"] = np.concatenate([[0], np.cumsum(per_core)]).astype(np.int64)
            self.engine = _core.Engine(tables, sub.n_cores, plan.n_in, self.n_out_sub, isa)
            if resume is not None:
                lo, hi = plan.lo, plan.hi
                self.engine.restore(resume.v[lo:hi], resume.ring[lo:hi], resume.tick)
        self.start(np.zeros((0, plan.n_in), np.uint8))

    def start(self, drive: np.ndarray) -> None:
        """Begin a part of the run: ``drive`` (ticks, n_in) from the engine's next tick; the
        outputs, the spikes sent and the inter-chip count start again at 0 (the kernel's
        counters and state go on)."""
        self.drive, self.ticks = drive, drive.shape[0]
        self.out = np.zeros((self.ticks, self.plan.out_cols.size), np.uint8)
        self.sent = 0
        self.base = int(self.engine.tick) if self.engine is not None else 0  # row 0's tick
        self.chip0 = int(self.engine.inter_chip) if self.engine is not None else 0

    def step(self, t0: int, t1: int) -> list[np.ndarray]:
        """Run ticks ``t0..t1-1`` (of this run); return the spike words for each rank."""
        plan = self.plan
        empty = [np.zeros(0, np.int64) for _ in range(plan.ranks)]
        if self.engine is None:
            return empty
        # a quiet core (nothing to do this tick) leaves its lines unwritten: out starts at 0
        self.engine.run(self.drive[t0:t1], self.out[t0:t1], self.threads)
        m = plan.cross_delay.size
        if m == 0:
            return empty
        n, first = t1 - t0, self.base + t0  # ticks of the window, its first absolute tick
        # records: absolute tick * m + remote line (lines are grouped by destination rank)
        if n == 1:  # the usual window (delay-1 routes): one tick, no division
            line = self.engine.remote - first * m
            word = plan.cross_word[line] + first * (plan.n_cores * N)  # due = tick + delay
        else:
            tick, line = np.divmod(self.engine.remote, m)
            word = plan.cross_word[line] + tick * (plan.n_cores * N)
        if plan.ranks == 2:  # everything goes to the other rank
            self.sent += int(word.size)
            return [empty[0], word] if plan.rank == 0 else [word, empty[1]]
        small = np.uint16 if plan.ranks <= 1 << 16 else np.int64
        dest = (np.searchsorted(plan.rank_start, line, side="right") - 1).astype(small)
        word = word[np.argsort(dest, kind="stable")]  # a radix sort: O(spikes)
        split = np.cumsum(np.bincount(dest, minlength=plan.ranks))[:-1]
        self.sent += int(word.size)
        return np.split(word, split)

    def receive(self, words: np.ndarray) -> None:
        """OR the spikes sent to this rank into its cores' axon rings, in the slot of the
        tick each is due (within the next 15 ticks: the exchange window is the min delay)."""
        if words.size == 0:
            return
        due, target = np.divmod(words, self.plan.n_cores * N)
        core, axon = np.divmod(target, N)
        self.engine.inject(((core - self.plan.lo) * hw.RING_SLOTS + (due & 15)) * N + axon)

    def chip_spikes(self) -> int:
        """Routed spikes between chips in this part (the kernel counts them, remote lines
        included)."""
        return int(self.engine.inter_chip) - self.chip0 if self.engine is not None else 0

    def counters(self) -> dict[str, int]:
        """The kernel's counters since it was built or restored (all parts so far)."""
        base = self.engine.counters if self.engine is not None else np.zeros(4, np.int64)
        return {k: int(v) for k, v in zip(COUNTERS, base, strict=True)}

    def v(self) -> np.ndarray:
        if self.engine is None:
            return np.zeros((0, N), np.int32)
        return np.asarray(self.engine.v, np.int32)

    def ring(self) -> np.ndarray:
        if self.engine is None:
            return np.zeros((0, 4 * hw.RING_SLOTS), np.uint64)
        return np.asarray(self.engine.ring).reshape(-1, 4 * hw.RING_SLOTS).copy()


def _windows(ticks: int, step: int) -> list[tuple[int, int]]:
    return [(t, min(ticks, t + step)) for t in range(0, ticks, step)]


_Part = tuple[np.ndarray, np.ndarray, dict[str, int], np.ndarray, np.ndarray | None]


def _part(plan: RankPlan, runner: _RankRunner, checkpoint: bool) -> _Part:
    ring = runner.ring() if checkpoint else None
    return (plan.out_cols, runner.out, runner.counters(), runner.v(), ring)


def _merge(
    corelet: Corelet, ticks: int, parts: list[_Part], origin: Checkpoint | None, first: int
) -> tuple[Result, Checkpoint | None]:
    """Rank 0: the whole corelet's Result (and checkpoint, if the parts hold rings) from each
    rank's (out_cols, out, counters, v, ring) of a part of ``ticks`` ticks from tick
    ``first``; the ranks' counters run from ``origin`` (the checkpoint their kernels were
    restored from, None: the initial state)."""
    out = np.zeros((ticks, sum(p.n_lines for p in corelet.outputs)), np.uint8)
    counters = dict(origin.counters) if origin is not None else dict.fromkeys(COUNTERS, 0)
    for cols, spikes, ctr, _, _ in parts:
        out[:, cols] = spikes
        for k in COUNTERS:
            counters[k] += ctr[k]
    v = np.concatenate([p[3] for p in parts]).astype(np.int32)
    result = Result(split_outputs(corelet, out), counters, v, ticks)
    rings = [p[4] for p in parts]
    if any(r is None for r in rings):
        return result, None
    ring = np.concatenate([r for r in rings if r is not None])
    return result, Checkpoint(first + ticks, v, ring, dict(counters))


def _setup(
    corelet: Corelet,
    ranks: int,
    bounds: np.ndarray | None,
    resume: Checkpoint | None,
    rank: int | None = None,
) -> tuple[np.ndarray, _Routes]:
    """Bounds and the routes of every rank (``rank`` None) or of one, after checking the
    corelet, the bounds and the checkpoint to resume."""
    bounds = partition(corelet, ranks) if bounds is None else np.asarray(bounds, np.int64)
    if bounds.size != ranks + 1 or bounds[0] != 0 or bounds[-1] != corelet.n_cores:
        raise NscError(f"bounds must run from 0 to {corelet.n_cores} in {ranks} steps")
    if (np.diff(bounds) < 0).any():
        raise NscError("bounds must not decrease")
    if resume is not None:
        c = corelet.n_cores
        if resume.v.shape != (c, N) or resume.ring.shape != (c, 4 * hw.RING_SLOTS):
            raise NscError(
                f"the checkpoint holds {resume.v.shape[0]} cores' state, the corelet has {c}"
            )
        if resume.tick < 0:
            raise NscError(f"checkpoint tick must be >= 0, got {resume.tick}")
    return bounds, _routes(corelet, bounds, rank)


def run_partitioned(
    corelet: Corelet,
    inputs: Inputs = None,
    ticks: int = 0,
    ranks: int = 1,
    *,
    bounds: np.ndarray | None = None,
    threads: int = 1,
    isa: str = "auto",
    inter_chip: bool = True,
    resume: Checkpoint | None = None,
    checkpoint: bool = False,
) -> DistributedResult:
    """Run ``corelet`` split over ``ranks`` sub-corelets in this process, exchanging spikes
    between them as the MPI run does (for tests, and to measure the split's cost).

    ``inter_chip``: report the spikes routed between chips (``stats.inter_chip_spikes``,
    counted by the kernel's route flag and by each rank for its remote lines: free); False:
    None.
    ``resume``: continue from a :class:`Checkpoint` (inputs and outputs then start at its
    tick); ``checkpoint``: also return the state at the end."""
    validate_corelet(corelet)
    drive = prepare_inputs(corelet, inputs, ticks)
    bounds, routes = _setup(corelet, ranks, bounds, resume)
    plans = [_plan(corelet, bounds, r, routes) for r in range(ranks)]
    runners = [_RankRunner(p, threads, isa, resume) for p in plans]
    for runner in runners:
        runner.start(drive)
    spent, windows = 0.0, _windows(ticks, plans[0].step)
    begin = time.perf_counter()
    for t0, t1 in windows:
        sent = [r.step(t0, t1) for r in runners]
        start = time.perf_counter()
        for dst, runner in enumerate(runners):
            runner.receive(np.concatenate([s[dst] for s in sent]))
        spent += time.perf_counter() - start
    loop = time.perf_counter() - begin
    parts = [_part(p, r, checkpoint) for p, r in zip(plans, runners, strict=True)]
    stats = ExchangeStats(
        ranks=ranks,
        window=plans[0].window,
        windows=len(windows),
        exchanged_spikes=sum(r.sent for r in runners),
        inter_chip_spikes=sum(r.chip_spikes() for r in runners) if inter_chip else None,
        exchange_seconds=spent,
        run_seconds=loop,
        bounds=[int(b) for b in bounds],
    )
    first = resume.tick if resume is not None else 0
    result, state = _merge(corelet, ticks, parts, resume, first)
    return DistributedResult(result, stats, state)


class OneProcess:
    """The part of an MPI communicator this module uses, for one process without MPI:
    ``run_distributed_stats(..., comm=OneProcess())`` runs as one rank (checkpoints and
    resumes on one process, without importing mpi4py)."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def Barrier(self) -> None:
        pass

    def gather(self, value: Any, root: int = 0) -> list[Any]:
        return [value]

    def bcast(self, value: Any, root: int = 0) -> Any:
        return value


def mpi_world() -> Any:
    """mpi4py's ``COMM_WORLD`` (imports mpi4py, which starts MPI)."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise NscError(
            "running on several processes needs mpi4py and an MPI: pip install "
            "'nsc[mpi]' (mpi4py and the mpich wheel, which provides mpiexec)"
        ) from err
    return MPI.COMM_WORLD


def load_rank(path: str, comm: Any = None) -> Corelet:
    """Read a corelet file for this rank of ``comm`` (default ``MPI.COMM_WORLD``), holding
    only the cores it owns under :func:`partition` (``format.load_part``: the other cores'
    crossbars and parameters are untouched zero pages; routes, geometry and ports whole).
    Pass the result to :func:`run_distributed_stats` on the same ranks: only those read
    the owned cores."""
    from . import format as fmt

    comm = mpi_world() if comm is None else comm
    rank, ranks = int(comm.Get_rank()), int(comm.Get_size())

    def owned(c: int, chips: tuple[int, int], position: np.ndarray) -> tuple[int, int]:
        bounds = _partition(c, chips, position, ranks)
        return int(bounds[rank]), int(bounds[rank + 1])

    corelet, _ = fmt.load_part(path, owned)
    return corelet


def _mpi_exchange(comm: Any) -> Callable[[list[np.ndarray]], np.ndarray]:
    from mpi4py import MPI

    def exchange(send: list[np.ndarray]) -> np.ndarray:
        counts = np.array([a.size for a in send], np.int64)
        got = np.zeros_like(counts)
        comm.Alltoall([counts, MPI.INT64_T], [got, MPI.INT64_T])
        words = np.concatenate(send).astype(np.int64)
        recv = np.zeros(int(got.sum()), np.int64)
        sdispl = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rdispl = np.concatenate([[0], np.cumsum(got)[:-1]])
        comm.Alltoallv(
            [words, (counts.tolist(), sdispl.tolist()), MPI.INT64_T],
            [recv, (got.tolist(), rdispl.tolist()), MPI.INT64_T],
        )
        return recv

    return exchange


class Session:
    """One run on the ranks of ``comm`` (default ``MPI.COMM_WORLD``; :class:`OneProcess`: this
    process alone) in successive parts: each rank checks the corelet, plans its sub-corelet
    and builds its kernel **once**, then :meth:`run` runs part after part from where the last
    one ended (a window boundary: every spike in flight is in a ring), each part optionally
    ending with a :class:`Checkpoint`.

    A run in parts gives, part for part, what :func:`run_distributed_stats` gives when each
    part resumes from the previous part's checkpoint (outputs from the part's first tick,
    counters since ``resume`` or the initial state, potentials, checkpoint), byte for byte;
    the parts' outputs joined equal the uninterrupted run. Every rank creates the session
    with the same corelet and checkpoint, and calls :meth:`run` with the same inputs.

    ``resume``: start from a checkpoint (its counters are included in every part's);
    ``threads``, ``isa``, ``inter_chip``: as in :func:`run_partitioned`."""

    def __init__(
        self,
        corelet: Corelet,
        comm: Any = None,
        *,
        threads: int = 1,
        isa: str = "auto",
        inter_chip: bool = True,
        resume: Checkpoint | None = None,
    ) -> None:
        self.comm = mpi_world() if comm is None else comm
        self.rank, self.ranks = int(self.comm.Get_rank()), int(self.comm.Get_size())
        self.corelet, self.inter_chip, self.origin = corelet, inter_chip, resume
        validate_corelet(corelet)
        self.bounds, routes = _setup(corelet, self.ranks, None, resume, self.rank)
        self.plan = _plan(corelet, self.bounds, self.rank, routes)
        del routes  # this rank's routed neurons: the plan holds what it needs of them
        self.runner = _RankRunner(self.plan, threads, isa, resume)
        self.exchange = _mpi_exchange(self.comm) if self.ranks > 1 else None
        self.tick = resume.tick if resume is not None else 0  # the next part's first tick

    def reset(self) -> None:
        """Back to the initial state (tick 0, counters 0, no checkpoint), keeping the plan
        and the kernel tables: a new, independent run."""
        if self.runner.engine is not None:
            self.runner.engine.reset()
        self.origin, self.tick = None, 0

    def run(
        self, inputs: Inputs = None, ticks: int = 0, *, checkpoint: bool = False
    ) -> DistributedResult | None:
        """Run the next ``ticks`` ticks (``inputs`` from the part's first tick): rank 0 gets
        the part's result, its statistics (this part's exchanged and inter-chip spikes) and,
        with ``checkpoint``, the state at its end; the other ranks None."""
        return self._run(prepare_inputs(self.corelet, inputs, ticks), checkpoint)

    def _run(self, drive: np.ndarray, checkpoint: bool) -> DistributedResult | None:
        comm, plan, runner = self.comm, self.plan, self.runner
        ticks = int(drive.shape[0])
        runner.start(drive)
        spent, windows = 0.0, _windows(ticks, plan.step)
        comm.Barrier()
        begin = time.perf_counter()
        for t0, t1 in windows:
            sent = runner.step(t0, t1)
            start = time.perf_counter()
            if self.exchange is not None:
                runner.receive(self.exchange(sent))
            spent += time.perf_counter() - start
        comm.Barrier()
        loop = time.perf_counter() - begin
        first, self.tick = self.tick, self.tick + ticks
        part = _part(plan, runner, checkpoint)
        tallies = comm.gather((runner.sent, runner.chip_spikes()), root=0)
        parts = comm.gather(part, root=0)
        runner.start(np.zeros((0, plan.n_in), np.uint8))  # let go of the part's arrays
        if self.rank != 0:
            return None
        stats = ExchangeStats(
            ranks=self.ranks,
            window=plan.window,
            windows=len(windows),
            exchanged_spikes=sum(t[0] for t in tallies),
            inter_chip_spikes=sum(t[1] for t in tallies) if self.inter_chip else None,
            exchange_seconds=spent,
            run_seconds=loop,
            bounds=[int(b) for b in self.bounds],
        )
        result, state = _merge(self.corelet, ticks, parts, self.origin, first)
        return DistributedResult(result, stats, state)


def run_distributed_stats(
    corelet: Corelet,
    inputs: Inputs = None,
    ticks: int = 0,
    comm: Any = None,
    *,
    threads: int = 1,
    isa: str = "auto",
    inter_chip: bool = True,
    resume: Checkpoint | None = None,
    checkpoint: bool = False,
) -> DistributedResult | None:
    """:func:`run_distributed` with the exchange statistics and, with ``checkpoint``, the
    final state (rank 0; None elsewhere). ``resume``: as in :func:`run_partitioned` (every
    rank passes the same checkpoint). One part of a :class:`Session`."""
    session = Session(corelet, comm, threads=threads, isa=isa, inter_chip=inter_chip, resume=resume)
    return session.run(inputs, ticks, checkpoint=checkpoint)


def run_distributed(
    corelet: Corelet,
    inputs: Inputs = None,
    ticks: int = 0,
    comm: Any = None,
    *,
    threads: int = 1,
    isa: str = "auto",
    inter_chip: bool = True,
) -> Result | None:
    """Run ``corelet`` on the ranks of ``comm`` (default ``MPI.COMM_WORLD``): rank 0 returns
    the same :class:`~nsc_runtime.reference.Result` as ``sim.run`` (outputs, counters, final
    potentials), the other ranks None. Every rank passes the same corelet and inputs;
    ``inter_chip`` as in :func:`run_partitioned`."""
    got = run_distributed_stats(
        corelet, inputs, ticks, comm, threads=threads, isa=isa, inter_chip=inter_chip
    )
    return None if got is None else got.result


def run_distributed_batch(
    corelet: Corelet,
    inputs: Sequence[Inputs] | Inputs,
    ticks: int,
    comm: Any = None,
    *,
    batch: int | None = None,
    threads: int = 1,
    isa: str = "auto",
) -> BatchResult:
    """Independent runs from the initial state on the ranks of ``comm``, one after another
    (each split over every rank), as ``sim.run_batch`` runs them on one process: the same
    :class:`~nsc_runtime.reference.BatchResult`, byte for byte, returned on **every** rank
    (rank 0 broadcasts it), so a host program around the cores (``nsc run MODEL.corelet``
    under mpiexec) goes on identically everywhere."""
    comm = mpi_world() if comm is None else comm
    drives = prepare_batch(corelet, inputs, ticks, batch)
    session = Session(corelet, comm, threads=threads, isa=isa, inter_chip=False)
    results: list[Result] = []
    for i, drive in enumerate(drives):
        if i:
            session.reset()
        got = session._run(drive, False)
        if got is not None:
            results.append(got.result)
    stacked = stack_results(corelet, results, ticks) if int(comm.Get_rank()) == 0 else None
    out: BatchResult = comm.bcast(stacked, root=0)
    return out
