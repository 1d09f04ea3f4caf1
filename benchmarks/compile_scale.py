"""Compile random Elman RNNs of growing size end to end and check them with nsc.verify.

Prints one line per network, then as the last line one JSON object
{"results": [{inputs, hidden, steps, neurons, cores, cores_before, lower_bound, placement,
place_s, compile_s, verify_s, agreement}, ...]}; ``place_s`` is the placement inside
``compile_s``. With ``--effort E`` (other than normal) each network is placed once more at that
effort, adding ``cores_E`` and ``place_s_E``.

``cores_before`` is the core count that the code before anytime placement (main at 961b7d0,
time limit 10 s) reached for the same network, measured with this script's earlier version
(docs/placement.md, "Compile time"); ``None`` for sizes not measured then.

With ``--no-verify`` the networks are compiled only (large ones, e.g. ``64x2048``); a network
that does not fit prints the ``DoesNotFitError`` message with the seconds to it. Every row has
``peak_rss_mb``, the process's peak resident memory so far (``ru_maxrss``; run one size per
process to read it per network).

With ``--stages`` each network instead goes through the planned passes one at a time
(``nsc.compile``'s pipeline, its fidelity measurement left out) and every pass's seconds and
the process's peak RSS after it are printed, then the corelet's; a pass that refuses the
network prints its error.

Usage: python benchmarks/compile_scale.py [--sizes 47x16,30x74,300x64] [--effort normal]
[--time-limit 10] [--chips RxC] [--no-verify] [--stages]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

import nsc
from nsc.errors import NscError
from nsc.place import Hardware, place

# cores reached before anytime placement (main 961b7d0, time_limit=10, seed 1 models below)
CORES_BEFORE = {
    (47, 16): 1,
    (30, 74): 4,
    (20, 64): 3,
    (100, 56): 4,
    (300, 64): 8,
    (20, 128): 5,
    (20, 300): 22,
    (300, 512): 53,
}


class Elman(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, hidden, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="47x16,30x74,20x64,100x56,300x64,20x128")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--effort", default="normal", help="also place at: fast, max, a number")
    parser.add_argument("--chips", default="1x1", help="chip grid RxC (default 1x1)")
    parser.add_argument("--no-verify", action="store_true", help="compile only")
    parser.add_argument("--stages", action="store_true", help="time each pass (no fidelity)")
    args = parser.parse_args()
    chips = Hardware.parse(args.chips).chips
    torch.set_num_threads(1)
    if args.stages:
        for size in args.sizes.split(","):
            n_in, hidden = (int(v) for v in size.split("x"))
            _stages(n_in, hidden, args, chips)
        return
    results = []
    for size in args.sizes.split(","):
        n_in, hidden = (int(v) for v in size.split("x"))
        torch.manual_seed(1)
        rng = np.random.default_rng(1)
        model = Elman(n_in, hidden)
        x = rng.integers(0, 16, size=(args.batch, args.steps, n_in))
        t0 = time.perf_counter()
        try:
            compiled = nsc.compile(
                model, x.astype(np.float64), time_limit=args.time_limit, chips=chips
            )
        except NscError as err:  # DoesNotFitError, or a limit of the compiler
            row_err = {
                "inputs": n_in,
                "hidden": hidden,
                "error": f"{type(err).__name__}: {err}",
                "compile_s": round(time.perf_counter() - t0, 2),
                "peak_rss_mb": _peak_rss_mb(),
            }
            results.append(row_err)
            print(row_err, flush=True)
            continue
        t1 = time.perf_counter()
        verify = None if args.no_verify else nsc.verify(compiled, x)
        t2 = time.perf_counter()
        report = compiled.placement.report
        row = {
            "inputs": n_in,
            "hidden": hidden,
            "steps": args.steps,
            "neurons": report.neurons,
            "cores": report.cores,
            "cores_before": CORES_BEFORE.get((n_in, hidden)),
            "lower_bound": report.lower_bound,
            "placement": report.solver_status,
            "place_s": round(report.seconds, 2),
            "compile_s": round(t1 - t0, 2),
            "verify_s": round(t2 - t1, 2),
            "agreement": None if verify is None else verify.agreement,
            "peak_rss_mb": _peak_rss_mb(),
        }
        if args.effort != "normal":  # nsc.compile places at normal effort: place once more
            names = list(compiled.stages)
            graph = compiled.stages[names[names.index("place") - 1]]
            other = place(
                graph, Hardware(chips=chips), time_limit=args.time_limit, effort=args.effort
            )
            row[f"cores_{args.effort}"] = other.report.cores
            row[f"place_s_{args.effort}"] = round(other.report.seconds, 2)
        results.append(row)
        print(row, flush=True)
    print(json.dumps({"results": results}))


def _stages(n_in: int, hidden: int, args: argparse.Namespace, chips: tuple[int, int]) -> None:
    """Run the planned passes one at a time, printing seconds and peak RSS after each."""
    from nsc.backend import to_corelet
    from nsc.frontend import to_graph
    from nsc.passes import Context, plan_pipeline, run_pipeline

    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    model = Elman(n_in, hidden)
    x = rng.integers(0, 16, size=(args.batch, args.steps, n_in)).astype(np.float64)
    print(f"{n_in} x {hidden}:", flush=True)
    t0 = time.perf_counter()
    graph = to_graph(model, x)
    print(f"  frontend {time.perf_counter() - t0:8.2f} s  peak {_peak_rss_mb():6,} MB")
    ctx = Context(example_input=x, hardware=Hardware(chips=chips), time_limit=args.time_limit)
    for p in plan_pipeline(graph):
        t0 = time.perf_counter()
        try:
            graph = run_pipeline(graph, [p], ctx)
        except NscError as err:
            print(f"  {p.name} refused after {time.perf_counter() - t0:.2f} s: {err}")
            print(f"  peak {_peak_rss_mb():,} MB", flush=True)
            return
        print(f"  {p.name:16s} {time.perf_counter() - t0:8.2f} s  peak {_peak_rss_mb():6,} MB")
    t0 = time.perf_counter()
    to_corelet(graph, chips)
    print(f"  corelet {time.perf_counter() - t0:8.2f} s  peak {_peak_rss_mb():6,} MB")
    report = ctx.placement.report
    print(f"  {report.cores:,} cores, lower bound {report.lower_bound:,}", flush=True)


def _peak_rss_mb() -> int:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    main()
