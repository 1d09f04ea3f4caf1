"""Cross-simulator check: snnTorch networks exported with snnTorch's own ``export_to_nir``,
imported by nsc (``nsc.nir.import_nir``), run by nsc's reference interpreter and by the Cython
runtime on the same input spike trains as snnTorch's own simulation.

Per network: NIR nodes, neurons, cores, whether every layer's spike train is identical step for
step, the worst layer's spike-count correlation and agreement, and whether the runtime's output
equals snnTorch's. The last line is one JSON object ``{"networks": [...]}``.

Run: ``PYTHONPATH=.:runtime .venv/bin/python benchmarks/nir_peers.py``
"""

from __future__ import annotations

import itertools
import json
import warnings
from typing import Any

import numpy as np
import snntorch as snn
import torch
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir

import nsc
from nsc.nir import import_nir
from nsc.nir.crosscheck import compare, population_spikes

STEPS, BATCH = 60, 8


def _leaky(n: int, thr: float, beta: float, reset: str, output: bool) -> snn.Leaky:
    return snn.Leaky(
        beta=torch.full((n,), beta),
        threshold=torch.full((n,), thr),
        init_hidden=True,
        reset_mechanism=reset,
        output=output,
    )


def _int_weights(lin: torch.nn.Linear, lo: int = -3, hi: int = 5) -> None:
    with torch.no_grad():
        lin.weight.copy_(torch.randint(lo, hi, lin.weight.shape).float())
        if lin.bias is not None:
            lin.bias.copy_(torch.randint(-1, 2, lin.bias.shape).float())


def feedforward(
    sizes: list[int],
    thresholds: list[float],
    reset: str,
    beta: float = 1.0,
    seed: int = 0,
    synaptic: float | None = None,
) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        lin = torch.nn.Linear(n_in, n_out, bias=k % 2 == 1)
        _int_weights(lin)
        last = k == len(sizes) - 2
        if synaptic is None:
            layers += [lin, _leaky(n_out, thresholds[k], beta, reset, last)]
        else:
            syn = snn.Synaptic(
                alpha=torch.full((n_out,), synaptic),
                beta=torch.full((n_out,), beta),
                threshold=torch.full((n_out,), thresholds[k]),
                init_hidden=True,
                reset_mechanism=reset,
                output=last,
            )
            layers += [lin, syn]
    return torch.nn.Sequential(*layers)


def recurrent(n_in: int, n: int, thr: float, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    rl = snn.RLeaky(
        beta=torch.ones(n),
        threshold=torch.full((n,), thr),
        linear_features=n,
        init_hidden=True,
        reset_mechanism="subtract",
        output=True,
    )
    lin = torch.nn.Linear(n_in, n, bias=False)
    _int_weights(lin, -2, 4)
    _int_weights(rl.recurrent, -2, 3)
    return torch.nn.Sequential(lin, rl)


def run_snntorch(net: torch.nn.Sequential, x: np.ndarray) -> list[np.ndarray]:
    """Spikes of every spiking layer, (batch, steps, n), from snnTorch's own step loop."""
    snn_utils.reset(net)
    layers = [m for m in net if isinstance(m, snn.Leaky | snn.RLeaky | snn.Synaptic)]
    seen: dict[int, list[np.ndarray]] = {i: [] for i in range(len(layers))}

    def hook(i: int) -> Any:
        def f(_m: Any, _i: Any, out: Any) -> None:
            spk = out[0] if isinstance(out, tuple) else out
            seen[i].append(spk.detach().numpy().copy())

        return f

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(layers)]
    with torch.no_grad():
        for t in range(x.shape[1]):
            net(torch.tensor(x[:, t], dtype=torch.float32))
    for h in handles:
        h.remove()
    return [np.stack(v, axis=1).astype(np.int64) for v in seen.values()]


def check(name: str, net: torch.nn.Sequential, n_in: int, reset: str, seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # snnTorch divides by 1 - beta = 0 for beta = 1
        nir_graph = export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])
    graph, report = import_nir(nir_graph, reset=reset)
    rng = np.random.default_rng(seed)
    x = (rng.random((BATCH, STEPS, n_in)) < 0.5).astype(np.int64)
    theirs = run_snntorch(net, x)
    ours = population_spikes(graph, report, x)
    layers = [k for k in report.names if k in ours]
    per_layer = [compare(ours[k], t) for k, t in zip(layers, theirs, strict=True)]
    compiled = nsc.compile(graph)
    agreement = nsc.verify(compiled, x).agreement
    runtime_out = compiled.run(x)
    corrs = [a.spike_count_correlation for a in per_layer]
    row = {
        "name": name,
        "source": "snntorch",
        "nir_nodes": len(nir_graph.nodes),
        "neurons": sum(p.count for p in graph.of_type(nsc.ir.Neurons)),
        "cores": compiled.n_cores,
        "import_exact": report.exact,
        "identical": all(a.identical for a in per_layer),
        "spike_count_correlation": min((c for c in corrs if c is not None), default=None),
        "output_agreement": per_layer[-1].agreement,
        "runtime_equals_snntorch": bool(np.array_equal(runtime_out, theirs[-1])),
        "runtime_vs_interpreter": agreement,
        "layers": {k: a.to_dict() for k, a in zip(layers, per_layer, strict=True)},
    }
    return row


def main() -> None:
    nets = [
        ("ff-subtract-6-10-4", feedforward([6, 10, 4], [2.0, 1.0], "subtract", seed=1), "subtract"),
        ("ff-zero-6-12-8-3", feedforward([6, 12, 8, 3], [3.0, 2.0, 1.0], "zero", seed=2), "nir"),
        (
            "ff-subtract-32-64-32-10",
            feedforward([32, 64, 32, 10], [6.0, 4.0, 3.0], "subtract", seed=3),
            "subtract",
        ),
        ("rleaky-subtract-4-12", recurrent(4, 12, 2.0, seed=4), "subtract"),
        (
            "synaptic-a0-subtract-6-10-4",
            feedforward([6, 10, 4], [2.0, 1.0], "subtract", seed=6, synaptic=0.0),
            "subtract",
        ),
        (
            "ff-subtract-read-as-written",
            feedforward([6, 10, 4], [2.0, 1.0], "subtract", seed=1),
            "nir",
        ),
        ("ff-decay0.8-zero-6-10-4", feedforward([6, 10, 4], [2.0, 1.0], "zero", 0.8, 5), "nir"),
        (
            "synaptic-a0.5-subtract-6-10-4",
            feedforward([6, 10, 4], [2.0, 1.0], "subtract", seed=7, synaptic=0.5),
            "subtract",
        ),
    ]
    rows = []
    head = f"{'network':30} {'nodes':>5} {'neur':>5} {'cores':>5} {'exact':>6} {'ident':>6}"
    print(head + f" {'corr':>6} {'agree':>7} {'rt=snn':>6}")
    for name, net, reset in nets:
        n_in = next(m for m in net if isinstance(m, torch.nn.Linear)).in_features
        row = check(name, net, n_in, reset, seed=len(rows))
        rows.append(row)
        corr = row["spike_count_correlation"]
        print(
            f"{name:30} {row['nir_nodes']:>5} {row['neurons']:>5} {row['cores']:>5} "
            f"{row['import_exact']!s:>6} {row['identical']!s:>6} "
            f"{(f'{corr:.3f}' if corr is not None else '-'):>6} "
            f"{row['output_agreement']:>7.4f} {row['runtime_equals_snntorch']!s:>6}"
        )
        if not row["identical"]:
            for layer, a in row["layers"].items():
                c = a["spike_count_correlation"]
                print(
                    f"    layer {layer}: identical {a['identical']}, spike-count correlation "
                    f"{'-' if c is None else f'{c:.3f}'}, agreement {a['agreement']:.4f}, "
                    f"spikes nsc {a['spikes_nsc']} / snnTorch {a['spikes_peer']}"
                )
    keys = (
        "name",
        "source",
        "neurons",
        "cores",
        "identical",
        "spike_count_correlation",
        "output_agreement",
    )
    print(json.dumps({"networks": [{k: r[k] for k in keys} for r in rows]}))


if __name__ == "__main__":
    main()
