"""Full-chip runtime benchmark: 4,096 cores at ~20 Hz with 128 active synapses per neuron.

Builds a synthetic chip (``nsc_runtime.synth.random_corelet``: Merolla 2014's operating point),
runs it in the Cython kernel with ``--threads`` threads and with one thread, profiles where one
thread spends its time, runs the numpy reference on the same chip for ``--ref-ticks`` ticks and
checks the kernel against it bit for bit. Prints a summary, then, as the LAST line, one JSON
object (keys listed in docs/benchmarks.md, "Runtime").

    python benchmarks/runtime_chip.py                  # the recorded configuration
    python benchmarks/runtime_chip.py --ticks 200 --ref-ticks 3   # a quick run
    python benchmarks/runtime_chip.py --heterogeneous  # per-neuron parameters, 8 sets per core

``--heterogeneous`` gives every neuron its own parameters, drawn from ``--palette`` sets per
core (what compiled networks produce; ``--palette 0``: every neuron drawn independently). It
times the kernel twice on the same chip, interleaved: with its per-core palettes (the default)
and with per-neuron tables only (the kernel before palettes, ``Simulator(palette=False)``),
and checks both against the reference.

Wall-clock figures depend on what else runs on the machine: the JSON records the load average.
Each timing is the best of ``--repeats`` interleaved runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

from nsc_runtime import _core, hw, reference, sim, synth


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cores", type=int, default=hw.CORES_PER_CHIP)
    p.add_argument("--rate", type=float, default=20.0, help="target firing rate, Hz")
    p.add_argument("--synapses", type=int, default=128, help="active synapses per neuron")
    p.add_argument("--ticks", type=int, default=2000, help="ticks of the timed runs")
    p.add_argument("--ref-ticks", type=int, default=20, help="ticks compared with the reference")
    p.add_argument("--profile-ticks", type=int, default=200, help="ticks of the profiled run")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--heterogeneous", action="store_true", help="per-neuron parameters")
    p.add_argument(
        "--palette", type=int, default=8, help="with --heterogeneous: parameter sets per core"
    )
    p.add_argument("--repeats", type=int, default=2, help="interleaved timings, best kept")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def timed_run(
    runner: sim.Simulator, ticks: int, threads: int, profile: bool = False
) -> tuple[float, dict[str, int], np.ndarray]:
    """Wall seconds, counters and profile of ``ticks`` ticks on ``threads`` threads, after a
    20-tick warm-up (the kernel's state is reset in between)."""
    engine = runner.engine()
    silent = np.zeros((ticks, runner.n_in), np.uint8)
    out = np.zeros((ticks, runner.n_out), np.uint8)
    engine.run(silent[:20], out[:20], threads)
    engine.reset()
    start = time.perf_counter()
    engine.run(silent, out, threads, profile)
    seconds = time.perf_counter() - start
    counters = dict(zip(reference.COUNTERS, map(int, engine.counters), strict=True))
    return seconds, counters, np.asarray(engine.profile)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    corelet = synth.random_corelet(
        args.cores,
        args.rate,
        args.synapses,
        args.seed,
        heterogeneous=args.heterogeneous,
        palette=args.palette if args.heterogeneous else 0,
    )
    build_s = time.perf_counter() - t0
    runner = sim.Simulator(corelet, threads=args.threads)
    threads = runner.run_threads()
    palette_cores = int(((runner.tables["head"][0::16] & _core.CF_PALETTE) != 0).sum())
    # the kernel without palettes (per-neuron tables), timed alongside on the same chip
    plain = sim.Simulator(corelet, threads=args.threads, palette=False) if palette_cores else None
    print(
        f"chip: {args.cores} cores, target {args.rate} Hz, {args.synapses} synapses/neuron, "
        f"built in {build_s:.1f} s; kernel {sim.available_isas()[-1]}, "
        f"OpenMP {sim.have_openmp()}, {threads} thread(s)",
        file=sys.stderr,
    )

    best: dict[tuple[str, int], float] = {}
    runs: dict[str, list[float]] = {}
    counters: dict[str, int] = {}
    for _ in range(max(1, args.repeats)):
        for name, r in (("palette", runner), ("plain", plain)):
            for t in sorted({threads, 1}, reverse=True):
                if r is None:
                    continue
                s, ctr, _ = timed_run(r, args.ticks, t)
                best[name, t] = min(best.get((name, t), s), s)
                runs.setdefault(f"{name}/{t}", []).append(round(args.ticks / s, 1))
                counters = ctr
    seconds, single_s = best["palette", threads], best["palette", 1]
    ticks_per_s = args.ticks / seconds
    neurons = args.cores * hw.NEURONS_PER_CORE
    split = timed_run(runner, args.profile_ticks, 1, profile=True)[2]
    phases = dict(zip(("integrate", "neuron_update", "route", "deliver"), split, strict=True))

    checks = [r.run(None, args.ref_ticks) for r in (runner, plain) if r is not None]
    del runner, plain
    start = time.perf_counter()
    expected = reference.simulate(corelet, None, args.ref_ticks)
    ref_s = time.perf_counter() - start
    bit_exact = all(
        expected.counters == check.counters
        and np.array_equal(expected.v, check.v)
        and all(np.array_equal(expected.spikes[k], check.spikes[k]) for k in expected.spikes)
        for check in checks
    )
    ref_ticks_per_s = args.ref_ticks / ref_s

    result = {
        "cores": args.cores,
        "neurons": neurons,
        "target_rate_hz": args.rate,
        "synapses_per_neuron": args.synapses,
        "heterogeneous": args.heterogeneous,
        "palette": args.palette if args.heterogeneous else 0,
        "palette_cores": palette_cores,
        "ticks": args.ticks,
        "ticks_per_s": round(ticks_per_s, 1),
        "realtime_factor": round(ticks_per_s * hw.TICK_SECONDS, 3),
        "synaptic_events_per_s": round(counters["synaptic_events"] / seconds),
        "measured_rate_hz": round(counters["neuron_spikes"] / neurons / args.ticks * 1000, 3),
        "threads": threads,
        "single_thread_ticks_per_s": round(args.ticks / single_s, 1),
        "per_neuron_tables_ticks_per_s": round(args.ticks / best["plain", threads], 1)
        if ("plain", threads) in best
        else None,
        "per_neuron_tables_single_thread_ticks_per_s": round(args.ticks / best["plain", 1], 1)
        if ("plain", 1) in best
        else None,
        "runs_ticks_per_s": runs,  # every timing: "palette|plain/threads"
        "reference_ticks_per_s": round(ref_ticks_per_s, 2),
        "speedup_vs_reference": round(ticks_per_s / ref_ticks_per_s, 1),
        "bit_exact": bool(bit_exact),
        "compared_ticks": args.ref_ticks,
        "profile_ticks": args.profile_ticks,
        "profile_seconds_per_tick_us": {
            k: round(v / args.profile_ticks * 1e6, 1) for k, v in phases.items()
        },
        "profile_share": {k: round(v / max(split.sum(), 1e-12), 3) for k, v in phases.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "isa": sim.available_isas()[-1],
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(
        f"{ticks_per_s:.0f} ticks/s ({result['realtime_factor']}x real time) on {threads} "
        f"thread(s), {result['single_thread_ticks_per_s']} on one; "
        f"{result['synaptic_events_per_s'] / 1e9:.2f} G synaptic events/s; "
        f"rate {result['measured_rate_hz']} Hz; reference {ref_ticks_per_s:.1f} ticks/s; "
        f"{palette_cores} palette cores (without palettes: "
        f"{result['per_neuron_tables_ticks_per_s']} ticks/s); "
        f"bit-exact over {args.ref_ticks} ticks: {bit_exact}",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0 if bit_exact else 1


if __name__ == "__main__":
    sys.exit(main())
