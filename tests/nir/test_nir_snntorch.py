"""Cross-simulator check against a peer no one here wrote: feed-forward snnTorch networks
(Leaky, beta = 1, integer weights and thresholds), exported with snnTorch's own
``export_to_nir``, imported by nsc, run by nsc's interpreter and by the Cython runtime on the same
input spikes as snnTorch's own simulation. Where the semantics coincide, the spike trains of
every layer must be identical step for step (nsc's layer ``k`` fires ``k`` ticks later, which
the import's lags remove)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import nsc
from nsc.nir import import_nir
from nsc.nir.crosscheck import compare, population_spikes

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
snn_utils = pytest.importorskip("snntorch.utils")
export_nir = pytest.importorskip("snntorch.export_nir")
nir = pytest.importorskip("nir")


def _leaky(n: int, thr: float, beta: float = 1.0, **kw):
    # per-neuron tensors: snnTorch's exporter writes 0-d arrays for scalar beta/threshold,
    # which NIR's own type check then rejects
    return snn.Leaky(
        beta=torch.full((n,), beta), threshold=torch.full((n,), thr), init_hidden=True, **kw
    )


def _synaptic(n: int, thr: float, alpha: float, **kw):
    return snn.Synaptic(
        alpha=torch.full((n,), alpha),
        beta=torch.ones(n),
        threshold=torch.full((n,), thr),
        init_hidden=True,
        **kw,
    )


def _net(
    sizes: list[int],
    thresholds: list[float],
    seed: int,
    reset: str,
    beta: float = 1.0,
    synaptic: float | None = None,
):
    torch.manual_seed(seed)
    layers: list = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        lin = torch.nn.Linear(n_in, n_out, bias=k % 2 == 1)
        with torch.no_grad():
            lin.weight.copy_(torch.randint(-3, 5, lin.weight.shape).float())
            if lin.bias is not None:
                lin.bias.copy_(torch.randint(-1, 2, lin.bias.shape).float())
        last = k == len(sizes) - 2
        if synaptic is None:
            neuron = _leaky(n_out, thresholds[k], beta, reset_mechanism=reset, output=last)
        else:
            neuron = _synaptic(n_out, thresholds[k], synaptic, reset_mechanism=reset, output=last)
        layers += [lin, neuron]
    return torch.nn.Sequential(*layers)


def _run_snntorch(net, x: np.ndarray) -> list[np.ndarray]:
    """Spikes of every Leaky layer, (batch, steps, n), from snnTorch's own step loop."""
    snn_utils.reset(net)
    leakies = [m for m in net if isinstance(m, snn.Leaky | snn.Synaptic)]
    seen: dict[int, list] = {i: [] for i in range(len(leakies))}
    hooks = [
        m.register_forward_hook(
            lambda _m, _i, out, i=i: seen[i].append(
                (out[0] if isinstance(out, tuple) else out).detach().numpy().copy()
            )
        )
        for i, m in enumerate(leakies)
    ]
    with torch.no_grad():
        for t in range(x.shape[1]):
            net(torch.tensor(x[:, t], dtype=torch.float32))
    for h in hooks:
        h.remove()
    return [np.stack(v, axis=1).astype(np.int64) for v in seen.values()]


def _export(net, n_in: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # snnTorch divides by 1 - beta = 0 for beta = 1
        return export_nir.export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])


@pytest.mark.parametrize(
    ("reset", "nsc_reset", "sizes", "thresholds"),
    [
        ("subtract", "subtract", [6, 10, 4], [2.0, 1.0]),
        ("zero", "nir", [6, 12, 8, 3], [3.0, 2.0, 1.0]),
        ("subtract", "subtract", [8, 16, 10, 5], [4.0, 2.0, 2.0]),
    ],
)
def test_snntorch_leaky_networks_spike_identically_in_nsc(reset, nsc_reset, sizes, thresholds):
    net = _net(sizes, thresholds, seed=len(sizes), reset=reset)
    graph, report = import_nir(_export(net, sizes[0]), reset=nsc_reset)
    assert report.exact, report.summary()
    rng = np.random.default_rng(len(sizes))
    x = (rng.random((4, 40, sizes[0])) < 0.5).astype(np.int64)
    theirs = _run_snntorch(net, x)
    ours = population_spikes(graph, report, x)
    layers = [k for k in report.names if k in ours]  # NIR names of the populations, in order
    assert len(layers) == len(theirs)
    for name, want in zip(layers, theirs):
        assert want.any() and not want.all(), f"layer {name}: a vacuous comparison"
        got = compare(ours[name], want)
        assert got.identical, (name, got)
    # the cores: the runtime equals the interpreter, whose last layer is snnTorch's output
    compiled = nsc.compile(graph)
    assert nsc.verify(compiled, x).agreement == 1.0
    assert np.array_equal(compiled.run(x), theirs[-1])


def test_subtract_reset_read_as_written_differs_and_is_measured():
    """snnTorch writes v_reset = 0 for its subtractive Leaky; read as written (NIR's
    reset-to-value), nsc follows the file, and the difference is measured, not hidden."""
    sizes, thresholds = [6, 10, 4], [2.0, 1.0]
    net = _net(sizes, thresholds, seed=3, reset="subtract")
    graph, report = import_nir(_export(net, sizes[0]))  # reset="nir"
    rng = np.random.default_rng(3)
    x = (rng.random((4, 40, sizes[0])) < 0.7).astype(np.int64)
    theirs = _run_snntorch(net, x)
    ours = population_spikes(graph, report, x)
    first = compare(ours["1"], theirs[0])
    assert not first.identical and first.spikes_nsc <= first.spikes_peer


def test_decaying_leaky_is_reported_as_approximate():
    net = _net([5, 8, 3], [2.0, 1.0], seed=4, reset="zero", beta=0.8)
    _, report = import_nir(_export(net, 5))
    assert not report.exact
    assert {f.node for f in report.approximations()} == {"1", "3"}


def test_snntorch_rleaky_recurrence_spikes_identically_in_nsc():
    """snnTorch's RLeaky (all-to-all recurrent Linear with bias), exported by snnTorch: a
    cycle lif -> w_rec -> lif, one step around, as nsc's self-recurrence of one tick."""
    torch.manual_seed(6)
    n = 10
    rl = snn.RLeaky(
        beta=torch.ones(n),
        threshold=torch.full((n,), 2.0),
        linear_features=n,
        init_hidden=True,
        reset_mechanism="subtract",
        output=True,
    )
    net = torch.nn.Sequential(torch.nn.Linear(4, n, bias=False), rl)
    with torch.no_grad():
        net[0].weight.copy_(torch.randint(-2, 4, net[0].weight.shape).float())
        rl.recurrent.weight.copy_(torch.randint(-2, 3, (n, n)).float())
        rl.recurrent.bias.copy_(torch.randint(-1, 2, (n,)).float())
    graph, report = import_nir(_export(net, 4), reset="subtract")
    assert report.exact
    assert any(s.source == s.target for s in graph.of_type(nsc.ir.Synapses))
    x = (np.random.default_rng(6).random((4, 40, 4)) < 0.5).astype(np.int64)
    snn_utils.reset(net)
    with torch.no_grad():
        theirs = np.stack(
            [net(torch.tensor(x[:, t], dtype=torch.float32))[0].numpy().copy() for t in range(40)],
            axis=1,
        ).astype(np.int64)
    assert theirs.any() and not theirs.all()
    got = compare(population_spikes(graph, report, x)["1.lif"], theirs)
    assert got.identical, got
    compiled = nsc.compile(graph)
    assert nsc.verify(compiled, x).agreement == 1.0
    assert np.array_equal(compiled.run(x), theirs)


def test_snntorch_synaptic_with_alpha_zero_is_exact_and_survives_a_file(tmp_path):
    """Synaptic(alpha=0): snnTorch writes CubaLIF with tau_syn = dt, which passes the current
    straight through; also through nir.write / nir.read (float32 arrays from snnTorch)."""
    sizes = [6, 10, 4]
    net = _net(sizes, [2.0, 1.0], seed=7, reset="subtract", synaptic=0.0)
    exported = _export(net, sizes[0])
    assert {type(n).__name__ for n in exported.nodes.values()} >= {"CubaLIF"}
    path = tmp_path / "synaptic.nir"
    nir.write(path, exported)
    graph, report = import_nir(path, reset="subtract")
    assert report.exact, report.summary()
    assert graph.same_as(import_nir(exported, reset="subtract")[0])
    x = (np.random.default_rng(7).random((4, 40, sizes[0])) < 0.5).astype(np.int64)
    theirs = _run_snntorch(net, x)
    ours = population_spikes(graph, report, x)
    for name, want in zip([k for k in report.names if k in ours], theirs):
        assert want.any() and not want.all()
        assert compare(ours[name], want).identical, name
    assert nsc.verify(nsc.compile(graph), x).agreement == 1.0
