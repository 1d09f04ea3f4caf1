"""Reference interpreter, spiking part: hand-computed spike rasters for tiny populations.

Every expected raster below is worked out by hand from the per-tick equations of
shared/reference/truenorth.md (integrate, leak, threshold/reset, clamp); the comments give the
membrane potential V after each tick.
"""

from __future__ import annotations

import numpy as np
import pytest
from irtest_util import host_graph, pop, raster, ticks_of

from nsc.errors import NscError
from nsc.ir import Graph, Output, SpikeCount, Synapses
from nsc.ir.interpret import InterpretError, interpret, run_trace
from nsc_runtime import hw

NORMAL, LINEAR, NONE = hw.RESET_NORMAL, hw.RESET_LINEAR, hw.RESET_NONE


def leak_only(window: int, steps: int, **params: object) -> list[int]:
    """Raster of one neuron with no synaptic input (the input node is unconnected)."""
    g = host_graph(window=window)
    g.add(pop("n", 1, **params))
    return raster(g, np.zeros((1, steps, 1)), "n")[0, :, 0].tolist()


def test_linear_reset_keeps_residue() -> None:
    # V: 2 | 4->1 * | 3->0 * | 2 | 4->1 * | 3->0 * | 2 | 4->1 *
    assert leak_only(4, 2, alpha=3, leak=2) == [0, 1, 1, 0, 1, 1, 0, 1]


def test_normal_reset_sets_reset_value() -> None:
    # V: 2 | 4->R=1 * | 3->1 * | 3->1 * ...
    spikes = leak_only(4, 2, alpha=3, leak=2, reset_mode=NORMAL, reset=1)
    assert spikes == [0, 1, 1, 1, 1, 1, 1, 1]


def test_normal_reset_to_zero() -> None:
    # V: 2 | 4->0 * | 2 | 4->0 * ...
    spikes = leak_only(4, 2, alpha=3, leak=2, reset_mode=NORMAL, reset=0)
    assert spikes == [0, 1, 0, 1, 0, 1, 0, 1]


def test_no_reset_keeps_potential() -> None:
    # V: 1 | 2 | 3 * | 4 * | 5 * ...
    assert leak_only(4, 2, alpha=3, leak=1, reset_mode=NONE) == [0, 0, 1, 1, 1, 1, 1, 1]


def test_initial_potential() -> None:
    # v0 = 5, alpha 3, no leak, linear: 5->2 * | 2 | 2 ...
    assert leak_only(3, 1, alpha=3, v0=5) == [1, 0, 0]
    # v0 = 7: 7->4 * | 4->1 * | 1
    assert leak_only(3, 1, alpha=3, v0=7) == [1, 1, 0]


def test_leak_reversal_stops_at_zero() -> None:
    # Omega = sgn(V): V0=1 -> 1+2=3 * -> 0; then sgn(0)=0, the leak no longer acts.
    assert leak_only(4, 2, alpha=3, leak=2, v0=1, leak_reversal=1) == [1, 0, 0, 0, 0, 0, 0, 0]
    # the same neuron without reversal keeps integrating its leak
    assert leak_only(4, 2, alpha=3, leak=2, v0=1) == [1, 0, 1, 1, 0, 1, 1, 0]


def test_negative_leak_with_reversal_pulls_towards_zero() -> None:
    # leak -2, reversal: V0 = -9 -> -7 -5 -3 -1 | +1 * (no reset) | -1 | +1 * | -1
    params = dict(alpha=1, leak=-2, v0=-9, leak_reversal=1, kappa=0, beta=100, reset_mode=NONE)
    assert leak_only(4, 2, **params) == [0, 0, 0, 0, 1, 0, 1, 0]
    # without reversal V runs away downwards and never fires
    params["leak_reversal"] = 0
    assert leak_only(4, 2, **params) == [0] * 8


def test_leak_reversal_uses_potential_after_integration() -> None:
    # input 1 at tick 0: V = 0 + 1 = 1, then Omega = sgn(1) = 1: V = 4 >= 4 -> spike, V = 0.
    # (with the leak applied on the potential before integration, V would stay at 1.)
    g = host_graph(window=4)
    g.add(pop("n", 1, alpha=4, leak=3, leak_reversal=1))
    g.add(Synapses("s", source="x", target="n", weight=[[1]], delay=[0]))
    assert raster(g, [[[1], [0]]], "n")[0, :, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]


def negative_case(**params: object) -> list[int]:
    """alpha 4, beta 3, weights (-5, +6); feature 0 bursts 2 at step 0, feature 1 at step 1."""
    g = host_graph(window=4, features=2)
    g.add(pop("n", 1, alpha=4, beta=3, **params))
    g.add(Synapses("s", source="x", target="n", weight=[[-5, 6]], delay=[0, 0]))
    return raster(g, [[[2, 0], [0, 2]]], "n")[0, :, 0].tolist()


def test_negative_threshold_kappa1_saturates() -> None:
    # V: -5 -> -3 | -8 -> -3 | -3 (not < -3) | -3 | 3 | 9 -> 5 * | 5 -> 1 * | 1
    assert negative_case(kappa=1, reset_mode=LINEAR) == [0, 0, 0, 0, 0, 1, 1, 0]


def test_negative_threshold_kappa1_saturates_whatever_the_reset_mode() -> None:
    # as above, then no reset: 3 | 9 * | 9 * | 9 *
    assert negative_case(kappa=1, reset_mode=NONE) == [0, 0, 0, 0, 0, 1, 1, 1]


def test_negative_threshold_kappa0_linear() -> None:
    # V: -5 -> -2 | -7 -> -4 | -4 -> -1 | -1 | 5 -> 1 * | 7 -> 3 * | 3 | 3
    assert negative_case(kappa=0, reset_mode=LINEAR) == [0, 0, 0, 0, 1, 1, 0, 0]


def test_negative_threshold_kappa0_normal() -> None:
    # R = 3: V: -5 -> -3 | -8 -> -3 | -3 | -3 | 3 | 9 -> 3 * | 3 | 3
    assert negative_case(kappa=0, reset_mode=NORMAL, reset=3) == [0, 0, 0, 0, 0, 1, 0, 0]


def test_negative_threshold_kappa0_none() -> None:
    # V: -5 | -10 | -10 | -10 | -4 | 2 | 2 | 2 : never reaches 4
    assert negative_case(kappa=0, reset_mode=NONE) == [0] * 8


def test_potential_clamped_high() -> None:
    # no reset, alpha = ALPHA_MAX, V0 = 393000, leak 255: fires ticks 0..7 with V clamped to
    # V_MAX = 393215; at tick 8 an input of -132000: 393215 - 132000 + 255 = 261470 (no spike),
    # then +255 per tick: 261725, 261980, 262235 >= 262143 -> spikes from tick 11.
    # Unclamped, V would be 395040 - 132000 + 255 = 263295 at tick 8 (a spike).
    g = host_graph(window=8)
    g.add(pop("n", 1, alpha=hw.ALPHA_MAX, leak=255, v0=393_000, reset_mode=NONE))
    g.add(Synapses("s", source="x", target="n", weight=[[-132_000]], delay=[0]))
    spikes = raster(g, [[[0], [1]]], "n")[0, :, 0]
    assert ticks_of(spikes) == [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15]


def test_potential_clamped_low() -> None:
    # no reset, kappa 0, beta = BETA_MAX, V0 = V_MIN: input -200000 at tick 0 drives V to
    # -593216, clamped to V_MIN = -393216; at tick 4 +393217 gives V = 1 >= alpha 1: a spike
    # every tick after (no reset). Unclamped, V would be -199999.
    g = host_graph(window=4, features=2)
    g.add(pop("n", 1, alpha=1, v0=hw.V_MIN, kappa=0, beta=hw.BETA_MAX, reset_mode=NONE))
    g.add(Synapses("s", source="x", target="n", weight=[[-200_000, 393_217]], delay=[0, 0]))
    spikes = raster(g, [[[1, 0], [0, 1]]], "n")[0, :, 0]
    assert spikes.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_one_spike_per_tick_and_residue_carries() -> None:
    # two features of weight 1 onto an alpha-1 unit: x = (3, 1) at step 0.
    # V: 2 -> 1 * | 2 -> 1 * | 2 -> 1 * | 1 -> 0 * | 0: 4 spikes in 4 ticks, never 2 at once
    g = host_graph(window=5, features=2)
    g.add(pop("n", 1))
    g.add(Synapses("s", source="x", target="n", weight=[[1, 1]], delay=[0, 0]))
    assert raster(g, [[[3, 1]]], "n")[0, :, 0].tolist() == [1, 1, 1, 1, 0]


def burst_graph(delay: int, offsets: tuple[int, ...]) -> Graph:
    g = host_graph(window=5)
    g.add(pop("n", 1))
    g.add(Synapses("s", source="x", target="n", weight=[[1]], delay=[delay]))
    for off in offsets:
        c = g.add(SpikeCount(f"c{off}", source="n", offset=off))
        g.add(Output(f"o{off}", source=c.name))
    return g


def test_host_bursts_with_delay() -> None:
    # activity a at step t: spikes at t*W + delay + k, k < a. W = 5, delay 3, x = (2, 0, 4):
    # ticks 3, 4 and 13, 14, 15, 16; the run lasts steps*W + max(offset) = 15 + 4 ticks.
    g = burst_graph(delay=3, offsets=(0, 3, 4))
    spikes = raster(g, [[[2], [0], [4]]], "n")
    assert spikes.shape == (1, 19, 1)
    assert ticks_of(spikes[0, :, 0]) == [3, 4, 13, 14, 15, 16]


def test_window_counts_with_offsets() -> None:
    # counts over [t*W + off, (t+1)*W + off) of the spikes at 3, 4, 13, 14, 15, 16 (batch 0)
    # and of the single spike at 5 + 3 = 8 (batch 1)
    g = burst_graph(delay=3, offsets=(0, 3, 4))
    out = interpret(g, np.array([[[2], [0], [4]], [[0], [1], [0]]]))
    assert out["o0"][:, :, 0].tolist() == [[2, 0, 2], [0, 1, 0]]
    assert out["o3"][:, :, 0].tolist() == [[2, 0, 4], [0, 1, 0]]
    assert out["o4"][:, :, 0].tolist() == [[1, 1, 3], [1, 0, 0]]
    assert all(v.shape == (2, 3, 1) for v in out.values())


def test_burst_longer_than_window_is_rejected() -> None:
    # a line carries one spike per tick: activity 5 cannot be a burst in W = 3 ticks; the
    # runtime refuses such a burst, and so does the interpreter (it once spilled silently)
    g = host_graph(window=3, levels=8)
    g.add(pop("n", 1))
    g.add(Synapses("s", source="x", target="n", weight=[[1]], delay=[0]))
    g.add(SpikeCount("c", source="n"))
    g.add(Output("o", source="c"))
    g.verify()
    with pytest.raises(NscError, match="to fit a 3-tick window, got \\[0, 5\\]"):
        interpret(g, [[[5], [0]]])
    assert interpret(g, [[[3], [0]]])["o"][0, :, 0].tolist() == [3, 0]


@pytest.mark.parametrize("delay", range(hw.DELAY_MIN, hw.DELAY_MAX + 1))
def test_neuron_delay_lands_exactly(delay: int) -> None:
    # a fires at tick 0 (one input spike); b, fed by a with delay d, fires at tick d exactly
    g = host_graph(window=8)
    g.add(pop("a", 1))
    g.add(pop("b", 1))
    g.add(Synapses("xa", source="x", target="a", weight=[[1]], delay=[0]))
    g.add(Synapses("ab", source="a", target="b", weight=[[1]], delay=[delay]))
    x = [[[1], [0], [0]]]
    assert ticks_of(raster(g, x, "a")[0, :, 0]) == [0]
    assert ticks_of(raster(g, x, "b")[0, :, 0]) == [delay]


def test_recurrent_self_loop_delay() -> None:
    # s fires at 0 from the input, then its own spike returns every 4 ticks: 0, 4, 8, 12, 16
    g = host_graph(window=10)
    g.add(pop("s", 1))
    g.add(Synapses("xs", source="x", target="s", weight=[[1]], delay=[0]))
    g.add(Synapses("ss", source="s", target="s", weight=[[1]], delay=[4]))
    assert ticks_of(raster(g, [[[1], [0]]], "s")[0, :, 0]) == [0, 4, 8, 12, 16]


def test_delay_chain_wraps_the_ring_buffer() -> None:
    # x -> a (delay 0) -> b (delay 15) -> c (delay 1); x = 2 at step 0: a 0,1; b 15,16; c 16,17
    g = host_graph(window=10)
    for name in "abc":
        g.add(pop(name, 1))
    g.add(Synapses("xa", source="x", target="a", weight=[[1]], delay=[0]))
    g.add(Synapses("ab", source="a", target="b", weight=[[1]], delay=[15]))
    g.add(Synapses("bc", source="b", target="c", weight=[[1]], delay=[1]))
    for name in "abc":
        g.add(SpikeCount(f"{name}_n", source=name))
        g.add(Output(f"{name}_o", source=f"{name}_n"))
    x = [[[2], [0]]]
    assert ticks_of(raster(g, x, "a")[0, :, 0]) == [0, 1]
    assert ticks_of(raster(g, x, "b")[0, :, 0]) == [15, 16]
    assert ticks_of(raster(g, x, "c")[0, :, 0]) == [16, 17]
    out = interpret(g, x)
    assert out["a_o"][0, :, 0].tolist() == [2, 0]
    assert out["b_o"][0, :, 0].tolist() == [0, 2]
    assert out["c_o"][0, :, 0].tolist() == [0, 2]


def test_recurrence_carries_one_window() -> None:
    """docs/conversion.md's timing diagram: input weight 2, recurrent weight 1 with delay W,
    alpha 3, no leak, W = 15, x = (4, 2). V: 2 | 4->1 * | 3->0 * | 2 ... | 2+2=4->1 * (tick 15)
    | 1+2+1=4->1 * (tick 16, the recurrent spike of tick 1) | 1+1=2 (tick 17); counts (2, 2)."""
    g = host_graph(window=15)
    g.add(pop("h", 1, alpha=3))
    g.add(Synapses("xh", source="x", target="h", weight=[[2]], delay=[0]))
    g.add(Synapses("hh", source="h", target="h", weight=[[1]], delay=[15]))
    g.add(SpikeCount("c", source="h"))
    g.add(Output("o", source="c"))
    assert ticks_of(raster(g, [[[4], [2]]], "h")[0, :, 0]) == [1, 2, 15, 16]
    assert interpret(g, [[[4], [2]]])["o"][0, :, 0].tolist() == [2, 2]


def test_batch_items_are_independent() -> None:
    g = burst_graph(delay=0, offsets=(0,))
    x = np.array([[[3], [1]], [[0], [5]], [[4], [4]]])
    both = interpret(g, x)["o0"]
    for b in range(3):
        assert np.array_equal(interpret(g, x[b : b + 1])["o0"][0], both[b])


def test_weights_sum_within_a_tick_and_negative_weights() -> None:
    # two sources into one alpha-3 unit: +2 (a = 3) and -1 (a = 1) at step 0.
    # V: 2-1=1 | 1+2=3 -> 0 * | 2 | 2 : one spike
    g = host_graph(window=4, features=2)
    g.add(pop("n", 1, alpha=3))
    g.add(Synapses("s", source="x", target="n", weight=[[2, -1]], delay=[0, 0]))
    assert raster(g, [[[3, 1]]], "n")[0, :, 0].tolist() == [0, 1, 0, 0]


def test_synaptic_events_are_counted() -> None:
    g = burst_graph(delay=0, offsets=(0,))
    g.add(pop("m", 1))
    g.add(Synapses("nm", source="n", target="m", weight=[[1]], delay=[1]))
    trace = run_trace(g, np.array([[[2], [0]], [[0], [0]]]))
    # 2 host spikes into n, then n's 2 spikes into m
    assert trace.synaptic_events is not None
    assert trace.synaptic_events.tolist() == [4, 0]


def test_interpreter_rejects_stochastic_modes() -> None:
    g = host_graph(window=4)
    g.add(pop("n", 1, stoch_leak=1))
    with pytest.raises(InterpretError, match="deterministic"):
        run_trace(g, np.zeros((1, 1, 1)))


@pytest.mark.parametrize(
    ("x", "fragment"),
    [
        (np.full((1, 2, 1), 16), "activities must lie in [0, 6)"),
        (np.full((1, 2, 1), -1), "activities must lie in [0, 6)"),
        (np.full((1, 2, 1), 1.5), "takes integer activities"),
        (np.zeros((1, 2, 2)), "expects shape (batch, steps, 1)"),
        (np.zeros((2, 1)), "expects shape (batch, steps, 1)"),
    ],
)
def test_interpreter_rejects_bad_inputs(x: np.ndarray, fragment: str) -> None:
    g = burst_graph(delay=0, offsets=(0,))
    with pytest.raises(InterpretError) as info:
        interpret(g, x)
    assert fragment in str(info.value)
    assert "%x" in str(info.value)


def test_interpreter_binds_inputs_by_name() -> None:
    g = burst_graph(delay=0, offsets=(0,))
    assert interpret(g, {"x": np.ones((1, 1, 1))})["o0"].tolist() == [[[1]]]
    with pytest.raises(InterpretError, match="no value given for input %x"):
        interpret(g, {"y": np.ones((1, 1, 1))})
