"""Compile random Elman RNNs of growing size end to end and check them with nsc.verify.

Prints one line per network, then as the last line one JSON object
{"results": [{inputs, hidden, steps, cores, lower_bound, placement, compile_s, verify_s,
agreement}, ...]}. Usage: python benchmarks/compile_scale.py [--sizes 300x64,20x300,300x512]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import nsc


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
    parser.add_argument("--sizes", default="47x16,300x64,20x300,300x512")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    results = []
    for size in args.sizes.split(","):
        n_in, hidden = (int(v) for v in size.split("x"))
        model = Elman(n_in, hidden)
        x = rng.integers(0, 16, size=(args.batch, args.steps, n_in))
        t0 = time.perf_counter()
        compiled = nsc.compile(model, x.astype(np.float64), time_limit=10)
        t1 = time.perf_counter()
        report = nsc.verify(compiled, x)
        t2 = time.perf_counter()
        place = compiled.placement.report
        row = {
            "inputs": n_in,
            "hidden": hidden,
            "steps": args.steps,
            "cores": compiled.n_cores,
            "lower_bound": place.lower_bound,
            "placement": place.solver_status,
            "compile_s": round(t1 - t0, 2),
            "verify_s": round(t2 - t1, 2),
            "agreement": report.agreement,
        }
        results.append(row)
        print(row, flush=True)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
