"""Cross-simulator check against Rockpool (a second peer no one here wrote): feed-forward
networks of Rockpool's ``LinearTorch`` and ``LIFNeuronTorch`` exported by Rockpool's own
``to_nir``, imported by nsc, run by nsc's interpreter and the Cython runtime on the same input
spikes as Rockpool's own simulation.

Rockpool's LIF neuron (``tau_mem = inf``, ``max_spikes_per_dt = 1``) integrates ``v += W s +
b``, fires on ``v >= threshold`` and subtracts the threshold: NIR's IF with subtractive reset
(``reset="subtract"``), except that NIR (and nsc, and snnTorch) fire on ``v > threshold``. The
two coincide whenever the potential never equals the threshold exactly: with integer weights and
a threshold ``p/31`` (``p`` prime to 31) that needs 30 spikes of one neuron, so runs of 25 steps
coincide, and must be identical. With threshold 2.5 ties happen and are measured.
"""

from __future__ import annotations

import itertools

import nir
import numpy as np
import pytest
import torch
from nirtest_reference import simulate
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import LIFNeuronTorch, LinearTorch
from rockpool.nn.modules.torch.nir import from_nir as rockpool_from_nir
from rockpool.nn.modules.torch.nir import to_nir as rockpool_to_nir

import nsc
from nsc.nir import import_nir, to_nir
from nsc.nir.crosscheck import compare, population_spikes

torch.set_num_threads(1)


def _network(sizes: list[int], thresholds: list[float], seed: int) -> Sequential:
    torch.manual_seed(seed)
    mods = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = torch.randint(-3, 5, (n_in, n_out)).float()
        if k % 2:
            b = torch.randint(-1, 2, (n_out,)).float()
            mods.append(LinearTorch((n_in, n_out), weight=w, bias=b, has_bias=True))
        else:
            mods.append(LinearTorch((n_in, n_out), weight=w, has_bias=False))
        mods.append(
            LIFNeuronTorch(
                n_out,
                tau_mem=torch.full((n_out,), float("inf")),
                threshold=torch.full((n_out,), thresholds[k]),
                max_spikes_per_dt=1,
            )
        )
    return Sequential(*mods)


def _rockpool_spikes(net: Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    net.reset_state()
    _, _, rec = net(torch.tensor(x, dtype=torch.float32), record=True)
    return {
        k[: -len("_output")]: v.detach().numpy().astype(np.int64)
        for k, v in rec.items()
        if k.endswith("LIFNeuronTorch_output")
    }


def _inputs(seed: int, steps: int, n: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((6, steps, n)) < 0.5).astype(np.int64)


@pytest.mark.parametrize(
    ("sizes", "thresholds"),
    [([6, 10, 4], [77 / 31, 46 / 31]), ([8, 16, 12, 5], [108 / 31, 77 / 31, 46 / 31])],
)
def test_rockpool_networks_spike_identically_in_nsc(sizes, thresholds):
    net = _network(sizes, thresholds, seed=len(sizes))
    g = rockpool_to_nir(net)
    assert {type(v).__name__ for v in g.nodes.values()} >= {"LIF", "Linear", "Affine"}
    graph, report = import_nir(g, reset="subtract", dt=float(net[1].dt))
    assert report.exact, report.summary()
    x = _inputs(1, 25, sizes[0])
    theirs = _rockpool_spikes(net, x)
    ours = population_spikes(graph, report, x)
    assert set(theirs) == set(ours) and len(theirs) == len(sizes) - 1
    for name, spikes in theirs.items():
        assert spikes.any() and not spikes.all(), name
        assert np.array_equal(ours[name], spikes), name
    last = max(theirs, key=lambda k: int(k.split("_")[0]))
    compiled = nsc.compile(graph)
    assert np.array_equal(compiled.run(x), theirs[last])  # the Cython runtime too


def test_rockpool_fires_on_equality_where_nir_does_not_and_it_is_measured():
    """Threshold 2.5 with integer weights: after a subtraction the potential can equal the
    threshold; Rockpool fires there (>=), NIR and nsc do not (>). nsc equals NIR's equations
    exactly, and the difference from Rockpool is measured, not hidden."""
    net = _network([6, 10, 4], [2.5, 1.5], seed=3)
    g = rockpool_to_nir(net)
    graph, report = import_nir(g, reset="subtract")
    x = _inputs(2, 40, 6)
    theirs = _rockpool_spikes(net, x)
    ours = population_spikes(graph, report, x)
    ref = simulate(g, x, reset="subtract")
    assert np.array_equal(nsc.compile(graph).run(x), ref["output"].astype(np.int64))
    hidden = compare(ours["1_LIFNeuronTorch"], theirs["1_LIFNeuronTorch"])
    assert not hidden.identical and hidden.spikes_peer > hidden.spikes_nsc
    assert 0.9 < hidden.agreement < 1.0


def test_nsc_export_is_not_readable_by_rockpool_from_nir():
    """Rockpool 3.1's from_nir maps Linear/Affine/LI/LIF/CubaLIF only; nsc exports IF (and
    Threshold, I): the nsc -> NIR -> Rockpool direction fails in Rockpool, as docs/nir.md says."""
    net = _network([6, 10, 4], [77 / 31, 46 / 31], seed=3)
    graph, _ = import_nir(rockpool_to_nir(net), reset="subtract")
    exported = to_nir(graph)
    assert isinstance(exported, nir.NIRGraph)
    with pytest.raises(NotImplementedError, match="IF"):
        rockpool_from_nir(exported)


def _readout_network(tau: float, seed: int) -> Sequential:
    """LinearTorch -> LIFNeuronTorch -> LinearTorch (bias) -> ExpSynTorch(tau): a classifier
    whose output is the synaptic state, exported by Rockpool as NIR's LI."""
    from rockpool.nn.modules import ExpSynTorch

    torch.manual_seed(seed)
    return Sequential(
        LinearTorch((6, 10), weight=torch.randint(-3, 5, (6, 10)).float(), has_bias=False),
        LIFNeuronTorch(
            10,
            tau_mem=torch.full((10,), float("inf")),
            threshold=torch.full((10,), 77 / 31),
            max_spikes_per_dt=1,
        ),
        LinearTorch(
            (10, 3),
            weight=torch.randint(-3, 5, (10, 3)).float(),
            bias=torch.randint(-1, 2, (3,)).float(),
            has_bias=True,
        ),
        ExpSynTorch(3, tau=torch.full((3,), tau)),
    )


def test_rockpool_integrator_readout_is_identical_in_nsc():
    """ExpSynTorch with tau = inf sums its input (decay exp(-dt/inf) = 1; exported as LI with
    tau = r = inf, read as gain 1): nsc's host readout of the LIF layer's spikes equals
    Rockpool's output value for value, through the Cython runtime. Rockpool leaves torch
    tensors (with gradients) in the LI node: the import converts a copy."""
    net = _readout_network(float("inf"), seed=5)
    g = rockpool_to_nir(net)
    li = next(v for v in g.nodes.values() if isinstance(v, nir.LI))
    assert isinstance(li.tau, torch.Tensor)
    graph, report = import_nir(g, reset="subtract", dt=float(net[1].dt))
    assert report.exact and isinstance(li.tau, torch.Tensor)  # the caller's graph unchanged
    x = _inputs(4, 25, 6)
    net.reset_state()
    theirs = net(torch.tensor(x, dtype=torch.float32))[0].detach().numpy().astype(np.float64)
    assert np.ptp(theirs) > 1
    got = nsc.compile(graph).run(x)
    assert np.array_equal(got, theirs)


def test_rockpool_exponential_readout_differs_from_euler_and_is_measured():
    """A finite tau: Rockpool decays by exp(-dt/tau), NIR's LI read with forward Euler (nsc's
    convention, as snnTorch and Norse) by 1 - dt/tau. The spikes before it are identical; the
    readout values differ by the discretisation, which is measured (argmax agreement)."""
    net = _readout_network(0.005, seed=6)
    dt = float(net[1].dt)
    graph, _ = import_nir(rockpool_to_nir(net), reset="subtract", dt=dt)
    (m,) = graph.of_type(nsc.ops.Membrane)
    np.testing.assert_allclose(m.decay, 1 - dt / 0.005)
    x = _inputs(5, 25, 6)
    net.reset_state()
    theirs = net(torch.tensor(x, dtype=torch.float32))[0].detach().numpy().astype(np.float64)
    got = nsc.compile(graph).run(x)
    assert not np.allclose(got, theirs, rtol=1e-3)
    assert np.corrcoef(got.reshape(-1), theirs.reshape(-1))[0, 1] > 0.99
    assert (got.argmax(-1) == theirs.argmax(-1)).mean() > 0.9
