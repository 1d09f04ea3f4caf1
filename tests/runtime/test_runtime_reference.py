"""Hand-computed spike trains for every neuron mode, checked on both simulators.

Each case builds a tiny corelet, works out the expected spikes and potentials by hand (in the
comments) and requires the numpy reference and the Cython runtime to produce exactly them.
"""

from __future__ import annotations

import numpy as np
import pytest

from nsc_runtime import Corelet, Port, hw, reference, sim

SIMULATORS = {
    "reference": reference.simulate,
    "cython": lambda c, inputs, ticks: sim.run(c, inputs, ticks),
}
M64 = (1 << 64) - 1


def py_rho(seed: int, tick: int, neuron: int, draw: int) -> int:
    """The documented PRNG, written again with Python integers (docs/runtime.md)."""

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    return mix(mix((seed << 32) | (tick & 0xFFFFFFFF)) ^ (neuron * 512 + draw)) >> 56


def one_neuron(**params: int) -> Corelet:
    """One core whose neuron 0 has ``params`` and is output line 0 of port 'y'."""
    c = Corelet.empty(1)
    for name, value in params.items():
        c.neurons[name][0, 0] = value
    c.outputs.append(Port("y", [np.array([[0, 0]], np.int32)]))
    return c


def spikes_of(train: str) -> np.ndarray:
    return np.array([int(ch) for ch in train], np.uint8)[:, None]


@pytest.fixture(params=sorted(SIMULATORS))
def simulate(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return SIMULATORS[request.param]


def test_prng_pinned_values() -> None:
    base = reference.prng_base(np.array([1]), 0)
    assert reference.rho(base, 0, np.array([0, 1, 256, 257])).tolist() == [237, 124, 223, 118]
    assert py_rho(1, 0, 0, 0) == 237
    assert py_rho(0xDEADBEEF, 12345, 255, 257) == 184
    # the tick counter wraps at 2**32
    assert py_rho(7, 2**32 + 3, 17, 100) == py_rho(7, 3, 17, 100) == 50
    got = reference.rho(reference.prng_base(np.array([0xDEADBEEF]), 12345), 255, 257)
    assert got.tolist() == [184]


def test_linear_reset_bias(simulate) -> None:  # type: ignore[no-untyped-def]
    # V: 1, 2, 3 -> spike, V = 0; period 3
    c = one_neuron(leak=1, alpha=3, reset_mode=hw.RESET_LINEAR)
    r = simulate(c, None, 9)
    np.testing.assert_array_equal(r.spikes["y"], spikes_of("001001001"))
    assert r.counters["neuron_spikes"] == 3 and r.v[0, 0] == 0


def test_normal_reset(simulate) -> None:  # type: ignore[no-untyped-def]
    # V: 2, 4, 6 -> spike, V = R = 1; 3, 5 -> spike, 1; 3, 5 -> spike ...
    c = one_neuron(leak=2, alpha=5, reset_mode=hw.RESET_NORMAL, reset=1)
    r = simulate(c, None, 8)
    np.testing.assert_array_equal(r.spikes["y"], spikes_of("00101010"))
    assert r.v[0, 0] == 3


def test_no_reset_saturates_at_v_max(simulate) -> None:  # type: ignore[no-untyped-def]
    # V: V_MAX - 1 (spike), V_MAX (spike), then V_MAX + 1 is clamped to V_MAX (spike)
    c = one_neuron(leak=1, alpha=5, reset_mode=hw.RESET_NONE, v0=hw.V_MAX - 2)
    r = simulate(c, None, 4)
    np.testing.assert_array_equal(r.spikes["y"], spikes_of("1111"))
    assert r.v[0, 0] == hw.V_MAX


def test_negative_threshold_saturation(simulate) -> None:  # type: ignore[no-untyped-def]
    # kappa = 1: V: -3, -6, -9 < -7 -> V = -7, then -10 -> -7 ...
    c = one_neuron(leak=-3, alpha=100, beta=7, kappa=1, reset_mode=hw.RESET_NORMAL, reset=50)
    r = simulate(c, None, 5)
    assert r.spikes["y"].sum() == 0 and r.v[0, 0] == -7


def test_negative_threshold_linear(simulate) -> None:  # type: ignore[no-untyped-def]
    # kappa = 0, linear: -3, -6, -9 -> -2, -5, -8 -> -1, -4, -7 (not < -7), -10 -> -3
    c = one_neuron(leak=-3, alpha=100, beta=7, reset_mode=hw.RESET_LINEAR)
    r = simulate(c, None, 8)
    assert r.spikes["y"].sum() == 0 and r.v[0, 0] == -3
    assert simulate(c, None, 7).v[0, 0] == -7


def test_negative_threshold_normal_reset(simulate) -> None:  # type: ignore[no-untyped-def]
    # kappa = 0, normal: V = -R = -2 whenever V < -5: -4, -8 -> -2, -6 -> -2 ...
    c = one_neuron(leak=-4, alpha=100, beta=5, reset_mode=hw.RESET_NORMAL, reset=2)
    assert simulate(c, None, 2).v[0, 0] == -2
    assert simulate(c, None, 5).v[0, 0] == -2


def test_negative_normal_reset_clamps(simulate) -> None:  # type: ignore[no-untyped-def]
    # -R with R = V_MIN is V_MAX + 1, clamped to V_MAX; V_MAX then spikes (alpha = ALPHA_MAX)
    c = one_neuron(leak=-2, alpha=hw.ALPHA_MAX, beta=1, reset=hw.RESET_MIN)
    r = simulate(c, None, 2)
    np.testing.assert_array_equal(r.spikes["y"], spikes_of("01"))
    assert r.v[0, 0] == hw.RESET_MIN  # the spike's normal reset: V = R


def test_no_reset_saturates_at_v_min(simulate) -> None:  # type: ignore[no-untyped-def]
    # mode 2 below -beta: unchanged; V_MIN + 5 - 4 - 4 is clamped to V_MIN
    c = one_neuron(leak=-4, alpha=1, beta=0, reset_mode=hw.RESET_NONE, v0=hw.V_MIN + 5)
    r = simulate(c, None, 3)
    assert r.spikes["y"].sum() == 0 and r.v[0, 0] == hw.V_MIN


def test_leak_reversal(simulate) -> None:  # type: ignore[no-untyped-def]
    # Omega = sgn(V): a leak of -1 pulls V towards 0 from both sides and stops there
    for v0, after in ((5, [4, 3, 2, 1, 0, 0]), (-3, [-2, -1, 0, 0, 0, 0])):
        c = one_neuron(leak=-1, leak_reversal=1, alpha=100, beta=100, v0=v0)
        assert [int(simulate(c, None, t).v[0, 0]) for t in range(1, 7)] == after


def test_routing_delay_and_counters(simulate) -> None:  # type: ignore[no-untyped-def]
    # core 0 neuron 0 fires at t = 2, 5, 8 (linear, leak 1, alpha 3), routed to core 1 axon 5
    # with delay 3: core 1 neuron 9 (type-2 weight 4 >= alpha 4) fires at t = 5, 8, 11.
    c = Corelet.empty(2)
    n = c.neurons
    n["leak"][0, 0], n["alpha"][0, 0], n["reset_mode"][0, 0] = 1, 3, hw.RESET_LINEAR
    n["dest_core"][0, 0], n["dest_axon"][0, 0], n["delay"][0, 0] = 1, 5, 3
    c.axon_types[1, 5] = 2
    c.crossbar[1, 5, 9] = True
    n["weights"][1, 9, 2], n["alpha"][1, 9] = 4, 4
    c.position[1] = (3, 4)
    c.outputs.append(Port("y", [np.array([[0, 0]], np.int32), np.array([[1, 9]], np.int32)]))
    r = simulate(c, None, 12)
    np.testing.assert_array_equal(r.spikes["y"][:, 0], spikes_of("001001001001")[:, 0])
    np.testing.assert_array_equal(r.spikes["y"][:, 1], spikes_of("000001001001")[:, 0])
    # 4 routed spikes (t = 2, 5, 8, 11), 7 hops each; 3 arrived (t = 5, 8, 11), 1 synapse each
    assert r.counters == {
        "synaptic_events": 3,
        "neuron_spikes": 7,
        "cross_core_spikes": 4,
        "mesh_hops": 28,
    }


def test_host_input_integrates_same_tick_and_merges(simulate) -> None:  # type: ignore[no-untyped-def]
    # line 0 drives axons 7 (type 1, +2) and 9 (type 3, -1) of neuron 0: +1 in its tick.
    # line 1 also drives axon 7: on one tick the two spikes on axon 7 merge into one.
    c = one_neuron(alpha=1, reset=0)
    c.axon_types[0, 7], c.axon_types[0, 9] = 1, 3
    c.crossbar[0, [7, 9], 0] = True
    c.neurons["weights"][0, 0, 1], c.neurons["weights"][0, 0, 3] = 2, -1
    c.inputs.append(Port("x", [np.array([[0, 7], [0, 9]], np.int32), np.array([[0, 7]])]))
    drive = np.zeros((6, 2), np.uint8)
    drive[1, 0] = 1  # +2 - 1 = 1 -> spike at t = 1
    drive[3] = 1  # axon 7 once (merged) and axon 9: +1 -> spike at t = 3
    drive[4, 1] = 1  # axon 7 only: +2 -> spike at t = 4
    r = simulate(c, {"x": drive}, 6)
    np.testing.assert_array_equal(r.spikes["y"], spikes_of("010110"))
    assert r.counters["synaptic_events"] == 2 + 2 + 1


def test_stochastic_leak_follows_prng(simulate) -> None:  # type: ignore[no-untyped-def]
    # V += sgn(lambda) when |lambda| = 128 >= rho(t, 0, 256)
    c = one_neuron(leak=128, stoch_leak=1, alpha=hw.ALPHA_MAX)
    seed, ticks = int(c.seeds[0]), 40
    expected = sum(py_rho(seed, t, 0, reference.DRAW_LEAK) <= 128 for t in range(ticks))
    assert 0 < expected < ticks
    assert simulate(c, None, ticks).v[0, 0] == expected


def test_stochastic_synapses_follow_prng(simulate) -> None:  # type: ignore[no-untyped-def]
    # neuron 0: weight 255 (always passes: V += 1, not 255); neuron 1: weight -40
    c = one_neuron(alpha=hw.ALPHA_MAX, stoch_synapse=0b0001)
    c.neurons["stoch_synapse"][0, 1], c.neurons["alpha"][0, 1] = 0b0001, hw.ALPHA_MAX
    c.neurons["beta"][0, 1] = 1000
    c.neurons["weights"][0, 0, 0], c.neurons["weights"][0, 1, 0] = 255, -40
    c.crossbar[0, 3, [0, 1]] = True
    c.inputs.append(Port("x", [np.array([[0, 3]], np.int32)]))
    ticks, seed = 30, int(c.seeds[0])
    r = simulate(c, {"x": np.ones((ticks, 1), np.uint8)}, ticks)
    passed = sum(py_rho(seed, t, 1, 3) <= 40 for t in range(ticks))
    assert r.v[0, 0] == ticks and r.v[0, 1] == -passed
    assert r.counters["synaptic_events"] == 2 * ticks


def test_threshold_mask_follows_prng(simulate) -> None:  # type: ignore[no-untyped-def]
    # alpha = 0, TM = 8: spike iff V = 100 >= eta = rho(t, 0, 257); mode 2 keeps V = 100
    c = one_neuron(alpha=0, tm=8, v0=100, reset_mode=hw.RESET_NONE, beta=1000)
    seed, ticks = int(c.seeds[0]), 40
    train = "".join(
        str(int(py_rho(seed, t, 0, reference.DRAW_THRESHOLD) <= 100)) for t in range(ticks)
    )
    np.testing.assert_array_equal(simulate(c, None, ticks).spikes["y"], spikes_of(train))
