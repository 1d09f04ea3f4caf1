"""Multi-chip systems on MPI ranks: ticks/s, memory and exchange per rank count (issue 12).

For each system of R x C chips (64 x 64 cores each, random cores at ~20 Hz with 128 synapses
per neuron, `nsc_runtime.synth.random_corelet`, routes to random cores with delays 1..15),
writes the corelet file once, then runs it under `mpiexec -n K` for each rank count K
(K = 1 first: its run is the reference the others are compared with, byte for byte:
outputs, the four counters, final potentials, inter-chip spikes). Every rank reads only its
own cores of the file (`distributed.load_rank`). Reports per run: ticks/s over the window
loop (kernel + exchange, no setup), peak RSS of every rank, spike words exchanged per tick
(all ranks together and per rank), time per exchange, inter-chip spikes per tick and whether
the run was identical to the reference. The 1-rank run is also compared with `sim.run`
(the plain single-process simulator) on the same corelet.

    python benchmarks/scale_out.py                  # 2x2 (4.2 M neurons) and 4x4 (16.8 M)
    python benchmarks/scale_out.py --quick          # 1x2 and 2x2 chips of 64 cores each
    python benchmarks/scale_out.py --systems 2x2 --ranks 1,2,4 --ticks 500

Last line: one JSON object {"results": [{"chips", "ranks", "neurons", "ticks_per_s",
"peak_rss_mb_per_rank", "exchanged_words_per_tick", "identical", ...}], ...}. Wall-clock
figures depend on what else runs on the machine (the JSON records the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="2x2,4x4", help="chip grids RxC, comma-separated")
    p.add_argument("--ranks", default="1,2", help="rank counts, comma-separated (1 first)")
    p.add_argument("--ticks", type=int, default=200)
    p.add_argument("--cores-per-chip", type=int, default=4096, help="cores filled per chip")
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--synapses", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="kernel threads per rank")
    p.add_argument("--dir", help="where the corelet files go (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the corelet files")
    p.add_argument("--quick", action="store_true", help="1x2 and 2x2 chips of 64 cores, 100 ticks")
    p.add_argument("--make", nargs=2, metavar=("RxC", "PATH"), help=argparse.SUPPRESS)
    p.add_argument("--worker", nargs=3, metavar=("PATH", "REF", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:  # smaller defaults; options given explicitly win
        defaults = {"systems": "2x2,4x4", "cores_per_chip": 4096, "ticks": 200}
        quick = {"systems": "1x2,2x2", "cores_per_chip": 64, "ticks": 100}
        for name, value in quick.items():
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make(args: argparse.Namespace, grid: str, path: str) -> None:
    """Write the system's corelet: cores_per_chip cores on each chip, chip by chip."""
    from nsc_runtime import format as fmt
    from nsc_runtime import hw, synth

    rows, cols = (int(v) for v in grid.split("x"))
    k = args.cores_per_chip
    c = synth.random_corelet(rows * cols * k, args.rate, args.synapses, chips=(rows, cols))
    if k != hw.CORES_PER_CHIP:  # spread the cores over every chip: k per chip
        side, core = hw.CORES_PER_CHIP_SIDE, np.arange(c.n_cores)
        chip, local = core // k, core % k
        c.position[:, 0] = (chip % cols) * side + local % side
        c.position[:, 1] = (chip // cols) * side + local // side
    c.metadata["cores_per_chip"] = str(k)
    fmt.save(c, path)
    print(json.dumps({"made": path, "cores": c.n_cores, "peak_rss_mb": peak_rss_mb()}))


def worker(args: argparse.Namespace, path: str, ref: str, out: str) -> None:
    """One rank of `mpiexec -n K`: run the system, gather the figures, compare (rank 0)."""
    from mpi4py import MPI

    from nsc_runtime import sim
    from nsc_runtime.distributed import load_rank, run_distributed_stats

    comm = MPI.COMM_WORLD
    t = time.perf_counter()
    corelet = load_rank(path, comm)
    load_s = time.perf_counter() - t
    got = run_distributed_stats(corelet, None, args.ticks, comm, threads=args.threads)
    rss = comm.gather(peak_rss_mb(), root=0)
    if got is None:
        return
    st, r = got.stats, got.result
    ranks, ticks = comm.Get_size(), args.ticks
    row = {
        "chips": "x".join(map(str, corelet.chips)),
        "ranks": ranks,
        "neurons": corelet.n_cores * 256,
        "cores": corelet.n_cores,
        "ticks": ticks,
        "ticks_per_s": round(ticks / st.run_seconds, 2),
        "peak_rss_mb_per_rank": [round(v) for v in rss],
        "exchanged_words_per_tick": round(st.exchanged_spikes / ticks, 1),
        "exchanged_words_per_tick_per_rank": round(st.exchanged_spikes / ticks / ranks, 1),
        "exchange_ms": round(1e3 * st.exchange_seconds / max(st.windows, 1), 3),
        "window": st.window,
        "inter_chip_spikes_per_tick": round((st.inter_chip_spikes or 0) / ticks, 1),
        "spikes_per_tick": round(r.counters["neuron_spikes"] / ticks, 1),
        "rate_hz": round(1e3 * r.counters["neuron_spikes"] / ticks / (corelet.n_cores * 256), 2),
        "load_s": round(load_s, 2),
    }
    mine = {"v": r.v, "@inter_chip": np.int64(st.inter_chip_spikes or 0)}
    mine.update(r.spikes)
    mine.update({"@" + k: np.int64(v) for k, v in r.counters.items()})
    if ranks == 1:
        np.savez(ref, **mine)
        del got
        runner = sim.Simulator(corelet)
        t = time.perf_counter()
        plain = runner.run(None, ticks)
        row["sim_run_ticks_per_s"] = round(ticks / (time.perf_counter() - t), 2)
        plain_arrays = {"v": plain.v, "@inter_chip": np.int64(runner.last_inter_chip)}
        plain_arrays.update(plain.spikes)
        plain_arrays.update({"@" + k: np.int64(v) for k, v in plain.counters.items()})
        row["identical"] = same(plain_arrays, mine)
        row["identical_to"] = "sim.run"
        row["peak_rss_mb_with_sim_run"] = round(peak_rss_mb())  # the comparison's tables too
    else:
        with np.load(ref) as want:
            row["identical"] = same(dict(want), mine)
        row["identical_to"] = "1 rank"
    Path(out).write_text(json.dumps(row))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def mpiexec() -> str:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec"
    )
    if found is None:
        raise SystemExit("mpiexec not found: pip install -e '.[mpi]' (make setup does)")
    return found


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.make:
        return make(args, *args.make)
    if args.worker:
        return worker(args, *args.worker)
    where = Path(args.dir or tempfile.mkdtemp(prefix="scale_out_"))
    where.mkdir(parents=True, exist_ok=True)
    ranks = [int(v) for v in args.ranks.split(",")]
    common = [
        f"--ticks={args.ticks}",
        f"--cores-per-chip={args.cores_per_chip}",
        f"--rate={args.rate}",
        f"--synapses={args.synapses}",
        f"--threads={args.threads}",
    ]
    results = []
    for grid in args.systems.split(","):
        path = where / f"system_{grid}_{args.cores_per_chip}.corelet"
        if not path.exists():
            t = time.perf_counter()
            made = subprocess.run(
                [sys.executable, str(HERE), *common, "--make", grid, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            info = json.loads(made.stdout.strip().splitlines()[-1])
            print(
                f"{grid}: wrote {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in "
                f"{time.perf_counter() - t:.0f} s, generator peak RSS {info['peak_rss_mb']:.0f} MB"
            )
        ref = where / f"ref_{grid}.npz"
        for k in ranks:
            out = where / f"row_{grid}_{k}.json"
            cmd = [mpiexec(), "-n", str(k), sys.executable, str(HERE), *common]
            done = subprocess.run(
                [*cmd, "--worker", str(path), str(ref), str(out)], capture_output=True, text=True
            )
            if done.returncode != 0:
                raise SystemExit(f"{grid} on {k} rank(s) failed:\n{done.stderr[-3000:]}")
            row = json.loads(out.read_text())
            results.append(row)
            print(
                f"{grid} chips, {row['neurons']:,} neurons, {k} rank(s): "
                f"{row['ticks_per_s']} ticks/s"
                + (
                    f" (sim.run {row['sim_run_ticks_per_s']}; peak RSS with it "
                    f"{row['peak_rss_mb_with_sim_run']} MB)"
                    if k == 1
                    else ""
                )
                + f", peak RSS/rank {row['peak_rss_mb_per_rank']} MB, "
                f"{row['exchanged_words_per_tick']} words/tick exchanged "
                f"({row['exchanged_words_per_tick_per_rank']}/rank), "
                f"{row['exchange_ms']} ms/exchange, "
                f"{row['inter_chip_spikes_per_tick']} inter-chip spikes/tick, "
                f"{row['rate_hz']} Hz, identical to {row['identical_to']}: {row['identical']}"
            )
        ref.unlink(missing_ok=True)
        if not args.keep and not args.dir:
            path.unlink()
    print(
        json.dumps(
            {
                "results": results,
                "loadavg": [round(v, 2) for v in os.getloadavg()],
                "cpus": len(os.sched_getaffinity(0)),
                "ticks": args.ticks,
            }
        )
    )


if __name__ == "__main__":
    main()
