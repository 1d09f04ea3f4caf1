"""Gated vs Elman recurrent units on the cores (issue 14), small version: a synthetic memory
task, post-training quantization only (no nsc.constrain yet), one core.

Task ``recall``: a sequence of ``--steps`` activity vectors over ``--symbols`` input lines;
step 0 carries one symbol (activity 15 on its line), every later step random distractor
activities in ``[0, --noise]`` on all lines; the class is the symbol of step 0, read at the
last step. Chance is ``1 / symbols``.

Per cell (``RNN`` = Elman with ReLU, ``GRU``, ``LSTM``): train the float model (Adam, fixed
seed, single torch thread), compile it with ``nsc.compile`` (quantize calibrated on training
inputs; GRU/LSTM become the hardware-native gated unit of docs/gated-units.md), run the test
set on the runtime, and print float accuracy, spiking accuracy, agreement between the integer
reference and the runtime (``nsc.verify``), cores and power (two models, truenorth.md). The
last line is one JSON object ``{"results": [{"task", "cell", "cores", "float_accuracy",
"spiking_accuracy", "agreement", ...}]}``.

    PYTHONPATH=.:runtime .venv/bin/python benchmarks/gated.py [--steps 50] [--hidden 16]
        [--cells RNN,GRU,LSTM] [--epochs 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np
import torch

import nsc
from nsc_runtime import hw


def recall_data(
    n: int, steps: int, symbols: int, noise: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n, steps, symbols)`` of integer activities and labels ``(n,)``."""
    y = rng.integers(0, symbols, n)
    x = rng.integers(0, noise + 1, (n, steps, symbols)).astype(np.float32)
    x[:, 0] = 0
    x[np.arange(n), 0, y] = 15
    return x, y


class Net(torch.nn.Module):
    """One recurrent layer (Elman ReLU, GRU or LSTM) and a linear readout of the last step."""

    def __init__(self, cell: str, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()
        if cell == "RNN":
            self.rnn: torch.nn.Module = torch.nn.RNN(
                n_in, hidden, nonlinearity="relu", batch_first=True
            )
        else:
            self.rnn = getattr(torch.nn, cell)(n_in, hidden, batch_first=True)
        self.out = torch.nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o, _ = self.rnn(x)
        return self.out(o[:, -1])


def train(model: Net, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.tensor(x / 15.0), torch.tensor(y)
    scale_in(model, 1.0)
    for _ in range(epochs):
        idx = torch.randint(0, len(x), (64,))
        loss = torch.nn.functional.cross_entropy(model(xt[idx].float()), yt[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    scale_in(model, 1.0 / 15.0)  # the trained model now reads activities in [0, 15]


def scale_in(model: Net, factor: float) -> None:
    """Multiply the first layer's input weights (the model trains on x/15, runs on x)."""
    with torch.no_grad():
        model.rnn.weight_ih_l0.mul_(factor)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(-1) == y).mean())


def run_cell(cell: str, args: Any, data: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = Net(cell, args.symbols, args.hidden, args.symbols).float()
    start = time.perf_counter()
    train(model, data["x_train"], data["y_train"], args.epochs, args.seed)
    model.eval()
    x_test, y_test = data["x_test"], data["y_test"]
    with torch.no_grad():
        float_acc = accuracy(model(torch.tensor(x_test)).numpy(), y_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = nsc.compile(
            model, data["x_train"][:256], effort="fast", fidelity=False, time_limit=5
        )
    ref = compiled.reference(x_test, last=True)
    out, stats = compiled.run(x_test, stats=True, last=True)
    report = nsc.verify(compiled, x_test[: args.verify])
    cores = compiled.n_cores
    ticks = int(getattr(stats, "ticks", 0) or 0)
    events = int(getattr(stats, "synaptic_events", 0) or 0)
    return {
        "task": f"recall{args.steps}",
        "cell": cell if cell != "RNN" else "elman",
        "cores": cores,
        "float_accuracy": round(float_acc, 4),
        "spiking_accuracy": round(accuracy(out, y_test), 4),
        "reference_accuracy": round(accuracy(ref, y_test), 4),
        "agreement": report.agreement,
        "power_uw_pro_rata": round(hw.power_pro_rata_w(cores) * 1e6, 1),
        "power_uw_event_model": round(
            hw.power_event_model_w(cores, events, ticks) * 1e6 if ticks else float("nan"), 1
        ),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--noise", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--cells", default="RNN,GRU,LSTM")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--verify", type=int, default=100, help="test inputs nsc.verify runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    x_train, y_train = recall_data(args.train, args.steps, args.symbols, args.noise, rng)
    x_test, y_test = recall_data(args.test, args.steps, args.symbols, args.noise, rng)
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    results = []
    for cell in args.cells.split(","):
        r = run_cell(cell, args, data)
        print(
            f"{r['task']:<10} {r['cell']:<6} cores {r['cores']}  float {r['float_accuracy']:.3f}"
            f"  spiking {r['spiking_accuracy']:.3f}  agreement {r['agreement']:.4f}"
            f"  {r['power_uw_pro_rata']} / {r['power_uw_event_model']} uW  ({r['seconds']} s)",
            flush=True,
        )
        results.append(r)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
