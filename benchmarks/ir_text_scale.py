"""Print and parse a core-level dump of a full chip (4,096 cores) in nsir text.

Each core has a random 256x256 crossbar, random type weights, thresholds, leaks, axon types
and destinations (the per-neuron flags are constant, as compiled cores mostly are). Prints one
JSON line: cores, text size, lines, bytes of arrays (and the fraction of the per-file limit of
nsc.text.limits they use), seconds to print and to parse (wall clock and CPU time),
lines per second.

    PYTHONPATH=.:runtime .venv/bin/python benchmarks/ir_text_scale.py [--cores N]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from nsc.ir import Core, CoreOutput, Graph
from nsc.text import parse_ir, print_ir
from nsc.text.limits import file_bytes_limit
from nsc_runtime import hw


def chip_graph(cores: int, seed: int = 0) -> Graph:
    """A graph of ``cores`` random cores (mesh positions row by row) and one output."""
    rng = np.random.default_rng(seed)
    n, a = hw.NEURONS_PER_CORE, hw.AXONS_PER_CORE
    graph = Graph(attrs={"window": 15, "levels": 16})
    for k in range(cores):
        graph.add(
            Core(
                name=f"core{k}",
                x=k % hw.CORES_PER_CHIP_SIDE,
                y=k // hw.CORES_PER_CHIP_SIDE,
                axon_types=rng.integers(0, hw.AXON_TYPES, a),
                crossbar=rng.random((a, n)) < 0.25,
                weights=rng.integers(hw.WEIGHT_MIN, hw.WEIGHT_MAX + 1, (n, hw.AXON_TYPES)),
                alpha=rng.integers(1, 1000, n),
                leak=rng.integers(-8, 9, n),
                beta=np.zeros(n),
                kappa=np.ones(n),
                reset_mode=np.full(n, hw.RESET_LINEAR),
                reset=np.zeros(n),
                v0=np.zeros(n),
                tm=np.zeros(n),
                leak_reversal=np.zeros(n),
                stoch_leak=np.zeros(n),
                stoch_synapse=np.zeros(n),
                dest_core=rng.integers(-1, cores, n),
                dest_axon=rng.integers(0, a, n),
                delay=rng.integers(hw.DELAY_MIN, hw.DELAY_MAX + 1, n),
                seed=k + 1,
            )
        )
    lines = np.stack([np.zeros(10, int), np.arange(10)], axis=1)
    graph.add(CoreOutput(name="y", lines=lines))
    return graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=hw.CORES_PER_CHIP)
    args = parser.parse_args()
    graph = chip_graph(args.cores)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    text = print_ir(graph)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    back = parse_ir(text, "chip.nsir")
    cpu2, wall2 = time.process_time(), time.perf_counter()
    if not back.same_as(graph):
        raise SystemExit("round trip failed: the parsed graph differs from the printed one")
    lines = text.count("\n")
    arrays = sum(v.nbytes for n in graph for v in vars(n).values() if isinstance(v, np.ndarray))
    print_s, parse_s = wall1 - wall0, wall2 - wall1
    result = {
        "benchmark": "ir_text_scale",
        "cores": args.cores,
        "mbytes": round(len(text) / 1e6, 1),
        "lines": lines,
        "array_mbytes": round(arrays / 1e6, 1),
        "file_limit_used": round(arrays / file_bytes_limit(len(text)), 3),
        "print_s": round(print_s, 2),
        "parse_s": round(parse_s, 2),
        "total_s": round(print_s + parse_s, 2),
        "print_cpu_s": round(cpu1 - cpu0, 2),
        "parse_cpu_s": round(cpu2 - cpu1, 2),
        "parse_lines_per_s": round(lines / parse_s),
        "print_lines_per_s": round(lines / print_s),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
