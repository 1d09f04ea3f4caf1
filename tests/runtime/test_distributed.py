"""One corelet on several ranks (nsc_runtime.distributed): bit-identical to one process.

In-process tests run the per-rank sub-corelets side by side (``run_partitioned``); the MPI
tests launch ``mpiexec -n K`` (the mpich wheel of the ``mpi`` extra) on 1..4 ranks, both
through the API and through ``nsc run``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsc_runtime import format as fmt
from nsc_runtime import hw, sim, synth
from nsc_runtime.corelet import Corelet, Port
from nsc_runtime.distributed import Checkpoint, chip_of, partition, run_partitioned
from nsc_runtime.errors import NscError

ROOT = Path(__file__).resolve().parents[2]
TICKS = 40


def multi_chip(n_cores: int = 8, seed: int = 3) -> Corelet:
    """A stress corelet (stochastic synapses, leaks and thresholds, every reset mode) whose
    cores are spread over the four chips of a 2 x 2 system, two per chip."""
    c = synth.stress_corelet(n_cores, seed)
    c.chips = (2, 2)
    chip = np.arange(n_cores) * 4 // n_cores
    local = np.arange(n_cores) - (chip * n_cores + 3) // 4
    c.position[:, 0] = (chip % 2) * hw.CORES_PER_CHIP_SIDE + local
    c.position[:, 1] = (chip // 2) * hw.CORES_PER_CHIP_SIDE
    c.validate()
    return c


def drive(c: Corelet, ticks: int = TICKS, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {p.name: (rng.random((ticks, p.n_lines)) < 0.3).astype(np.uint8) for p in c.inputs}


def assert_same(a: sim.Result, b: sim.Result) -> None:
    assert a.spikes.keys() == b.spikes.keys()
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name])
    assert a.counters == b.counters
    np.testing.assert_array_equal(a.v, b.v)
    assert a.v.dtype == b.v.dtype


def inter_chip_reference(c: Corelet, inputs: dict[str, np.ndarray], ticks: int) -> int:
    """Routed spikes between chips, counted independently: watch every neuron."""
    watched = Corelet(
        c.axon_types, c.crossbar, c.neurons, c.position, c.seeds, c.inputs, [], c.chips
    )
    n = hw.NEURONS_PER_CORE
    ids = np.arange(c.n_cores * n)
    watched.outputs = [
        Port.from_arrays("all", np.stack([ids // n, ids % n], 1), np.arange(ids.size + 1))
    ]
    fired = sim.run(watched, inputs, ticks).spikes["all"].reshape(ticks, c.n_cores, n)
    dest = c.neurons["dest_core"]
    chip = chip_of(c)
    crossing = (dest >= 0) & (chip[np.maximum(dest, 0)] != chip[:, None])
    return int((fired.astype(bool) & crossing[None]).sum())


def test_partition_prefers_whole_chips() -> None:
    c = multi_chip(8)
    assert partition(c, 1).tolist() == [0, 8]
    assert partition(c, 2).tolist() == [0, 4, 8]
    assert partition(c, 4).tolist() == [0, 2, 4, 6, 8]
    bounds = partition(c, 3)
    assert set(bounds.tolist()) <= {0, 2, 4, 6, 8} and len(set(bounds.tolist())) == 4
    assert partition(c, 10).tolist()[-1] == 8  # more ranks than cores: some own nothing
    with pytest.raises(NscError):
        partition(c, 0)


@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 9])
def test_partitioned_is_bit_identical(ranks: int) -> None:
    c = multi_chip()
    inputs = drive(c)
    want = sim.run(c, inputs, TICKS)
    got = run_partitioned(c, inputs, TICKS, ranks)
    assert_same(want, got.result)
    assert got.stats.ranks == ranks
    assert got.stats.inter_chip_spikes == inter_chip_reference(c, inputs, TICKS) > 0
    if ranks == 1:
        assert got.stats.exchanged_spikes == 0 and got.stats.windows == 1
    else:
        assert got.stats.exchanged_spikes > 0
        assert got.stats.window == 1  # the stress corelet has delay-1 routes between ranks


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.integers(0, 6), min_size=1, max_size=4),
    delay_min=st.integers(1, 15),
)
def test_any_bounds_and_window(seed: int, cuts: list[int], delay_min: int) -> None:
    """Arbitrary (even empty) blocks, and windows of several ticks (long minimum delays)."""
    c = synth.stress_corelet(6, seed)
    d = c.neurons["delay"]
    d[:] = np.clip(d, delay_min, hw.DELAY_MAX)
    inputs = drive(c, 30, seed)
    bounds = np.array([0, *sorted(cuts), 6], np.int64)
    got = run_partitioned(c, inputs, 30, len(bounds) - 1, bounds=bounds)
    assert_same(sim.run(c, inputs, 30), got.result)
    if got.stats.exchanged_spikes:
        assert got.stats.window >= delay_min


def test_inter_chip_off() -> None:
    """Without watching inter-chip neurons the results are the same; the count is None."""
    c = multi_chip()
    got = run_partitioned(c, drive(c), TICKS, 2, inter_chip=False)
    assert_same(sim.run(c, drive(c), TICKS), got.result)
    assert got.stats.inter_chip_spikes is None and got.stats.exchanged_spikes > 0


@pytest.mark.parametrize(("first", "second"), [(2, 3), (1, 4), (4, 1)])
def test_checkpoint_resumes_on_any_rank_count(first: int, second: int, tmp_path: Path) -> None:
    """Save after 17 ticks on ``first`` ranks, resume on ``second``: the outputs, counters
    and final potentials of the two parts are those of one uninterrupted run."""
    c = multi_chip()
    inputs = drive(c)
    whole = sim.run(c, inputs, TICKS)
    cut = 17
    head = run_partitioned(c, {k: a[:cut] for k, a in inputs.items()}, cut, first, checkpoint=True)
    assert head.checkpoint is not None and head.checkpoint.tick == cut
    head.checkpoint.save(str(tmp_path / "state.npz"))
    state = Checkpoint.load(str(tmp_path / "state.npz"))
    rest = {k: a[cut:] for k, a in inputs.items()}
    tail = run_partitioned(c, rest, TICKS - cut, second, resume=state, checkpoint=True)
    for name, spikes in whole.spikes.items():
        joined = np.concatenate([head.result.spikes[name], tail.result.spikes[name]])
        np.testing.assert_array_equal(joined, spikes)
    assert tail.result.counters == whole.counters
    np.testing.assert_array_equal(tail.result.v, whole.v)
    assert tail.checkpoint is not None and tail.checkpoint.tick == TICKS


def test_checkpoint_errors(tmp_path: Path) -> None:
    c = multi_chip()
    state = run_partitioned(c, None, 3, 2, checkpoint=True).checkpoint
    assert state is not None
    small = synth.stress_corelet(3, 0)
    with pytest.raises(NscError, match="cores"):
        run_partitioned(small, None, 3, 2, resume=state)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(NscError, match="checkpoint"):
        Checkpoint.load(str(tmp_path / "bad.npz"))


def test_bad_bounds() -> None:
    c = multi_chip()
    with pytest.raises(NscError, match="bounds"):
        run_partitioned(c, None, 5, 2, bounds=np.array([0, 9, 8]))
    with pytest.raises(NscError, match="bounds"):
        run_partitioned(c, None, 5, 2, bounds=np.array([0, 8]))


def test_random_corelet_over_chips() -> None:
    """A rate-targeted random corelet of 16 cores routed at random, on 4 x 4 chips."""
    c = synth.random_corelet(16, rate_hz=50, seed=1)
    c.chips = (4, 4)
    side = hw.CORES_PER_CHIP_SIDE
    c.position[:] = np.stack([np.arange(16) % 4 * side, np.arange(16) // 4 * side], axis=1)
    c.validate()
    want = sim.run(c, None, 50)
    for ranks in (2, 4, 16):
        got = run_partitioned(c, None, 50, ranks)
        assert_same(want, got.result)


# ---------------------------------------------------------------------------------------------
# under mpiexec


def mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    assert found, "mpiexec not found: install the mpi extra (pip install -e '.[mpi]')"
    return found


def launch(ranks: int, args: list[str], cwd: Path) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "runtime")])
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


WORKER = """
import sys
import numpy as np
from nsc_runtime import format as fmt
from nsc_runtime.distributed import run_distributed_stats
c = fmt.load(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
got = run_distributed_stats(c, inputs, int(sys.argv[3]))
if got is not None:
    r = got.result
    np.savez(sys.argv[4], v=r.v, exchanged=got.stats.exchanged_spikes,
             inter_chip=got.stats.inter_chip_spikes,
             **{"@" + k: v for k, v in r.counters.items()}, **r.spikes)
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Corelet, dict]:
    where = tmp_path_factory.mktemp("mpi")
    c = multi_chip()
    inputs = drive(c)
    fmt.save(c, where / "c.corelet")
    np.savez(where / "in.npz", **inputs)
    return where, c, inputs


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_mpi_ranks_bit_identical(ranks: int, system: tuple[Path, Corelet, dict]) -> None:
    """1..4 ranks (oversubscribed on 2 cores) give the single-process run byte for byte."""
    where, c, inputs = system
    out = where / f"api{ranks}.npz"
    launch(ranks, ["-c", WORKER, "c.corelet", "in.npz", str(TICKS), str(out)], where)
    want = sim.run(c, inputs, TICKS)
    with np.load(out) as got:
        np.testing.assert_array_equal(got["v"], want.v)
        for name, spikes in want.spikes.items():
            np.testing.assert_array_equal(got[name], spikes)
        assert {k: int(got["@" + k]) for k in want.counters} == want.counters
        assert int(got["inter_chip"]) == inter_chip_reference(c, inputs, TICKS)
        assert (int(got["exchanged"]) > 0) == (ranks > 1)


CHECKPOINT_WORKER = """
import sys
import numpy as np
from nsc_runtime import format as fmt
from nsc_runtime.distributed import Checkpoint, run_distributed_stats
c = fmt.load(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
lo, hi = int(sys.argv[3]), int(sys.argv[4])
resume = Checkpoint.load(sys.argv[5]) if lo else None
got = run_distributed_stats(c, {k: a[lo:hi] for k, a in inputs.items()}, hi - lo,
                            resume=resume, checkpoint=True)
if got is not None:
    got.checkpoint.save(sys.argv[6])
    np.savez(sys.argv[7], **got.result.spikes)
"""


def test_mpi_checkpoint_on_2_resume_on_3(system: tuple[Path, Corelet, dict]) -> None:
    """Save after 23 ticks under `mpiexec -n 2`, resume under `mpiexec -n 3`: identical to
    the uninterrupted single-process run (outputs, counters, final potentials)."""
    where, c, inputs = system
    cut = "23"
    args = ["-c", CHECKPOINT_WORKER, "c.corelet", "in.npz"]
    launch(2, [*args, "0", cut, "-", "s1.npz", "o1.npz"], where)
    launch(3, [*args, cut, str(TICKS), "s1.npz", "s2.npz", "o2.npz"], where)
    want = sim.run(c, inputs, TICKS)
    end = Checkpoint.load(str(where / "s2.npz"))
    assert end.tick == TICKS and end.counters == want.counters
    np.testing.assert_array_equal(end.v, want.v)
    with np.load(where / "o1.npz") as a, np.load(where / "o2.npz") as b:
        for name, spikes in want.spikes.items():
            np.testing.assert_array_equal(np.concatenate([a[name], b[name]]), spikes)


@pytest.mark.parametrize("ranks", [2, 3])
def test_nsc_run_under_mpiexec(ranks: int, system: tuple[Path, Corelet, dict]) -> None:
    """`mpiexec -n K nsc run ... --raw` writes the same file as `nsc run` on one process."""
    where, _, _ = system
    args = ["c.corelet", "--raw", "--input", "in.npz", "--ticks", str(TICKS)]
    one = subprocess.run(
        [sys.executable, "-m", "nsc.cli", "run", *args, "-o", "one.npz"],
        cwd=where,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime")])),
        capture_output=True,
        text=True,
        check=False,
    )
    assert one.returncode == 0, one.stderr
    printed = launch(ranks, ["-m", "nsc.cli", "run", *args, "-o", f"mpi{ranks}.npz"], where)
    assert f"ranks: {ranks}" in printed and printed.count("wrote") == 1  # rank 0 alone reports
    with np.load(where / "one.npz") as a, np.load(where / f"mpi{ranks}.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_compiled_model_under_mpiexec(tmp_path: Path) -> None:
    """A compiled network (an Elman RNN of 64 units on 21 cores) gives the same spikes,
    counters and potentials on 2 ranks; its model mode (`nsc run m.corelet --input x.npz`)
    under `mpiexec -n 2` writes the same file as on one process."""
    torch = pytest.importorskip("torch")
    import nsc

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.RNN(3, 64, nonlinearity="relu", batch_first=True)
            self.fc = torch.nn.Linear(64, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    rng = np.random.default_rng(0)
    example = rng.integers(0, 16, (16, 6, 3)).astype(np.float64)
    compiled = nsc.compile(Net().eval(), example, time_limit=2)
    compiled.save(tmp_path / "m.corelet")
    c = compiled.corelet
    assert c.n_cores > 4 and (c.neurons["dest_core"] >= 0).any()
    inputs = drive(c, 60, 1)
    np.savez(tmp_path / "in.npz", **inputs)
    launch(2, ["-c", WORKER, "m.corelet", "in.npz", "60", "two.npz"], tmp_path)
    want = sim.run(c, inputs, 60)
    with np.load(tmp_path / "two.npz") as got:
        np.testing.assert_array_equal(got["v"], want.v)
        for name, spikes in want.spikes.items():
            np.testing.assert_array_equal(got[name], spikes)
        assert {k: int(got["@" + k]) for k in want.counters} == want.counters
        assert int(got["exchanged"]) > 0
    # model mode: the host program on every rank, the cores of each batch over both ranks
    np.savez(tmp_path / "x.npz", x=example[:3])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime")]))
    args = ["-m", "nsc.cli", "run", "m.corelet", "--input", "x.npz"]
    one = subprocess.run(
        [sys.executable, *args, "-o", "y1.npz"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert one.returncode == 0, one.stderr
    printed = launch(2, [*args, "-o", "y2.npz"], tmp_path)
    assert printed.count("wrote") == 1  # rank 0 alone reports
    with np.load(tmp_path / "y1.npz") as a, np.load(tmp_path / "y2.npz") as b:
        assert sorted(a.files) == sorted(b.files) and "y" in a.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(a["y"], compiled.run(example[:3], last=True))
