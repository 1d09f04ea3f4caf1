"""Issue 12, runtime side: the kernel's remote-line hook and inter-chip counter, corelets
on a 2-D chip mesh, per-rank loading, inter-chip energy, and `nsc run --checkpoint/--resume`
(one process and under mpiexec), each compared byte for byte with an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_distributed import ROOT, drive, inter_chip_reference, launch, multi_chip

from nsc_runtime import _core, energy, hw, sim, synth
from nsc_runtime import format as fmt
from nsc_runtime.corelet import Corelet, Port
from nsc_runtime.distributed import partition, run_partitioned
from nsc_runtime.errors import CoreletFormatError, NscError

TICKS = 40
N = hw.NEURONS_PER_CORE


def watch_all(c: Corelet) -> Corelet:
    """``c`` with one output line per neuron (port "all"), in core-major order."""
    ids = np.arange(c.n_cores * N)
    out = Port.from_arrays("all", np.stack([ids // N, ids % N], 1), np.arange(ids.size + 1))
    return Corelet(
        c.axon_types, c.crossbar, c.neurons, c.position, c.seeds, c.inputs, [out], c.chips
    )


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kernel_lists_remote_spikes(threads: int) -> None:
    """Neurons made remote lines (route -2 - (i << 22)) are listed as (tick, line) exactly when they
    fire, and not delivered: the run equals the corelet with those routes removed."""
    c = multi_chip(8)
    inputs = drive(c, TICKS, 5)
    routed = np.flatnonzero(c.neurons["dest_core"].reshape(-1) >= 0)
    remote = routed[::3]  # every third routed neuron, on every core
    cut = Corelet(
        c.axon_types,
        c.crossbar,
        {k: a.copy() for k, a in c.neurons.items()},
        c.position,
        c.seeds,
        c.inputs,
        c.outputs,
        c.chips,
    )
    cut.neurons["dest_core"].reshape(-1)[remote] = hw.NO_DEST
    want = sim.run(watch_all(cut), inputs, TICKS).spikes["all"]
    tables = sim.build_tables(cut)
    slot = (remote // N) * N + _core.POSITION[remote % N]
    tables["route"][slot] = -2 - (np.arange(remote.size, dtype=np.int64) << _core.ROUTE_SHIFT)
    per_core = np.bincount(remote // N, minlength=c.n_cores)
    tables["rbox_ptr"] = np.concatenate([[0], np.cumsum(per_core)]).astype(np.int64)
    n_in = sum(p.n_lines for p in c.inputs)
    n_out = sum(p.n_lines for p in c.outputs)
    engine = _core.Engine(tables, c.n_cores, n_in, n_out)
    assert engine.n_remote == remote.size
    feed = np.zeros((TICKS, n_in), np.uint8)
    col = 0
    for p in c.inputs:
        feed[:, col : col + p.n_lines] = inputs[p.name]
        col += p.n_lines
    out = np.zeros((TICKS, n_out), np.uint8)
    listed = []
    for t in range(0, TICKS, 7):  # several calls: ticks are absolute
        engine.run(feed[t : t + 7], out[t : t + 7], threads)
        listed.append(engine.remote.copy())
    tick, line = np.divmod(np.concatenate(listed), remote.size)
    got = sorted(zip(tick.tolist(), line.tolist(), strict=True))
    fired_t, fired_n = np.nonzero(want[:, remote])
    assert got == sorted(zip(fired_t.tolist(), fired_n.tolist(), strict=True))
    assert len(got) > 0
    ref = sim.run(cut, inputs, TICKS)
    np.testing.assert_array_equal(engine.v, ref.v)
    # remote spikes count as routed to another core (their hops: 0 in this table)
    counters = dict(zip(("syn", "spikes", "cross", "hops"), engine.counters.tolist(), strict=True))
    assert counters["cross"] == ref.counters["cross_core_spikes"] + len(got)
    assert counters["hops"] == ref.counters["mesh_hops"]
    assert counters["spikes"] == ref.counters["neuron_spikes"]


def test_remote_tables_are_checked() -> None:
    c = multi_chip(4)
    tables = sim.build_tables(c)
    n_in = sum(p.n_lines for p in c.inputs)
    n_out = sum(p.n_lines for p in c.outputs)
    bad = dict(tables, route=tables["route"].copy())
    bad["route"][0] = -2  # a remote line without rbox_ptr counting it
    with pytest.raises(ValueError, match="route"):
        _core.Engine(bad, c.n_cores, n_in, n_out)
    engine = _core.Engine(tables, c.n_cores, n_in, n_out)
    with pytest.raises(ValueError, match="out of range"):
        engine.inject(np.array([c.n_cores * _core.ROUTE_CORE_STRIDE]))


def test_kernel_counts_inter_chip_spikes() -> None:
    """The route flag counts spikes between chips in the kernel: equal to an independent
    count (every neuron watched), on one process and on 3 ranks."""
    c = multi_chip(8)
    inputs = drive(c, TICKS, 2)
    want = inter_chip_reference(c, inputs, TICKS)
    assert want > 0
    runner = sim.Simulator(c)
    runner.run(inputs, TICKS)
    assert runner.last_inter_chip == want
    assert run_partitioned(c, inputs, TICKS, 3).stats.inter_chip_spikes == want
    one_chip = multi_chip(8)
    one_chip.position[:, 0] = np.arange(8)
    one_chip.position[:, 1] = 0
    runner = sim.Simulator(one_chip)
    runner.run(inputs, TICKS)
    assert runner.last_inter_chip == 0


def test_random_corelet_on_a_2d_mesh() -> None:
    c = synth.random_corelet(4 * 5, chips=(2, 2), seed=1)
    assert c.chips == (2, 2) and c.metadata["chips"] == "2x2"
    c.validate()
    big = synth.random_corelet(3 * hw.CORES_PER_CHIP + 2, chips=(2, 2), seed=1, synapses=4)
    side = hw.CORES_PER_CHIP_SIDE
    chip = (big.position[:, 1] // side) * 2 + big.position[:, 0] // side
    per_chip = hw.CORES_PER_CHIP
    np.testing.assert_array_equal(chip, np.arange(big.n_cores) // per_chip)  # row-major chips
    assert set(map(tuple, big.position[chip == 2] // side)) == {(0, 1)}  # (x, y): row 1, col 0
    assert partition(big, 2).tolist() == [0, 2 * per_chip, big.n_cores]
    with pytest.raises(NscError, match="do not fit"):
        synth.random_corelet(per_chip + 1, chips=(1, 1))


def test_cli_random_chips(tmp_path: Path) -> None:
    from nsc.cli import main

    assert (
        main(["corelet", "random", "--cores", "5", "--chips", "3x2", "-o", str(tmp_path / "c")])
        == 0
    )
    c = fmt.load(tmp_path / "c")
    assert c.chips == (3, 2) and c.n_cores == 5


def test_load_part_holds_own_cores(tmp_path: Path) -> None:
    c = multi_chip(8)
    fmt.save(c, tmp_path / "c.corelet")
    part, (lo, hi) = fmt.load_part(tmp_path / "c.corelet", lambda n, chips, pos: (2, 6))
    assert (lo, hi) == (2, 6)
    np.testing.assert_array_equal(part.crossbar[2:6], c.crossbar[2:6])
    assert not part.crossbar[:2].any() and not part.crossbar[6:].any()
    for name, arr in c.neurons.items():
        np.testing.assert_array_equal(part.neurons[name][2:6], arr[2:6])
        if name in fmt.ROUTE_FIELDS:
            np.testing.assert_array_equal(part.neurons[name], arr)
        else:
            assert not part.neurons[name][:2].any()
    np.testing.assert_array_equal(part.position, c.position)
    np.testing.assert_array_equal(part.seeds, c.seeds)
    assert part.metadata == c.metadata and part.chips == c.chips
    # runs on partial corelets (one per rank, `load_rank`): `nsc run` under mpiexec in
    # test_distributed.py::test_nsc_run_under_mpiexec and below, byte-identical
    data = bytearray((tmp_path / "c.corelet").read_bytes())
    data[100] ^= 1
    (tmp_path / "bad.corelet").write_bytes(bytes(data))
    with pytest.raises(CoreletFormatError, match="checksum"):
        fmt.load_part(tmp_path / "bad.corelet", lambda n, chips, pos: (0, n))
    (tmp_path / "empty.corelet").write_bytes(b"")
    with pytest.raises(CoreletFormatError, match=r"empty\.corelet"):
        fmt.load_part(tmp_path / "empty.corelet", lambda n, chips, pos: (0, n))


def test_energy_prices_inter_chip_spikes() -> None:
    base = energy.estimate(16, 1000, 100)
    chips = energy.estimate(16, 1000, 100, inter_chip_spikes=500)
    joules = 500 * hw.SPIKE_PACKET_BITS * hw.JOULES_PER_OFF_CHIP_BIT
    assert chips.inter_chip_w == pytest.approx(joules / 0.1)
    assert chips.event_model_w == pytest.approx(base.event_model_w + joules / 0.1)
    assert len(chips.lines()) == len(base.lines()) + 1 and "inter-chip" in chips.lines()[-1]


def cli(args: list[str], where: Path) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime")]))
    done = subprocess.run(
        [sys.executable, "-m", "nsc.cli", *args],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def same_files(a: Path, b: Path) -> None:
    with np.load(a) as x, np.load(b) as y:
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("ckpt")
    c = multi_chip(8)
    inputs = drive(c, TICKS, 6)
    fmt.save(c, where / "c.corelet")
    np.savez(where / "in.npz", **inputs)
    np.savez(where / "in1.npz", **{k: a[:23] for k, a in inputs.items()})
    np.savez(where / "in2.npz", **{k: a[23:] for k, a in inputs.items()})
    cli(["run", "c.corelet", "--input", "in.npz", "-o", "full.npz"], where)
    return where


def joined(first: Path, second: Path, full: Path) -> None:
    """The parts' outputs joined, and the last part's counters, equal the full run's."""
    with np.load(first) as a, np.load(second) as b, np.load(full) as f:
        for k in f.files:
            if k.startswith("@"):
                if k != "@ticks":
                    assert int(b[k]) == int(f[k]), k
            else:
                np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), f[k])


def test_cli_checkpoint_and_resume(run_dir: Path) -> None:
    """`nsc run --checkpoint` then `--resume` on one process; `--checkpoint-every` gives the
    uninterrupted file and the final state."""
    w = run_dir
    cli(["run", "c.corelet", "--input", "in1.npz", "--checkpoint", "s.npz", "-o", "a.npz"], w)
    out = cli(["run", "c.corelet", "--input", "in2.npz", "--resume", "s.npz", "-o", "b.npz"], w)
    assert "ran 17 ticks" in out
    joined(w / "a.npz", w / "b.npz", w / "full.npz")
    args = ["run", "c.corelet", "--input", "in.npz", "--checkpoint", "e.npz"]
    cli([*args, "--checkpoint-every", "9", "-o", "every.npz"], w)
    same_files(w / "every.npz", w / "full.npz")
    with np.load(w / "e.npz") as state, np.load(w / "full.npz") as full:
        assert int(state["tick"]) == TICKS
        assert all(int(state[k]) == int(full[k]) for k in state.files if k.startswith("@"))


def test_cli_checkpoint_under_mpiexec(run_dir: Path) -> None:
    """Checkpoints every 10 ticks under `mpiexec -n 2`, resumed on one process: identical to
    the uninterrupted run."""
    w = run_dir
    args = ["-m", "nsc.cli", "run", "c.corelet", "--input", "in1.npz", "--checkpoint", "m.npz"]
    printed = launch(2, [*args, "--checkpoint-every", "10", "-o", "m1.npz"], w)
    assert "ranks: 2" in printed and "checkpoint: tick 23" in printed
    cli(["run", "c.corelet", "--input", "in2.npz", "--resume", "m.npz", "-o", "m2.npz"], w)
    joined(w / "m1.npz", w / "m2.npz", w / "full.npz")


def test_scale_out_benchmark_quick(tmp_path: Path) -> None:
    """benchmarks/scale_out.py on a small system (2 chips of 64 cores): its last line is the
    JSON the issue asks for, and 1 and 2 ranks agree with sim.run and with each other."""
    import json

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime")]))
    script = ROOT / "benchmarks" / "scale_out.py"
    args = ["--quick", "--systems", "1x2", "--ticks", "30", "--dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    keys = {"chips", "ranks", "neurons", "ticks_per_s", "peak_rss_mb_per_rank"}
    keys |= {"exchanged_words_per_tick", "identical"}
    assert [r["ranks"] for r in rows] == [1, 2] and all(keys <= r.keys() for r in rows)
    assert all(r["identical"] is True for r in rows)
    assert rows[0]["identical_to"] == "sim.run" and rows[1]["identical_to"] == "1 rank"
    assert rows[0]["neurons"] == 2 * 64 * N and rows[0]["chips"] == "1x2"
    assert rows[0]["exchanged_words_per_tick"] == 0 < rows[1]["exchanged_words_per_tick"]
    assert len(rows[1]["peak_rss_mb_per_rank"]) == 2
