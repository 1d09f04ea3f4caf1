"""Cross-simulator check: NIR networks from peers no one here wrote, imported by nsc
(``nsc.nir.import_nir``), run by nsc's reference interpreter and by the Cython runtime on the same
input spike trains as the peer's own simulation.

- snnTorch networks exported with snnTorch's own ``export_to_nir``;
- networks built by hand with the ``nir`` package following NIR's recurrence convention (an edge
  closing a cycle carries the previous step): a two-layer recurrent network, compared with
  snnTorch's ``RLeaky`` built by hand with the same parameters, and a cycle through two
  populations, compared with a numpy simulation of NIR's equations (tests/nir/nirtest_reference.py);
- Rockpool networks (``LinearTorch``, ``LIFNeuronTorch``, ``ExpSynTorch`` readouts) exported with
  Rockpool's own ``to_nir``.

Per network: NIR nodes, neurons, cores, whether every layer's spike train (and a membrane
readout's values) is identical step for step, the worst layer's spike-count correlation and
the output agreement (spike entries, or the readout's argmax per step), and whether the runtime's
output equals the peer's. The last line is one JSON object ``{"networks": [...]}``.

Run: ``PYTHONPATH=.:runtime .venv/bin/python benchmarks/nir_peers.py``
"""

from __future__ import annotations

import itertools
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import nir
import numpy as np
import snntorch as snn
import torch
from rockpool.nn.combinators import Sequential as RockpoolSequential
from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LinearTorch
from rockpool.nn.modules.torch.nir import to_nir as rockpool_to_nir
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir

import nsc
from nsc.nir import import_nir
from nsc.nir.crosscheck import compare, population_spikes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "nir"))
from nirtest_reference import simulate  # NIR's equations in numpy

STEPS, BATCH = 60, 8
torch.set_num_threads(1)


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


def evaluate(
    name: str,
    source: str,
    nir_graph: Any,
    x: np.ndarray,
    peer_layers: dict[str, np.ndarray],
    peer_out: np.ndarray,
    *,
    reset: str = "nir",
    dt: float = 1e-4,
) -> dict:
    """One row: ``peer_layers`` are the peer's spikes per NIR population node, ``peer_out`` its
    output (spikes, or a membrane readout's values)."""
    graph, report = import_nir(nir_graph, reset=reset, dt=dt)
    ours = population_spikes(graph, report, x)
    per_layer = {k: compare(ours[k], v) for k, v in peer_layers.items()}
    compiled = nsc.compile(graph)
    runtime_out = compiled.run(x)
    readout = bool(graph.of_type(nsc.ops.Membrane))
    out_ref = np.asarray(peer_out, np.float64)
    if readout:
        out_ours = np.asarray(runtime_out, np.float64)
        same_out = bool(np.array_equal(out_ours, out_ref))
        agreement = float((out_ours.argmax(-1) == out_ref.argmax(-1)).mean())
        readout_corr = float(np.corrcoef(out_ours.reshape(-1), out_ref.reshape(-1))[0, 1])
    else:
        same_out = bool(np.array_equal(runtime_out, peer_out))
        last = list(per_layer.values())[-1]
        agreement, readout_corr = last.agreement, None
    corrs = [a.spike_count_correlation for a in per_layer.values()]
    return {
        "name": name,
        "source": source,
        "nir_nodes": len(nir_graph.nodes),
        "neurons": sum(p.count for p in graph.of_type(nsc.ir.Neurons)),
        "cores": compiled.n_cores,
        "import_exact": report.exact,
        "identical": all(a.identical for a in per_layer.values()) and same_out,
        "spike_count_correlation": min((c for c in corrs if c is not None), default=None),
        "output_agreement": agreement,
        "readout": readout,
        "readout_correlation": readout_corr,
        "runtime_equals_peer": same_out,
        "runtime_vs_interpreter": nsc.verify(compiled, x).agreement,
        "layers": {k: a.to_dict() for k, a in per_layer.items()},
    }


def _inputs(seed: int, n_in: int, steps: int = STEPS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((BATCH, steps, n_in)) < 0.5).astype(np.int64)


def check_snntorch(name: str, net: torch.nn.Sequential, n_in: int, reset: str, seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # snnTorch divides by 1 - beta = 0 for beta = 1
        nir_graph = export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])
    x = _inputs(seed, n_in)
    theirs = run_snntorch(net, x)
    _, report = import_nir(nir_graph, reset=reset)
    names = [k for k, v in report.names.items() if v in report.lags]
    layers = dict(zip(names, theirs, strict=True))
    return evaluate(name, "snntorch", nir_graph, x, layers, theirs[-1], reset=reset)


# -- recurrent networks built by hand with the nir package ----------------------------------


def _if(n: int, thr: float) -> nir.IF:
    return nir.IF(r=np.ones(n), v_threshold=np.full(n, thr), v_reset=np.zeros(n))


def _io(n: int, out: bool = False) -> Any:
    if out:
        return nir.Output(output_type={"output": np.array([n])})
    return nir.Input(input_type={"input": np.array([n])})


def hand_recurrent(seed: int) -> dict:
    """input -> Affine -> if1 (cycle if1 -> Affine v1 -> if1) -> Linear -> if2 (cycle through a
    diagonal Linear v2) -> output, reset to 0: the previous step's spikes come back through
    each cycle (NIR's convention). The peer: snnTorch's RLeaky (beta 1, reset to zero without
    delay, ``reset_delay=False``) built by hand with the same weights."""
    rng = np.random.default_rng(seed)
    n_in, n1, n2 = 4, 12, 5
    w1, b1 = rng.integers(-2, 4, (n1, n_in)).astype(float), rng.integers(-1, 2, n1).astype(float)
    v1, c1 = rng.integers(-2, 3, (n1, n1)).astype(float), rng.integers(-1, 2, n1).astype(float)
    w2 = rng.integers(-2, 4, (n2, n1)).astype(float)
    v2 = rng.integers(-2, 2, n2).astype(float)
    nodes = {
        "input": _io(n_in),
        "w1": nir.Affine(weight=w1, bias=b1),
        "if1": _if(n1, 2.0),
        "v1": nir.Affine(weight=v1, bias=c1),
        "w2": nir.Linear(weight=w2),
        "if2": _if(n2, 1.0),
        "v2": nir.Linear(weight=np.diag(v2)),
        "output": _io(n2, out=True),
    }
    edges = [
        ("input", "w1"),
        ("w1", "if1"),
        ("if1", "v1"),
        ("v1", "if1"),
        ("if1", "w2"),
        ("w2", "if2"),
        ("if2", "v2"),
        ("v2", "if2"),
        ("if2", "output"),
    ]
    g = nir.NIRGraph(nodes=nodes, edges=edges)

    def rleaky(n: int, thr: float, **kw: Any) -> snn.RLeaky:
        return snn.RLeaky(
            beta=torch.ones(n),
            threshold=torch.full((n,), thr),
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,
            **kw,
        )

    r1 = rleaky(n1, 2.0, linear_features=n1)
    r2 = rleaky(n2, 1.0, V=torch.tensor(v2, dtype=torch.float32), all_to_all=False, output=True)
    l1, l2 = torch.nn.Linear(n_in, n1), torch.nn.Linear(n1, n2, bias=False)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor(w1))
        l1.bias.copy_(torch.tensor(b1))
        l2.weight.copy_(torch.tensor(w2))
        r1.recurrent.weight.copy_(torch.tensor(v1))
        r1.recurrent.bias.copy_(torch.tensor(c1))
    net = torch.nn.Sequential(l1, r1, l2, r2)
    x = _inputs(seed, n_in)
    theirs = run_snntorch(net, x)
    ref = simulate(g, x)["output"].astype(np.int64)
    assert np.array_equal(ref, theirs[1]), "snnTorch's RLeaky and NIR's equations differ"
    layers = {"if1": theirs[0], "if2": theirs[1]}
    return evaluate("hand-recurrent-4-12-5", "nir by hand / snntorch RLeaky", g, x, layers, ref)


def hand_cycle(seed: int) -> dict:
    """A cycle through two populations (a -> b -> a, b a memoryless Threshold with biases):
    2 ticks per step on the cores. No peer simulates NIR graphs of this shape here, so the
    reference is a numpy simulation of NIR's equations."""
    rng = np.random.default_rng(seed)
    nodes = {
        "input": _io(3),
        "f": nir.Affine(
            weight=rng.integers(-1, 4, (6, 3)).astype(float), bias=np.array([1.0, 0, -1, 0, 1, 0])
        ),
        "a": _if(6, 2.0),
        "ab": nir.Affine(
            weight=rng.integers(-3, 4, (4, 6)).astype(float), bias=np.array([1.0, -1, 2, 0])
        ),
        "b": nir.Threshold(threshold=np.array([0.0, 0.5, 1.0, -1.0])),
        "ba": nir.Linear(weight=rng.integers(-2, 3, (6, 4)).astype(float)),
        "output": _io(4, out=True),
    }
    edges = [("input", "f"), ("f", "a"), ("a", "ab"), ("ab", "b"), ("b", "ba"), ("ba", "a")]
    g = nir.NIRGraph(nodes=nodes, edges=[*edges, ("b", "output")])
    x = _inputs(seed, 3)
    ref = simulate(g, x)["output"].astype(np.int64)
    return evaluate("hand-cycle-if-threshold", "nir by hand / numpy NIR", g, x, {"b": ref}, ref)


# -- Rockpool -----------------------------------------------------------------------------


def rockpool_net(
    sizes: list[int], thresholds: list[float], seed: int, tau: float = np.inf, readout: float = 0
) -> RockpoolSequential:
    """LinearTorch + LIFNeuronTorch layers (one spike per step at most); with ``readout`` an
    ExpSynTorch of that time constant (``inf``: an integrator) after a last LinearTorch."""
    torch.manual_seed(seed)
    mods: list[Any] = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = torch.randint(-3, 5, (n_in, n_out)).float()
        if k % 2:
            b = torch.randint(-1, 2, (n_out,)).float()
            mods.append(LinearTorch((n_in, n_out), weight=w, bias=b, has_bias=True))
        else:
            mods.append(LinearTorch((n_in, n_out), weight=w, has_bias=False))
        if readout and k == len(sizes) - 2:
            mods.append(ExpSynTorch(n_out, tau=torch.full((n_out,), float(readout))))
        else:
            mods.append(
                LIFNeuronTorch(
                    n_out,
                    tau_mem=torch.full((n_out,), float(tau)),
                    threshold=torch.full((n_out,), thresholds[k]),
                    max_spikes_per_dt=1,
                )
            )
    return RockpoolSequential(*mods)


def check_rockpool(
    name: str, net: RockpoolSequential, n_in: int, seed: int, steps: int = STEPS
) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nirtorch's deprecation of extract_nir_graph
        g = rockpool_to_nir(net)
    x = _inputs(seed, n_in, steps)
    net.reset_state()
    out, _, rec = net(torch.tensor(x, dtype=torch.float32), record=True)
    layers = {
        k[: -len("_output")]: v.detach().numpy().astype(np.int64)
        for k, v in rec.items()
        if k.endswith("LIFNeuronTorch_output")
    }
    peer_out = out.detach().numpy()
    if not any(isinstance(v, nir.LI) for v in g.nodes.values()):
        peer_out = peer_out.astype(np.int64)
    return evaluate(name, "rockpool", g, x, layers, peer_out, reset="subtract", dt=float(net[1].dt))


def main() -> None:
    snn_nets = [
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
    head = f"{'network':30} {'source':>10} {'nodes':>5} {'neur':>5} {'cores':>5} {'exact':>6}"
    print(head + f" {'ident':>6} {'corr':>6} {'agree':>7} {'rt=peer':>7}")

    def show(row: dict) -> None:
        rows.append(row)
        corr = row["spike_count_correlation"]
        print(
            f"{row['name']:30} {row['source'].split()[0]:>10} {row['nir_nodes']:>5} "
            f"{row['neurons']:>5} {row['cores']:>5} {row['import_exact']!s:>6} "
            f"{row['identical']!s:>6} {(f'{corr:.3f}' if corr is not None else '-'):>6} "
            f"{row['output_agreement']:>7.4f} {row['runtime_equals_peer']!s:>7}"
        )
        if row["readout"]:
            print(
                f"    readout: value correlation {row['readout_correlation']:.6f}, argmax "
                f"agreement {row['output_agreement']:.4f}"
            )
        if not row["identical"]:
            for layer, a in row["layers"].items():
                c = a["spike_count_correlation"]
                print(
                    f"    layer {layer}: identical {a['identical']}, spike-count correlation "
                    f"{'-' if c is None else f'{c:.3f}'}, agreement {a['agreement']:.4f}, "
                    f"spikes nsc {a['spikes_nsc']} / peer {a['spikes_peer']}"
                )

    for name, net, reset in snn_nets:
        n_in = next(m for m in net if isinstance(m, torch.nn.Linear)).in_features
        show(check_snntorch(name, net, n_in, reset, seed=len(rows)))
    show(hand_recurrent(seed=20))
    show(hand_cycle(seed=21))
    p31 = [77 / 31, 46 / 31]  # no potential equals its threshold within 30 spikes (see docs)
    show(check_rockpool("rp-lif-6-10-4", rockpool_net([6, 10, 4], p31, 30), 6, 30, steps=25))
    show(
        check_rockpool(
            "rp-lif-8-16-12-5",
            rockpool_net([8, 16, 12, 5], [108 / 31, *p31], 31),
            8,
            31,
            steps=25,
        )
    )
    show(check_rockpool("rp-lif-ties-6-10-4", rockpool_net([6, 10, 4], [2.5, 1.5], 32), 6, 32))
    show(
        check_rockpool(
            "rp-lif-decay-6-10-4", rockpool_net([6, 10, 4], [2.5, 1.5], 33, tau=0.01), 6, 33
        )
    )
    show(
        check_rockpool(
            "rp-readout-I-6-10-3", rockpool_net([6, 10, 3], p31, 34, readout=np.inf), 6, 34, 25
        )
    )
    show(
        check_rockpool(
            "rp-readout-LI-6-10-3", rockpool_net([6, 10, 3], p31, 35, readout=0.005), 6, 35, 25
        )
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
