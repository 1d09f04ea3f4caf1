"""The numpy reference simulator: the per-tick model of docs/runtime.md, written for reading.

The Cython runtime (``_core.pyx``, driven by ``sim.py``) must match it bit for bit: same spikes,
same counters, same final potentials, in every mode. This module also holds what both share
that is not simulation: the PRNG definition, input/output port conventions and result types.

Per tick ``t`` (0-based), for every core; ``sgn(0) = 0``; ``V`` is held exactly (int64 here):

0. Active axons: the axon ring slot ``t mod 16`` (then cleared), OR'ed with the axons driven
   by host input lines that spike at ``t``. Spikes meeting on one axon in one tick merge.
1. Integrate, for each active axon ``i`` (type ``G``) and each neuron ``j`` with
   ``w_ij = 1``: deterministic (bit ``G`` of ``stoch_synapse_j`` clear): ``V_j += s_j^G``;
   stochastic: ``V_j += sgn(s_j^G)`` if ``|s_j^G| >= rho(t, j, i)``.
2. Leak: ``Omega = (1 - eps_j) + eps_j * sgn(V_j)``; deterministic: ``V_j += Omega * lambda_j``;
   stochastic (``stoch_leak_j``): ``V_j += Omega * sgn(lambda_j)`` if
   ``|lambda_j| >= rho(t, j, 256)``.
3. Threshold, ``eta = rho(t, j, 257) & (2**tm_j - 1)``: if ``V_j >= alpha_j + eta``: spike;
   reset mode 0: ``V_j = R_j``; 1: ``V_j -= alpha_j + eta``; 2: unchanged. Else if
   ``V_j < -(beta_j * kappa_j + (beta_j + eta) * (1 - kappa_j))``: ``kappa_j = 1``:
   ``V_j = -beta_j``; else mode 0: ``V_j = -R_j``; 1: ``V_j += beta_j + eta``; 2: unchanged.
   Then ``V_j`` is clamped to ``[hw.V_MIN, hw.V_MAX]`` (once per tick, here only; in between
   ``|V| <= 393216 + 256*255 + 255``, so 32-bit arithmetic never overflows).
4. Route: a spike of neuron ``j`` with ``dest_core >= 0`` sets axon ``dest_axon`` of core
   ``dest_core`` in ring slot ``(t + delay) mod 16``. Output lines report spikes at ``t``.

PRNG (counter-based, so draw order does not matter and skipped work consumes nothing):
``rho(t, j, k) = mix64(mix64(seed << 32 | t mod 2**32) ^ (j * 512 + k)) >> 56``, an 8-bit
number, with ``mix64`` the SplitMix64 finalizer (:func:`mix64`); ``seed`` is the core's seed,
``k`` is the axon ``i`` (0..255) for a synapse draw, :data:`DRAW_LEAK` or
:data:`DRAW_THRESHOLD`.

Counters: ``synaptic_events`` (active axon, crossbar 1) pairs integrated; ``neuron_spikes``;
``cross_core_spikes`` (routed to another core); ``mesh_hops`` (Manhattan distance between the
positions of source and destination core, summed over routed spikes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import hw
from .corelet import Corelet, port_table
from .errors import NscError
from .validate import validate_corelet

COUNTERS = ("synaptic_events", "neuron_spikes", "cross_core_spikes", "mesh_hops")
DRAW_LEAK = 256  # draw index k of the stochastic leak
DRAW_THRESHOLD = 257  # draw index k of the threshold mask
DRAW_STRIDE = 512  # j * DRAW_STRIDE + k: the counter of draw k of neuron j
MIX_SHIFTS = (30, 27, 31)
MIX_MULTIPLIERS = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
_EVENT_CHUNK = 4096  # active axons integrated at once (bounds temporary memory)
_CORE_BLOCK = 256  # cores updated at once (bounds temporary memory)

Inputs = Mapping[str, np.ndarray] | None


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 (wrapping): ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
    z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31``."""
    z = np.asarray(z, np.uint64)
    z = (z ^ (z >> np.uint64(MIX_SHIFTS[0]))) * np.uint64(MIX_MULTIPLIERS[0])
    z = (z ^ (z >> np.uint64(MIX_SHIFTS[1]))) * np.uint64(MIX_MULTIPLIERS[1])
    return z ^ (z >> np.uint64(MIX_SHIFTS[2]))


def prng_base(seeds: np.ndarray, tick: int) -> np.ndarray:
    """Per-core key of tick ``tick``: ``mix64(seed << 32 | tick mod 2**32)`` (uint64)."""
    seeds = np.asarray(seeds, np.uint64)
    return mix64((seeds << np.uint64(32)) | np.uint64(tick & 0xFFFFFFFF))


def rho(base: np.ndarray, neuron: np.ndarray | int, draw: np.ndarray | int) -> np.ndarray:
    """The 8-bit random number of draw ``draw`` of ``neuron`` under key ``base`` (int64)."""
    counter = np.asarray(neuron, np.uint64) * np.uint64(DRAW_STRIDE) + np.asarray(draw, np.uint64)
    return (mix64(np.asarray(base, np.uint64) ^ counter) >> np.uint64(56)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# ports and results (shared with sim.py)


def input_lines(corelet: Corelet) -> int:
    """Total lines of all input ports (the columns of a prepared input array)."""
    return sum(p.n_lines for p in corelet.inputs)


def output_lines(corelet: Corelet) -> int:
    return sum(p.n_lines for p in corelet.outputs)


def _as_spikes(name: str, arr: object, ndim: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != ndim:
        raise NscError(f"input {name!r}: expected {ndim} dimensions, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise NscError(f"input {name!r}: expected 0/1 spikes, got dtype {a.dtype}")
    if a.size and a.dtype != np.bool_:
        # no np.isin: it widens to int64 (8 bytes per spike) for a million input lines
        ok = a.max() <= 1 if a.dtype.kind == "u" else np.logical_or(a == 0, a == 1).all()
        if not ok:
            raise NscError(f"input {name!r}: spikes must be 0 or 1")
    return a.astype(np.uint8)


def prepare_batch(
    corelet: Corelet, inputs: Sequence[Inputs] | Inputs, ticks: int, batch: int | None = None
) -> np.ndarray:
    """Normalize inputs to one uint8 array (batch, ticks, input lines); ports in corelet order.

    ``inputs``: a mapping port -> (batch, ticks', lines) arrays, or a sequence of mappings
    port -> (ticks', lines) (one per run), or None. A missing port is silent; ``ticks' <=
    ticks`` rows are given, the rest are silent. Unknown ports and non-0/1 values are errors.
    """
    if ticks < 0:
        raise NscError(f"ticks must be >= 0, got {ticks}")
    if inputs is None or isinstance(inputs, Mapping):
        arrays = {k: _as_spikes(k, a, 3) for k, a in (inputs or {}).items()}
        sizes = {a.shape[0] for a in arrays.values()}
        n = batch if batch is not None else (min(sizes) if sizes else 1)
        if sizes and sizes != {n}:
            raise NscError(f"every input needs the same leading batch size {n}, got {sizes}")
        items: list[Inputs] = [{k: a[b] for k, a in arrays.items()} for b in range(n)]
    else:
        items = [dict(m or {}) for m in inputs]
        if batch is not None and batch != len(items):
            raise NscError(f"batch={batch} but {len(items)} input sets were given")
    if not items:
        return np.zeros((0, ticks, input_lines(corelet)), np.uint8)
    return np.stack([prepare_inputs(corelet, item, ticks) for item in items])


def prepare_inputs(corelet: Corelet, inputs: Inputs, ticks: int) -> np.ndarray:
    """One run's inputs as a uint8 (ticks, input lines) array (see :func:`prepare_batch`)."""
    if ticks < 0:
        raise NscError(f"ticks must be >= 0, got {ticks}")
    given = dict(inputs or {})
    known = {p.name for p in corelet.inputs}
    unknown = sorted(set(given) - known)
    if unknown:
        raise NscError(f"unknown input port(s) {unknown}; the corelet has {sorted(known)}")
    out = np.zeros((ticks, input_lines(corelet)), np.uint8)
    col = 0
    for port in corelet.inputs:
        n = port.n_lines
        if port.name in given:
            arr = _as_spikes(port.name, given[port.name], 2)
            if arr.shape[1] != n:
                raise NscError(f"input {port.name!r} has {arr.shape[1]} lines, the port has {n}")
            if arr.shape[0] > ticks:
                raise NscError(
                    f"input {port.name!r} has {arr.shape[0]} ticks, the run is {ticks} ticks"
                )
            out[: arr.shape[0], col : col + n] = arr
        col += n
    return out


def split_outputs(corelet: Corelet, spikes: np.ndarray) -> dict[str, np.ndarray]:
    """Split a (..., ticks, output lines) array into one array per output port."""
    out, col = {}, 0
    for port in corelet.outputs:
        n = port.n_lines
        out[port.name] = spikes[..., col : col + n]
        col += n
    return out


@dataclass
class Result:
    """One run: ``spikes[port]`` uint8 (ticks, lines), counters, final potentials ``v``."""

    spikes: dict[str, np.ndarray]
    counters: dict[str, int]
    v: np.ndarray  # int32 (C, 256) after the last tick
    ticks: int


@dataclass
class BatchResult:
    """Independent runs from the initial state: ``spikes[port]`` (batch, ticks, lines),
    ``counters[name]`` int64 (batch,), ``v`` int32 (batch, C, 256)."""

    spikes: dict[str, np.ndarray]
    counters: dict[str, np.ndarray]
    v: np.ndarray
    ticks: int

    def __len__(self) -> int:
        return int(self.v.shape[0])

    def item(self, b: int) -> Result:
        """Run ``b`` of the batch as a :class:`Result`."""
        return Result(
            {k: s[b] for k, s in self.spikes.items()},
            {k: int(c[b]) for k, c in self.counters.items()},
            self.v[b],
            self.ticks,
        )


def stack_results(corelet: Corelet, results: Sequence[Result], ticks: int) -> BatchResult:
    """Stack single runs into a :class:`BatchResult`."""
    c = corelet.n_cores
    spikes = {
        p.name: np.stack([r.spikes[p.name] for r in results])
        if results
        else np.zeros((0, ticks, p.n_lines), np.uint8)
        for p in corelet.outputs
    }
    counters = {k: np.array([r.counters[k] for r in results], np.int64) for k in COUNTERS}
    empty = np.zeros((0, c, hw.NEURONS_PER_CORE), np.int32)
    v = np.stack([r.v for r in results]) if results else empty
    return BatchResult(spikes, counters, v, ticks)


# ---------------------------------------------------------------------------------------------
# the simulator


class _Network:
    """The corelet's arrays (native dtypes; widened to int64 per block of cores as used), plus
    port and routing lookups."""

    def __init__(self, corelet: Corelet) -> None:
        self.p = corelet.neurons
        self.crossbar = corelet.crossbar
        self.axon_types = corelet.axon_types
        self.seeds = np.asarray(corelet.seeds, np.uint64)
        self.n_cores = corelet.n_cores
        self.in_line, self.in_core, self.in_axon = port_table(corelet.inputs)
        _, self.out_core, self.out_neuron = port_table(corelet.outputs)  # one entry per line
        self.position = np.asarray(corelet.position, np.int64)
        self.neuron_ids = np.arange(hw.NEURONS_PER_CORE, dtype=np.int64)

    def block(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Neuron field ``name`` of cores ``lo..hi-1`` as int64."""
        return self.p[name][lo:hi].astype(np.int64)


def simulate(corelet: Corelet, inputs: Inputs = None, ticks: int = 0) -> Result:
    """Run ``corelet`` for ``ticks`` ticks from its initial state (module docstring model)."""
    validate_corelet(corelet)
    drive = prepare_inputs(corelet, inputs, ticks)
    return _run(corelet, _Network(corelet), drive)


def simulate_batch(
    corelet: Corelet, inputs: Sequence[Inputs] | Inputs, ticks: int, batch: int | None = None
) -> BatchResult:
    """Independent runs, each from the initial state (see :func:`prepare_batch` for inputs)."""
    validate_corelet(corelet)
    drives = prepare_batch(corelet, inputs, ticks, batch)
    net = _Network(corelet)
    return stack_results(corelet, [_run(corelet, net, d) for d in drives], ticks)


def _run(corelet: Corelet, net: _Network, drive: np.ndarray) -> Result:
    ticks = drive.shape[0]
    v = net.p["v0"].astype(np.int64)
    ring = np.zeros((hw.RING_SLOTS, net.n_cores, hw.AXONS_PER_CORE), bool)
    out = np.zeros((ticks, len(net.out_core)), np.uint8)
    counters = dict.fromkeys(COUNTERS, 0)
    for t in range(ticks):
        fired = _tick(net, v, ring, drive[t], t, counters)
        out[t] = fired[net.out_core, net.out_neuron]
    return Result(split_outputs(corelet, out), counters, v.astype(np.int32), ticks)


def _tick(
    net: _Network,
    v: np.ndarray,
    ring: np.ndarray,
    drive: np.ndarray,
    t: int,
    counters: dict[str, int],
) -> np.ndarray:
    """Advance ``v`` and ``ring`` (in place) by tick ``t``; return the (C, 256) spikes.

    Steps 1-3 are independent per core; they run in blocks of cores to bound memory."""
    base = prng_base(net.seeds, t)  # (C,) PRNG key of every core for this tick
    # 0. active axons
    slot = t % hw.RING_SLOTS
    active = ring[slot].copy()
    ring[slot] = False
    hit = drive[net.in_line] != 0
    active[net.in_core[hit], net.in_axon[hit]] = True
    fired = np.zeros((net.n_cores, hw.NEURONS_PER_CORE), bool)
    for lo in range(0, net.n_cores, _CORE_BLOCK):
        hi = min(net.n_cores, lo + _CORE_BLOCK)
        v[lo:hi] += _integrate(net, active, base, lo, hi, counters)  # 1.
        fired[lo:hi] = _leak_threshold(net, v[lo:hi], base[lo:hi, None], lo, hi)  # 2., 3.
    _route(net, fired, ring, t, counters)  # 4.
    return fired


def _integrate(
    net: _Network, active: np.ndarray, base: np.ndarray, lo: int, hi: int, counters: dict[str, int]
) -> np.ndarray:
    """Step 1 for cores ``lo..hi-1``: the (hi - lo, 256) sum of this tick's synaptic inputs."""
    total = np.zeros((hi - lo, hw.NEURONS_PER_CORE), np.int64)
    cores, axons = np.nonzero(active[lo:hi])
    cores += lo
    for e in range(0, cores.size, _EVENT_CHUNK):
        c, i = cores[e : e + _EVENT_CHUNK], axons[e : e + _EVENT_CHUNK]
        rows = net.crossbar[c, i]  # (E, 256): w_ij of each event's axon
        g = net.axon_types[c, i].astype(np.int64)  # (E,)
        s = net.p["weights"][c, :, g].astype(np.int64)  # (E, 256): s_j^G of each target
        stochastic = ((net.p["stoch_synapse"][c] >> g[:, None]) & 1) == 1
        contrib = np.where(rows & ~stochastic, s, 0)
        drawn = rows & stochastic
        if drawn.any():
            r = rho(base[c][:, None], net.neuron_ids[None, :], i[:, None])
            contrib += np.where(drawn & (np.abs(s) >= r), np.sign(s), 0)
        np.add.at(total, c - lo, contrib)
        counters["synaptic_events"] += int(rows.sum())
    return total


def _leak_threshold(net: _Network, v: np.ndarray, base: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Steps 2-3 for cores ``lo..hi-1`` (``v`` is their view, updated in place)."""
    # 2. leak
    leak = net.block("leak", lo, hi)
    omega = np.where(net.block("leak_reversal", lo, hi) == 1, np.sign(v), 1)
    stochastic_leak = net.block("stoch_leak", lo, hi) == 1
    step = np.where(stochastic_leak, 0, omega * leak)
    if stochastic_leak.any():
        passed = np.abs(leak) >= rho(base, net.neuron_ids, DRAW_LEAK)
        step += np.where(stochastic_leak & passed, omega * np.sign(leak), 0)
    v += step
    # 3. threshold, reset, clamp
    tm = net.block("tm", lo, hi)
    eta = np.zeros_like(v)
    if tm.any():
        eta = rho(base, net.neuron_ids, DRAW_THRESHOLD) & ((1 << tm) - 1)
    alpha, beta = net.block("alpha", lo, hi), net.block("beta", lo, hi)
    reset, mode = net.block("reset", lo, hi), net.block("reset_mode", lo, hi)
    kappa = net.block("kappa", lo, hi)
    fire = v >= alpha + eta
    low = ~fire & (v < -np.where(kappa == 1, beta, beta + eta))
    v_fire = np.select([mode == 0, mode == 1], [reset, v - (alpha + eta)], default=v)
    v_low = np.where(
        kappa == 1, -beta, np.select([mode == 0, mode == 1], [-reset, v + beta + eta], default=v)
    )
    v[:] = np.clip(np.where(fire, v_fire, np.where(low, v_low, v)), hw.V_MIN, hw.V_MAX)
    return fire


def _route(
    net: _Network, fired: np.ndarray, ring: np.ndarray, t: int, counters: dict[str, int]
) -> None:
    """Step 4: every spike with a destination sets its axon ``delay`` ticks ahead."""
    dest_core = net.p["dest_core"]
    counters["neuron_spikes"] += int(fired.sum())
    src_core, src_neuron = np.nonzero(fired & (dest_core != hw.NO_DEST))
    dest = dest_core[src_core, src_neuron].astype(np.int64)
    delay = net.p["delay"][src_core, src_neuron].astype(np.int64)
    axon = net.p["dest_axon"][src_core, src_neuron]
    ring[(t + delay) % hw.RING_SLOTS, dest, axon] = True
    counters["cross_core_spikes"] += int((dest != src_core).sum())
    counters["mesh_hops"] += int(np.abs(net.position[dest] - net.position[src_core]).sum())
