"""Synthetic corelets: rate-targeted random networks (benchmarks) and stress corelets (tests).

:func:`random_corelet` builds C cores whose mean firing rate lands near ``rate_hz``
(1 tick = 1 ms, so ``rate_hz`` spikes per neuron per 1,000 ticks):

- axon types: 64 axons of each type per core, shuffled; type weights ``(+a, -a, +b, -b)``;
- crossbar: every neuron has exactly ``synapses`` active synapses, as evenly split over the four
  types as possible, so the expected synaptic input is exactly zero when ``synapses`` is a
  multiple of 4 (the recurrent activity adds noise but no drift);
- neurons: leak ``lambda`` in 1..4 as a bias, linear reset, threshold
  ``alpha = round(lambda * 1000 / rate_hz)``, so each neuron fires ``lambda / alpha`` spikes per
  tick on average; a floor at ``-beta = -4 alpha`` (kappa = 1) bounds the random walk;
  ``v0`` uniform in ``[0, alpha)`` desynchronizes the cores;
- routing: a random permutation of all (core, axon) pairs, so every axon is driven by exactly
  one neuron, to uniformly random cores; delays uniform in 1..15.

By default the neurons of a core share their parameters and weights (TrueNorth's design: the
axon type carries the weight); ``heterogeneous=True`` draws them per neuron instead
(``a``, ``b`` in 1..3, ``lambda`` in 1..4: up to 36 distinct sets per core), or, with
``palette=K``, draws K sets per core and gives each neuron one of them, as compiled networks
do (a few weight units and biases per core; the kernel's palette path, ``sim.build_tables``).

:func:`stress_corelet` draws every mode and extreme value the hardware allows (stochastic
synapses, leak and thresholds, saturation, all reset modes, idle cores, cores with a few
parameter sets) to test simulators.
"""

from __future__ import annotations

import numpy as np

from . import hw
from .corelet import ROW_BYTES, Corelet, Port, aligned_zeros
from .errors import NscError

_BATCH = 64  # cores whose crossbars are drawn at once (bounds temporary memory)


def _grid(n_cores: int, chips: tuple[int, int] | None = None) -> tuple[tuple[int, int], np.ndarray]:
    """Chips ``(rows, cols)`` of a 2-D mesh (default: one row of as many as needed), filled
    chip by chip in row-major chip order, each 64 x 64 chip row by row: the cores of a chip
    are contiguous (``distributed.partition`` gives ranks whole chips)."""
    side, per_chip = hw.CORES_PER_CHIP_SIDE, hw.CORES_PER_CHIP
    if chips is None:
        chips = (1, max(1, -(-n_cores // per_chip)))
    rows, cols = int(chips[0]), int(chips[1])
    if rows < 1 or cols < 1 or n_cores > rows * cols * per_chip:
        raise NscError(
            f"--cores {n_cores:,} do not fit {rows}x{cols} chips "
            f"({rows * cols * per_chip:,} cores at most)"
        )
    c = np.arange(n_cores)
    chip, local = c // per_chip, c % per_chip
    x = (chip % cols) * side + local % side
    y = (chip // cols) * side + local // side
    return (rows, cols), np.stack([x, y], axis=1).astype(np.int32)


def random_corelet(
    n_cores: int,
    rate_hz: float = 20.0,
    synapses: int = 128,
    seed: int = 0,
    *,
    input_lines: int = 16,
    output_lines: int = 16,
    heterogeneous: bool = False,
    palette: int = 0,
    chips: tuple[int, int] | None = None,
) -> Corelet:
    """A random, valid corelet firing near ``rate_hz`` with ``synapses`` synapses per neuron;
    ``chips``: the (rows, cols) chip mesh its cores fill chip by chip (default one row)."""
    if n_cores < 1:
        raise NscError(f"--cores must be >= 1, got {n_cores}")
    if not 0 <= rate_hz <= 1000:
        raise NscError(f"--rate must be in 0..1000 Hz (1 tick = 1 ms), got {rate_hz}")
    if not 0 <= synapses <= hw.AXONS_PER_CORE:
        raise NscError(f"--synapses must be in 0..{hw.AXONS_PER_CORE}, got {synapses}")
    if not 0 <= palette <= hw.NEURONS_PER_CORE:
        raise NscError(f"--palette must be in 0..{hw.NEURONS_PER_CORE}, got {palette}")
    rng = np.random.default_rng(seed)
    grid, position = _grid(n_cores, chips)
    corelet = Corelet.empty(n_cores, chips=grid)
    corelet.position[:] = position
    corelet.seeds[:] = rng.integers(0, 1 << 32, n_cores, dtype=np.uint64).astype(np.uint32)
    _random_crossbar(corelet, synapses, rng)
    sets = palette if heterogeneous and palette else hw.NEURONS_PER_CORE
    shape = (n_cores, sets) if heterogeneous else (n_cores, 1)
    n = corelet.neurons
    a, b = rng.integers(1, 4, shape), rng.integers(1, 4, shape)
    leak = rng.integers(1, 5, shape) if rate_hz > 0 else np.zeros(shape, np.int64)
    if heterogeneous and palette:  # each neuron takes one of its core's `palette` sets
        pick = rng.integers(0, palette, (n_cores, hw.NEURONS_PER_CORE))
        a, b, leak = (np.take_along_axis(x, pick, axis=1) for x in (a, b, leak))
    n["weights"][:] = np.stack([a, -a, b, -b], axis=-1)
    alpha = np.ones(shape, np.int64)
    if rate_hz > 0:
        alpha = np.clip(np.rint(leak * 1000.0 / rate_hz), 1, hw.ALPHA_MAX).astype(np.int64)
    n["leak"][:] = leak
    n["alpha"][:] = alpha
    n["beta"][:] = np.minimum(4 * alpha, hw.BETA_MAX)
    n["kappa"][:] = 1
    n["reset_mode"][:] = hw.RESET_LINEAR
    n["v0"][:] = (rng.random(n["v0"].shape) * alpha).astype(np.int32)
    slots = rng.permutation(n_cores * hw.AXONS_PER_CORE).reshape(n_cores, hw.NEURONS_PER_CORE)
    n["dest_core"][:] = slots // hw.AXONS_PER_CORE
    n["dest_axon"][:] = slots % hw.AXONS_PER_CORE
    n["delay"][:] = rng.integers(hw.DELAY_MIN, hw.DELAY_MAX + 1, n["delay"].shape)
    total = n_cores * hw.NEURONS_PER_CORE
    ins = rng.choice(n_cores * hw.AXONS_PER_CORE, min(input_lines, total), replace=False)
    outs = rng.choice(total, min(output_lines, total), replace=False)
    a, n = hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE
    corelet.inputs.append(Port("in", [np.array([[k // a, k % a]], np.int32) for k in ins]))
    corelet.outputs.append(Port("out", [np.array([[k // n, k % n]], np.int32) for k in outs]))
    corelet.metadata.update(
        generator="nsc_runtime.synth.random_corelet",
        rate_hz=repr(float(rate_hz)),
        synapses=str(synapses),
        seed=str(seed),
        heterogeneous=str(heterogeneous).lower(),
        chips=f"{grid[0]}x{grid[1]}",
    )
    if heterogeneous and palette:
        corelet.metadata["palette"] = str(palette)
    return corelet


def _random_crossbar(corelet: Corelet, synapses: int, rng: np.random.Generator) -> None:
    """Balanced axon types; each neuron gets ``synapses`` synapses split evenly over types.
    The crossbar is drawn a batch of cores at a time and kept as packed rows (the file's and
    the kernel's form), so the bool crossbar of a large system is never built."""
    c, per_type = corelet.n_cores, hw.AXONS_PER_CORE // hw.AXON_TYPES
    base = np.repeat(np.arange(hw.AXON_TYPES, dtype=np.uint8), per_type)
    corelet.axon_types[:] = rng.permuted(np.broadcast_to(base, (c, base.size)), axis=1)
    counts = [synapses // 4 + (g < synapses % 4) for g in range(hw.AXON_TYPES)]
    neurons = np.arange(hw.NEURONS_PER_CORE)
    packed = aligned_zeros((c, hw.AXONS_PER_CORE, ROW_BYTES), np.uint8)
    for lo in range(0, c, _BATCH):
        hi = min(c, lo + _BATCH)
        block = np.zeros((hi - lo, hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE), np.bool_)
        types = corelet.axon_types[lo:hi]
        # axons of each type, per core: (cores, 4 types, 64)
        by_type = np.argsort(types, axis=1, kind="stable").reshape(hi - lo, 4, per_type)
        for g, k in enumerate(counts):
            if k == 0:
                continue
            keys = rng.random((hi - lo, hw.NEURONS_PER_CORE, per_type), dtype=np.float32)
            pick = np.argpartition(keys, k - 1, axis=2)[:, :, :k]  # (cores, neurons, k)
            axons = np.take_along_axis(by_type[:, g, None, :], pick, axis=2)
            core_idx = np.arange(hi - lo)[:, None, None]
            block[core_idx, axons, neurons[None, :, None]] = True
        packed[lo:hi] = np.packbits(block, axis=2, bitorder="little")
    corelet.crossbar_packed = packed  # 1 bit per synapse (a 4x4 system: 537 MB, not 4.3 GB)


def stress_corelet(n_cores: int, seed: int, *, density: float | None = None) -> Corelet:
    """A valid corelet exercising every mode and extreme: stochastic synapses, leak and
    thresholds; all reset modes; saturation at both ends of V; cores whose neurons share
    parameters (the kernel's uniform path) and leak-free quiet cores (its idle skip)."""
    rng = np.random.default_rng(seed)
    c, shape = n_cores, (n_cores, hw.NEURONS_PER_CORE)
    corelet = Corelet.empty(c)
    corelet.seeds[:] = rng.integers(0, 1 << 32, c, dtype=np.uint64).astype(np.uint32)
    corelet.axon_types[:] = rng.integers(0, hw.AXON_TYPES, corelet.axon_types.shape)
    dens = rng.choice([0.01, 0.1, 0.5, 0.97], (c, 1, 1)) if density is None else density
    corelet.crossbar[:] = rng.random(corelet.crossbar.shape) < dens
    n = corelet.neurons

    def pick(extremes: list[int], lo: int, hi: int, size: tuple[int, ...]) -> np.ndarray:
        wide = rng.integers(lo, hi + 1, size)
        return np.where(rng.random(size) < 0.3, rng.choice(extremes, size), wide)

    w_shape = n["weights"].shape
    n["weights"][:] = np.where(
        rng.random(w_shape) < 0.5,
        rng.integers(-4, 5, w_shape),
        pick([hw.WEIGHT_MIN, -1, 0, 1, hw.WEIGHT_MAX], hw.WEIGHT_MIN, hw.WEIGHT_MAX, w_shape),
    )
    n["stoch_synapse"][:] = np.where(rng.random(shape) < 0.3, rng.integers(0, 16, shape), 0)
    n["leak"][:] = np.where(
        rng.random(shape) < 0.6,
        rng.integers(-3, 4, shape),
        pick([hw.LEAK_MIN, hw.LEAK_MAX, 0], hw.LEAK_MIN, hw.LEAK_MAX, shape),
    )
    n["stoch_leak"][:] = rng.random(shape) < 0.3
    n["leak_reversal"][:] = rng.random(shape) < 0.5
    for name, top in (("alpha", hw.ALPHA_MAX), ("beta", hw.BETA_MAX)):
        small = rng.integers(0, 64, shape)
        n[name][:] = np.where(rng.random(shape) < 0.7, small, pick([0, 1, top], 0, top, shape))
    n["tm"][:] = np.where(rng.random(shape) < 0.3, rng.integers(1, hw.TM_MAX + 1, shape), 0)
    n["reset_mode"][:] = rng.integers(0, 3, shape)
    n["kappa"][:] = rng.random(shape) < 0.5
    n["reset"][:] = pick([hw.RESET_MIN, hw.RESET_MAX, 0], -100, 100, shape)
    n["v0"][:] = pick([hw.V_MIN, hw.V_MAX, hw.V_MAX - 5, hw.V_MIN + 5], -100, 100, shape)
    n["dest_core"][:] = rng.integers(-1, c, shape)
    n["dest_axon"][:] = rng.integers(0, hw.AXONS_PER_CORE, shape)
    n["delay"][:] = rng.integers(hw.DELAY_MIN, hw.DELAY_MAX + 1, shape)
    # 0 as drawn, 1 shared parameters, 2 shared weights, 3 quiet, 4 shared deterministic modes,
    # 5 a few parameter sets per core (the kernel's palette path, or just past its size)
    kinds = rng.integers(0, 6, c)
    for core in np.flatnonzero(kinds == 1):
        for name in ("stoch_leak", "leak_reversal", "alpha", "beta", "tm"):
            n[name][core] = n[name][core, 0]
        if rng.random() < 0.5:  # shared leak too, else one leak (bias) per neuron
            n["leak"][core] = n["leak"][core, 0]
        for name in ("reset_mode", "kappa", "reset", "stoch_synapse"):
            n[name][core] = n[name][core, 0]
    for core in np.flatnonzero(kinds == 4):
        for name in ("leak_reversal", "reset_mode", "kappa"):
            n[name][core] = n[name][core, 0]
        n["stoch_leak"][core] = n["tm"][core] = 0
    for core in np.flatnonzero((kinds == 2) | (kinds == 3)):
        n["weights"][core] = n["weights"][core, 0]
        n["stoch_synapse"][core] = n["stoch_synapse"][core, 0]
    for core in np.flatnonzero(kinds == 3):
        for name in ("leak", "stoch_leak", "tm"):
            n[name][core] = 0
        n["alpha"][core] = rng.integers(5, 40, hw.NEURONS_PER_CORE)
        n["beta"][core] = rng.integers(5, 40, hw.NEURONS_PER_CORE)
        n["v0"][core] = rng.integers(-4, 4, hw.NEURONS_PER_CORE)
    for core in np.flatnonzero(kinds == 5):
        palette_core(n, core, rng)
    n_in = int(rng.integers(1, 9))
    lines = [
        np.column_stack([rng.integers(0, c, m), rng.integers(0, hw.AXONS_PER_CORE, m)]).astype(
            np.int32
        )
        for m in rng.integers(0, 4, n_in)
    ]
    corelet.inputs.append(Port("x", lines))
    picks = rng.choice(c * hw.NEURONS_PER_CORE, min(64, c * hw.NEURONS_PER_CORE), replace=False)
    n = hw.NEURONS_PER_CORE
    outs = [np.array([[k // n, k % n]], np.int32) for k in picks]
    corelet.outputs.append(Port("y", outs))
    return corelet


_PALETTE_FIELDS = (
    "weights",
    "stoch_synapse",
    "leak",
    "stoch_leak",
    "leak_reversal",
    "alpha",
    "beta",
    "tm",
    "reset_mode",
    "kappa",
    "reset",
)


def palette_core(n: dict[str, np.ndarray], core: int, rng: np.random.Generator) -> None:
    """Give core ``core``'s neurons the parameters of 1..18 of them (at most 16 sets fit the
    kernel's palette); half the time deterministic neurons (stochastic synapses allowed);
    sometimes a leak (bias) per neuron on top; half the time one mode for the core."""
    if rng.random() < 0.5:
        n["stoch_leak"][core] = n["tm"][core] = 0
    k = int(rng.integers(1, 19))
    reps = rng.choice(hw.NEURONS_PER_CORE, k, replace=False)
    pick = reps[rng.integers(0, k, hw.NEURONS_PER_CORE)]
    for name in _PALETTE_FIELDS:
        n[name][core] = n[name][core][pick]
    if rng.random() < 0.3:  # a bias per neuron: the palette without the leak
        n["leak"][core] = rng.integers(-40, 41, hw.NEURONS_PER_CORE)
    if rng.random() < 0.5:  # one mode for the core (leak reversal, reset mode, kappa)
        for name in ("leak_reversal", "reset_mode", "kappa"):
            n[name][core] = rng.integers(0, 3 if name == "reset_mode" else 2)


def random_inputs(corelet: Corelet, ticks: int, rate: float, seed: int) -> dict[str, np.ndarray]:
    """Bernoulli(``rate`` per tick) spikes for every input port: port -> uint8 (ticks, lines)."""
    rng = np.random.default_rng(seed)
    return {
        p.name: (rng.random((ticks, p.n_lines)) < rate).astype(np.uint8) for p in corelet.inputs
    }
