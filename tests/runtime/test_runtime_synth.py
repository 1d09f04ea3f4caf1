"""Synthetic corelets: valid, exact synapse counts, and a firing rate near the target."""

from __future__ import annotations

import numpy as np
import pytest

from nsc_runtime import NscError, hw, sim, synth


@pytest.mark.parametrize("heterogeneous", [False, True])
def test_random_corelet_structure(heterogeneous: bool) -> None:
    c = synth.random_corelet(10, 20.0, 70, seed=1, heterogeneous=heterogeneous)
    c.validate()
    assert c.crossbar_is_packed  # drawn batch by batch into packed rows, never as bools
    per_neuron = c.crossbar.sum(axis=1)
    assert (per_neuron == 70).all()
    for g in range(hw.AXON_TYPES):  # 70 = 18 + 18 + 17 + 17 synapses of types 0..3
        of_type = (c.crossbar & (c.axon_types == g)[:, :, None]).sum(axis=1)
        assert (of_type == (18 if g < 2 else 17)).all()
    # every axon is driven by exactly one neuron
    slots = c.neurons["dest_core"].astype(np.int64) * 256 + c.neurons["dest_axon"]
    assert np.unique(slots).size == slots.size
    assert c.metadata["rate_hz"] == "20.0"
    assert synth.random_corelet(10, 20.0, 70, seed=1, heterogeneous=heterogeneous).metadata


@pytest.mark.parametrize(("rate", "synapses"), [(20.0, 128), (5.0, 64), (100.0, 32)])
def test_random_corelet_fires_near_the_target_rate(rate: float, synapses: int) -> None:
    c = synth.random_corelet(16, rate, synapses, seed=3)
    ticks = 2000
    r = sim.run(c, None, ticks)
    measured = r.counters["neuron_spikes"] / (16 * 256) / ticks * 1000
    assert measured == pytest.approx(rate, rel=0.1)


def test_random_corelet_multi_chip_and_silent() -> None:
    c = synth.random_corelet(hw.CORES_PER_CHIP + 3, 0.0, 0, seed=0, input_lines=0)
    assert c.chips == (1, 2)
    c.validate()
    assert not c.inputs[0].lines
    r = sim.run(c, None, 5)
    assert r.counters["neuron_spikes"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 20.0, 128), "--cores"), ((1, -1.0, 128), "--rate"), ((1, 20.0, 300), "--synapses")],
)
def test_random_corelet_rejects_bad_arguments(args: tuple[int, float, int], message: str) -> None:
    with pytest.raises(NscError, match=message):
        synth.random_corelet(*args)


def test_stress_corelets_are_valid() -> None:
    for seed in range(20):
        synth.stress_corelet(int(seed % 4) + 1, seed).validate()


def test_random_corelet_crossbar_is_the_batchwise_draw() -> None:
    # more cores than one batch: the packed rows of every batch land on their own cores
    c = synth.random_corelet(synth._BATCH + 5, 20.0, 9, seed=4)
    assert c.crossbar_is_packed
    bools = c.crossbar  # unpacks
    assert (bools.sum(axis=1) == 9).all()
    assert not c.crossbar_is_packed


def test_corelet_random_refuses_what_memory_cannot_hold(monkeypatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from nsc.cli import corelet_cmd, main

    monkeypatch.setattr(corelet_cmd, "memory_budget", lambda: 10 * corelet_cmd.BYTES_PER_CORE)
    out = tmp_path / "big.corelet"
    assert main(["corelet", "random", "--cores", "11", "-o", str(out)]) == 1
    assert "to build, more than" in capsys.readouterr().err
    assert not out.exists()
    assert main(["corelet", "random", "--cores", "10", "-o", str(out)]) == 0
    assert out.exists()
