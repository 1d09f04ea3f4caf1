"""The Cython runtime is bit-exact with the numpy reference, in every mode and configuration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsc_runtime import Corelet, NscError, Port, _core, hw, reference, sim, synth

ISAS = list(sim.available_isas())


def assert_same(a: reference.Result, b: reference.Result) -> None:
    assert a.counters == b.counters
    assert a.spikes.keys() == b.spikes.keys()
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name], err_msg=name)
    np.testing.assert_array_equal(a.v, b.v)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_cores=st.integers(1, 5),
    ticks=st.integers(0, 48),
    rate=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    isa=st.sampled_from(ISAS),
    threads=st.integers(1, 3),
)
def test_bit_exact_on_stress_corelets(
    seed: int, n_cores: int, ticks: int, rate: float, isa: str, threads: int
) -> None:
    corelet = synth.stress_corelet(n_cores, seed)
    inputs = synth.random_inputs(corelet, ticks, rate, seed)
    expected = reference.simulate(corelet, inputs, ticks)
    runner = sim.Simulator(corelet, threads=threads, isa=isa, cores_per_thread=1)
    assert runner.run_threads() == min(threads, n_cores)
    assert_same(expected, runner.run(inputs, ticks))
    assert_same(expected, sim.run(corelet, inputs, ticks, isa=isa))


def test_stress_corelets_exercise_every_mode() -> None:
    """The corelets of the property test above hit every kernel path."""
    flags = np.concatenate(
        [sim.build_tables(synth.stress_corelet(5, s))["head"][0::16] for s in range(24)]
    )
    for flag in (
        _core.CF_UNIFORM,
        _core.CF_UWEIGHTS,
        _core.CF_STOCH_SYN,
        _core.CF_STOCH_NEURON,
        _core.CF_LEAKFREE,
        _core.CF_ULEAK,
        _core.CF_UFLAGS,
        _core.CF_PALETTE,
        _core.CF_PLEAK,
    ):
        assert (flags & flag).any() and not (flags & flag).all()
    corelet = synth.stress_corelet(5, 3)
    r = reference.simulate(corelet, synth.random_inputs(corelet, 40, 0.5, 3), 40)
    assert all(v > 0 for v in r.counters.values())
    assert (r.v == hw.V_MAX).any() or (r.v == hw.V_MIN).any()


def test_many_cores_two_threads_and_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    corelet = synth.random_corelet(96, 50.0, 64, seed=5, heterogeneous=True)
    inputs = synth.random_inputs(corelet, 60, 0.2, 1)
    expected = reference.simulate(corelet, inputs, 60)
    monkeypatch.setattr(sim, "CHUNK_CORE_TICKS", 96 * 7)  # kernel calls of 7 ticks
    for threads in (1, 2):
        for isa in ISAS:
            assert_same(expected, sim.run(corelet, inputs, 60, threads=threads, isa=isa))


def test_byte_counter_overflow_path() -> None:
    """256 active axons of one type on one neuron: a count of 256 needs the early fold."""
    c = Corelet.empty(1)
    c.crossbar[0, :, :3] = True
    c.neurons["weights"][0, :3, 0] = [1, -255, 255]
    c.neurons["alpha"][0] = hw.ALPHA_MAX
    c.neurons["beta"][0] = hw.BETA_MAX
    c.inputs.append(Port("x", [np.stack([np.zeros(256), np.arange(256)], 1).astype(np.int32)]))
    inputs = {"x": np.ones((3, 1), np.uint8)}
    expected = reference.simulate(c, inputs, 3)
    assert expected.v[0, :3].tolist() == [768, -195840, 195840]
    for isa in ISAS:
        assert_same(expected, sim.run(c, inputs, 3, isa=isa))


def test_quiet_cores_wake_up_exactly() -> None:
    """A leak-free core is skipped while idle, and resumes exactly when input arrives."""
    c = Corelet.empty(2)
    c.crossbar[0, 0, :] = True
    c.neurons["weights"][0, :, 0] = np.arange(256) % 7 - 3
    c.neurons["alpha"][0] = 5
    c.neurons["beta"][0] = 4
    c.neurons["reset_mode"][0] = hw.RESET_LINEAR
    c.neurons["dest_core"][0, :8] = 1
    c.neurons["dest_axon"][0, :8] = np.arange(8)
    c.neurons["delay"][0, :8] = np.arange(1, 9)
    c.crossbar[1, :8, :] = True
    c.neurons["weights"][1, :, 0] = 1
    c.neurons["alpha"][1] = 3
    c.inputs.append(Port("x", [np.array([[0, 0]], np.int32)]))
    c.outputs.append(Port("y", [np.array([[k // 256, k % 256]], np.int32) for k in range(512)]))
    drive = np.zeros((200, 1), np.uint8)
    drive[[3, 4, 90, 91, 92, 150]] = 1
    expected = reference.simulate(c, {"x": drive}, 200)
    assert expected.spikes["y"][100:140].sum() == 0 and expected.spikes["y"].sum() > 0
    for isa in ISAS:
        assert_same(expected, sim.run(c, {"x": drive}, 200, isa=isa))


def test_batch_matches_single_runs() -> None:
    corelet = synth.stress_corelet(3, 11)
    items = [synth.random_inputs(corelet, 30, rate, k) for k, rate in enumerate((0, 0.3, 0.9))]
    stacked = {p.name: np.stack([it[p.name] for it in items]) for p in corelet.inputs}
    ref = reference.simulate_batch(corelet, items, 30)
    for threads in (1, 2):
        for given_inputs in (items, stacked):
            got = sim.run_batch(corelet, given_inputs, 30, threads=threads)
            assert len(got) == 3
            for b in range(3):
                assert_same(ref.item(b), got.item(b))
                assert_same(reference.simulate(corelet, items[b], 30), got.item(b))
            assert got.counters["neuron_spikes"].shape == (3,)


def test_batch_without_inputs_and_empty_corelet() -> None:
    corelet = synth.stress_corelet(2, 4)
    corelet.inputs.clear()
    got = sim.run_batch(corelet, {}, 10, batch=2)
    assert got.v.shape == (2, 2, 256)
    assert_same(got.item(0), got.item(1))
    assert len(sim.run_batch(corelet, [], 10)) == 0
    empty = Corelet.empty(0)
    r = sim.run(empty, None, 5)
    assert r.v.shape == (0, 256) and all(v == 0 for v in r.counters.values())
    assert_same(reference.simulate(empty, None, 5), r)


def test_zero_ticks_and_partial_inputs() -> None:
    corelet = synth.stress_corelet(2, 8)
    assert_same(reference.simulate(corelet, None, 0), sim.run(corelet, None, 0))
    short = {"x": np.ones((5, len(corelet.inputs[0].lines)), bool)}
    assert_same(reference.simulate(corelet, short, 12), sim.run(corelet, short, 12))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"nope": np.zeros((3, 1))}, "unknown input port"),
        ({"x": np.zeros((3, 99))}, "lines"),
        ({"x": np.full((3, 2), 2)}, "0 or 1"),
        ({"x": np.zeros(3)}, "dimensions"),
        ({"x": np.zeros((30, 2))}, "ticks"),
    ],
)
def test_bad_inputs_are_user_errors(inputs: dict[str, np.ndarray], message: str) -> None:
    corelet = Corelet.empty(1)
    corelet.inputs.append(Port("x", [np.array([[0, 1]], np.int32)] * 2))
    for run in (sim.run, reference.simulate):
        with pytest.raises(NscError, match=message):
            run(corelet, inputs, 10)


def test_engine_rejects_bad_tables() -> None:
    runner = sim.Simulator(synth.stress_corelet(2, 1))
    tables, n_in, n_out = runner.tables, runner.n_in, runner.n_out
    ok = _core.Engine(tables, 2, n_in, n_out)
    assert ok.isa == sim.available_isas()[-1]
    bad_route = dict(tables, route=tables["route"].copy())
    bad_route["route"][3] = (5 * 4096) << 22 | 1
    bad_lines = dict(tables, out_line=tables["out_line"] + 1000)
    bad_dtype = dict(tables, xbar=tables["xbar"].view(np.int64))
    bad_size = dict(tables, v0=tables["v0"][:-1])
    bad_value = dict(tables, v0=tables["v0"].copy())
    bad_value["v0"][5] = hw.V_MAX + 1
    bad_head = dict(tables, head=tables["head"].copy())
    bad_head["head"][16 + _core.HEAD_FIELDS.index("alpha")] = hw.ALPHA_MAX + 1
    for bad in (bad_route, bad_lines, bad_dtype, bad_size, bad_value, bad_head):
        with pytest.raises(ValueError, match="table"):
            _core.Engine(bad, 2, n_in, n_out)
    with pytest.raises(ValueError, match="outputs"):
        ok.run(np.zeros((3, n_in), np.uint8), np.zeros((2, n_out), np.uint8))
    with pytest.raises(ValueError, match="isa"):
        _core.Engine(tables, 2, n_in, n_out, "sse9")


@pytest.mark.parametrize("seed", range(4))
def test_palette_kernel_is_exact(seed: int) -> None:
    """Cores with a few parameter sets run on the palette path (CF_PALETTE): identical
    spikes, counters and final state to the per-neuron tables (the previous kernel) and to
    the reference, for every ISA, with stochastic synapses and neurons in the mix."""
    corelet = synth.stress_corelet(12, 100 + seed)
    rng = np.random.default_rng(seed)
    for core in range(corelet.n_cores):  # every core: a few sets, or just past the palette
        synth.palette_core(corelet.neurons, core, rng)
    flags = sim.build_tables(corelet)["head"][0::16]
    assert (flags & _core.CF_PALETTE).any()
    assert not (sim.build_tables(corelet, palette=False)["head"][0::16] & _core.CF_PALETTE).any()
    ticks = 32
    inputs = synth.random_inputs(corelet, ticks, 0.5, seed)
    expected = reference.simulate(corelet, inputs, ticks)
    for isa in ISAS:
        for palette in (True, False):
            runner = sim.Simulator(corelet, isa=isa, palette=palette, threads=2, cores_per_thread=2)
            assert_same(expected, runner.run(inputs, ticks))
        runner = sim.Simulator(corelet, isa=isa)
        runner.tables = sim.build_tables(corelet)  # palettes on every variant (baseline: C)
        assert_same(expected, runner.run(inputs, ticks))


def test_palette_cores_cover_every_mode() -> None:
    """The corelets above put palette cores in every shared mode the kernel compiles a
    variant for (eps | gamma << 1 | kappa << 3), in the general form, and with leak tables."""
    modes: set[int] = set()
    pleak = 0
    for seed in range(4):
        corelet = synth.stress_corelet(12, 100 + seed)
        rng = np.random.default_rng(seed)
        for core in range(corelet.n_cores):
            synth.palette_core(corelet.neurons, core, rng)
        head = sim.build_tables(corelet)["head"].reshape(-1, 16)
        flags, nflags = head[:, 0], head[:, _core.HEAD_FIELDS.index("nflags")]
        on = (flags & _core.CF_PALETTE != 0) & (flags & _core.CF_STOCH_NEURON == 0)
        shared = flags & _core.CF_UFLAGS != 0
        modes |= {int(m) for m in nflags[on & shared] & 15} | (
            {-1} if (on & ~shared).any() else set()
        )
        pleak += int((on & (flags & _core.CF_PLEAK != 0)).sum())
    assert modes >= {-1, 0, 1, 2, 3, 4, 5, 8, 9, 10, 12, 13} and pleak > 0


def test_heterogeneous_chip_uses_the_palette() -> None:
    """The benchmark's heterogeneous chip in small: K sets per core -> every core on the
    palette (its tables hold 256 bytes of indices per core instead of per-neuron arrays)."""
    corelet = synth.random_corelet(40, 50.0, 96, seed=3, heterogeneous=True, palette=12)
    tables = sim.build_tables(corelet)
    assert ((tables["head"][0::16] & _core.CF_PALETTE) != 0).all()
    for name in ("wdet", "leak", "alpha", "beta", "reset", "nflags"):
        assert tables[name].size == 0, name
    assert tables["pidx"].size == 40 * 256 and tables["pidx"].max() < _core.PALETTE_SIZE
    inputs = synth.random_inputs(corelet, 50, 0.3, 2)
    expected = reference.simulate(corelet, inputs, 50)
    assert expected.counters["neuron_spikes"] > 0
    for isa in ISAS:
        assert_same(expected, sim.run(corelet, inputs, 50, isa=isa, threads=2))


def test_engine_rejects_bad_palette_tables() -> None:
    corelet = synth.random_corelet(2, 50.0, 64, seed=1, heterogeneous=True, palette=4)
    runner = sim.Simulator(corelet)
    tables, n_in, n_out = runner.tables, runner.n_in, runner.n_out
    _core.Engine(tables, 2, n_in, n_out)
    bad_index = dict(tables, pidx=tables["pidx"].copy())
    bad_index["pidx"][7] = _core.PALETTE_SIZE
    bad_weight = dict(tables, pal=tables["pal"].copy())
    bad_weight["pal"][3] = hw.WEIGHT_MAX + 1
    bad_mode = dict(tables, pal=tables["pal"].copy())
    bad_mode["pal"][_core.PALETTE_RAW.index("nflags") * _core.PALETTE_SIZE] = 3 << 1
    missing = dict(tables, pal=np.zeros(0, np.int32))
    for bad in (bad_index, bad_weight, bad_mode, missing):
        with pytest.raises(ValueError, match="table"):
            _core.Engine(bad, 2, n_in, n_out)


@pytest.mark.parametrize("threads", [0, -4, 1.5])
def test_threads_below_one_are_refused(threads: float) -> None:
    """Issue 15 item 5: the CLI refused --threads 0 while Python silently ran one thread."""
    corelet = synth.random_corelet(1, seed=0)
    with pytest.raises(NscError, match="threads must be a whole number >= 1"):
        sim.Simulator(corelet, threads=threads)  # type: ignore[arg-type]
