"""Gated vs Elman recurrent units on the cores (issue 14), small version: synthetic memory
tasks, one core, two ways to the integer network.

Tasks (``--task``): ``recall``: ``--steps`` activity vectors over ``--symbols`` lines; step 0
carries one symbol (activity 15 on its line), every later step random distractor activities in
``[0, --noise]``; the class is the symbol of step 0, read at the last step. ``overwrite``: a
marker line besides; 1-3 marked steps among the first 10 show a symbol with the marker, other
steps a distractor symbol (probability 0.3) and noise; the class is the symbol of the *last*
marked step (storing must be selective, a new mark must replace the memory), recalled at least
``steps - 10`` steps later. Chance is ``1 / symbols``.

Two ways, per cell:

- ``PTQ`` (``--cells RNN,GRU,LSTM``): train the float torch model (Adam, fixed seed, one torch
  thread), compile it with ``nsc.compile`` (quantize calibrated on training inputs; GRU/LSTM
  become the hardware-native gated unit of docs/gated-units.md through their float mapping);
- ``exact`` (``--exact elman,gated``): train the integer layer whose forward *is* the per-tick
  function of the neurons nsc emits (``ExactCell``; straight-through rounding, a per-window
  rate proxy for the gradient; a stand-in for ``nsc.constrain``, which does not take gated
  layers yet), build its integer IR (``nsc.ops.gated.add_hgu`` for the gated layer) and
  compile that. ``trained = reference`` is the fraction of test inputs whose trained state
  counts equal the compiled integer network's, bit for bit.

Printed per run: float / constrained accuracy, spiking accuracy (the runtime), agreement
between the integer reference and the runtime (``nsc.verify``), cores and power (two models,
truenorth.md). The last line is one JSON object ``{"results": [{"task", "cell", "cores",
"float_accuracy" | "constrained_accuracy", "spiking_accuracy", "agreement", ...}]}``.

    PYTHONPATH=.:runtime .venv/bin/python benchmarks/gated.py [--task recall|overwrite]
        [--steps 50] [--hidden 16] [--cells RNN,GRU,LSTM] [--exact elman,gated]
        [--epochs 1500] [--exact-epochs 300] [--seed 0]
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
from nsc.ir.interpret import run_trace
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


def overwrite_data(
    n: int, steps: int, symbols: int, noise: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Task ``overwrite``: ``symbols`` lines and a marker line. One to three *marked* steps
    among the first 10 show a symbol (activity 15) with the marker (15); other steps show a
    distractor symbol without the marker with probability 0.3, and noise in ``[0, noise]``;
    the class is the symbol of the *last* marked step (so storing must be selective and a new
    mark must replace the old memory), recalled at least ``steps - 10`` steps later."""
    x = rng.integers(0, noise + 1, (n, steps, symbols + 1)).astype(np.float32)
    y = np.zeros(n, np.int64)
    for b in range(n):
        for t in np.flatnonzero(rng.random(steps) < 0.3):
            x[b, t, rng.integers(0, symbols)] = 15
        marks = np.sort(rng.choice(10, rng.integers(1, 4), replace=False))
        for t in marks:
            x[b, t] = rng.integers(0, noise + 1, symbols + 1)
            s = rng.integers(0, symbols)
            x[b, t, s] = x[b, t, symbols] = 15
            y[b] = s
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
    model = Net(cell, data["x_train"].shape[2], args.hidden, args.symbols).float()
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
        "task": f"{args.task}{args.steps}",
        "cell": cell if cell != "RNN" else "elman",
        "training": "float + PTQ",
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


# ---------------------------------------------------------------------------------------------
# exact training on the per-tick function (a small stand-in for nsc.constrain, issue 14)


def ste(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Round and clip with a straight-through gradient."""
    return x + (torch.clamp(torch.round(x), lo, hi) - x).detach()


class ExactCell(torch.nn.Module):
    """An integer spiking recurrent layer whose forward *is* the per-tick function of the
    neurons nsc emits (float tensors holding integers, exact), with a per-window rate proxy
    for the gradient (straight-through: the value is exact, the gradient the proxy's).

    ``gated=False``: the Elman layer of quantize (one ReLU-like unit per hidden unit, its
    spikes fed back one window later). ``gated=True``: the hardware-native gated unit of
    docs/gated-units.md (keep gate ``f``, write unit ``u``, state ``h = u or (f and h)``;
    proxy for a window's state count: ``max(u, min(f, h))``, exact for bursts)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, gated: bool, window: int) -> None:
        super().__init__()
        self.gated, self.window, self.hidden = gated, window, hidden
        units = 2 if gated else 1
        g = torch.Generator().manual_seed(0)
        self.w_x = torch.nn.Parameter(torch.empty(units, hidden, n_in).uniform_(-3, 3, generator=g))
        self.w_h = torch.nn.Parameter(
            torch.empty(units, hidden, hidden).uniform_(-1.5, 1.5, generator=g)
        )
        self.alpha = torch.nn.Parameter(torch.full((units, hidden), 6.0))
        self.leak = torch.nn.Parameter(torch.zeros(units, hidden))
        with torch.no_grad():  # start by remembering (as an LSTM's forget-gate bias of 1)
            if gated:
                self.leak[0] = self.alpha[0]  # the keep gate fires at every tick
                self.w_h[0] = 0.0
            else:
                self.w_h[0] += torch.diag(self.alpha[0])  # a unit's spikes re-fire it
        self.readout = torch.nn.Linear(hidden, n_out)

    def ints(self) -> tuple[torch.Tensor, ...]:
        return (
            ste(self.w_x, -8, 7),
            ste(self.w_h, -8, 7),
            ste(self.alpha, 1, 255),
            ste(self.leak, -255, 255),
        )

    @torch.no_grad()
    def exact_counts(self, x: torch.Tensor) -> torch.Tensor:
        """Spike counts per window ``(windows, units + gated, batch, hidden)`` of the units
        (and of the state for the gated layer): the per-tick equations, tick by tick."""
        w_x, w_h, alpha, leak = (t.detach() for t in self.ints())
        batch, steps, _ = x.shape
        win, hid = self.window, self.hidden
        units = w_x.shape[0]
        windows = steps + 1 if self.gated else steps
        v = torch.zeros(units, batch, hid)
        prev = torch.zeros(units, win, batch, hid)  # unit spikes of the previous window
        state = torch.zeros(win, batch, hid)  # the state's (gated) / unit's (Elman) spikes
        out = []
        for w in range(windows):
            xw = x[:, w] if w < steps else torch.zeros_like(x[:, 0])
            read = state  # the units read the state's spikes of window w-1 (delay W)
            if self.gated:  # h[w,k] = u[w-1,k] or (f[w-1,k] and h[w-1,k])
                state = torch.clamp(prev[1] + prev[0] * state, max=1.0)
            spikes = torch.zeros(units, win, batch, hid)
            for k in range(win):
                burst = (xw > k).float()
                drive = torch.einsum("uhi,bi->ubh", w_x, burst)
                drive = drive + torch.einsum("uhj,bj->ubh", w_h, read[k])
                v = v + drive + leak[:, None, :]
                fire = (v >= alpha[:, None, :]).float()
                v = torch.clamp(v - fire * alpha[:, None, :], min=0.0)
                spikes[:, k] = fire
            if not self.gated:
                state = spikes[0]  # read back one window later (delay W)
            prev = spikes
            counts = spikes.sum(1)
            if self.gated:
                counts = torch.cat([counts, state.sum(0)[None]], 0)
            out.append(counts)
        return torch.stack(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the last step (exact values, proxy gradients)."""
        exact = self.exact_counts(x)
        w_x, w_h, alpha, leak = self.ints()
        batch, steps, _ = x.shape
        win = float(self.window)
        units_prev: torch.Tensor | None = None
        state = torch.zeros(batch, self.hidden)  # state count of window w-1
        for w in range(exact.shape[0]):
            xw = x[:, w] if w < steps else torch.zeros_like(x[:, 0])
            read = state
            if self.gated and units_prev is not None:
                f, u = units_prev
                proxy = torch.maximum(u, torch.minimum(f, state))
                state = proxy + (exact[w, 2] - proxy).detach()
            drive = torch.einsum("uhi,bi->ubh", w_x, xw) + torch.einsum("uhj,bj->ubh", w_h, read)
            rate = torch.clamp((drive + win * leak[:, None, :]) / alpha[:, None, :], 0.0, win)
            units = rate + (exact[w, : rate.shape[0]] - rate).detach()
            if self.gated:
                units_prev = units
            else:
                state = units[0]
        return self.readout(state)

    def last_state(self, x: torch.Tensor) -> np.ndarray:
        """The exact state count the readout reads (the last step's)."""
        exact = self.exact_counts(x)
        return exact[-1, 2 if self.gated else 0].numpy()

    def integer_graph(self, n_in: int) -> tuple[nsc.ir.Graph, float]:
        """The integer IR of this layer and an integer readout (scale returned)."""
        from nsc.ir import Graph, Input, Neurons, Output, QLinear, SpikeCount, Synapses
        from nsc.ops.gated import IntUnit, add_hgu

        w_x, w_h, alpha, leak = (t.detach().numpy().astype(np.int64) for t in self.ints())
        levels = self.window + 1
        g = Graph(
            "gated" if self.gated else "elman",
            attrs={"level": "integer", "readout": "last", "levels": levels, "window": self.window},
        )
        g.add(Input("x", features=n_in, levels=levels))
        if self.gated:
            units = [IntUnit(w_x[i], w_h[i], alpha[i], leak[i]) for i in range(2)]
            source = add_hgu(g, "hgu", "x", units[0], units[1])
        else:
            g.add(Neurons.relu("rnn", alpha=alpha[0], leak=leak[0]))
            zeros = np.zeros(n_in, np.int64)
            g.add(Synapses("rnn_in", source="x", target="rnn", weight=w_x[0], delay=zeros))
            ones = np.ones(self.hidden, np.int64)
            g.add(Synapses("rnn_rec", source="rnn", target="rnn", weight=w_h[0], delay=ones))
            source = "rnn"
        g.add(SpikeCount("count", source=source))
        weight = self.readout.weight.detach().numpy()
        scale = 127.0 / max(float(np.abs(weight).max()), 1e-9)
        bias = self.readout.bias.detach().numpy()
        g.add(
            QLinear(
                "out", source="count", weight=np.rint(weight * scale), bias=np.rint(bias * scale)
            )
        )
        g.add(Output("y", source="out"))
        g.verify()
        return g, scale


def run_exact(cell_name: str, args: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Train the exact integer layer, compile its IR, run and verify it."""
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    n_in = data["x_train"].shape[2]
    model = ExactCell(n_in, args.hidden, args.symbols, cell_name == "gated", 15)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_train, y_train = torch.tensor(data["x_train"]), torch.tensor(data["y_train"])
    start = time.perf_counter()
    for _ in range(args.exact_epochs):
        idx = torch.randint(0, len(x_train), (args.batch,))
        loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    graph, _ = model.integer_graph(n_in)
    x_test, y_test = data["x_test"], data["y_test"]
    with torch.no_grad():
        exact_logits = model(torch.tensor(x_test)).numpy()
    compiled = nsc.compile(graph, x_test[:8], effort="fast", fidelity=False, time_limit=5)
    ref = compiled.reference(x_test, last=True)
    out, stats = compiled.run(x_test, stats=True, last=True)
    report = nsc.verify(compiled, x_test[: args.verify])
    cores = compiled.n_cores
    # the trained model's exact forward is the compiled network: the same state counts
    counts = run_trace(compiled.stages["insert-delays"], x_test).values["count"][:, -1]
    same = float((counts == model.last_state(torch.tensor(x_test))).all(-1).mean())
    return {
        "task": f"{args.task}{args.steps}",
        "cell": cell_name,
        "training": "exact",
        "cores": cores,
        "constrained_accuracy": round(accuracy(exact_logits, y_test), 4),
        "spiking_accuracy": round(accuracy(out, y_test), 4),
        "reference_accuracy": round(accuracy(ref, y_test), 4),
        "trained_equals_reference": same,
        "agreement": report.agreement,
        "power_uw_pro_rata": round(hw.power_pro_rata_w(cores) * 1e6, 1),
        "power_uw_event_model": round(
            hw.power_event_model_w(cores, int(stats.synaptic_events), int(stats.ticks)) * 1e6, 1
        ),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("recall", "overwrite"), default="recall")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--noise", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--cells", default="RNN,GRU,LSTM")
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--verify", type=int, default=100, help="test inputs nsc.verify runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact", default="elman,gated", help="layers trained exactly ('' = none)")
    parser.add_argument("--exact-epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    make = recall_data if args.task == "recall" else overwrite_data
    x_train, y_train = make(args.train, args.steps, args.symbols, args.noise, rng)
    x_test, y_test = make(args.test, args.steps, args.symbols, args.noise, rng)
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    results = []
    for cell in filter(None, args.cells.split(",")):
        r = run_cell(cell, args, data)
        print(
            f"{r['task']:<10} {r['cell']:<6} PTQ    cores {r['cores']}  float "
            f"{r['float_accuracy']:.3f}  spiking {r['spiking_accuracy']:.3f}  agreement "
            f"{r['agreement']:.4f}  {r['power_uw_pro_rata']} / {r['power_uw_event_model']} uW"
            f"  ({r['seconds']} s)",
            flush=True,
        )
        results.append(r)
    for cell in filter(None, args.exact.split(",")):
        r = run_exact(cell, args, data)
        print(
            f"{r['task']:<10} {r['cell']:<6} exact  cores {r['cores']}  constrained "
            f"{r['constrained_accuracy']:.3f}  spiking {r['spiking_accuracy']:.3f}  agreement "
            f"{r['agreement']:.4f}  trained = reference {r['trained_equals_reference']:.4f}  "
            f"{r['power_uw_pro_rata']} / {r['power_uw_event_model']} uW  ({r['seconds']} s)",
            flush=True,
        )
        results.append(r)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
