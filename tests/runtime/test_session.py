"""A run in parts on one ``distributed.Session`` (``nsc run --checkpoint-every``): each rank's
plan and kernel are built once, and every part (outputs, counters, potentials, checkpoint,
exchanged and inter-chip spikes) equals the part run as a separate resumed run (the code
before the session), byte for byte; the parts joined equal the uninterrupted run, on one
process and under ``mpiexec -n 2`` and ``-n 3``, also resumed on another rank count."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_distributed import TICKS, assert_same, drive, inter_chip_reference, launch, multi_chip
from test_scale_out import cli, same_files

from nsc_runtime import distributed, sim
from nsc_runtime import format as fmt
from nsc_runtime.corelet import Corelet
from nsc_runtime.distributed import (
    Checkpoint,
    DistributedResult,
    OneProcess,
    Session,
    run_distributed_stats,
    run_partitioned,
)
from nsc_runtime.reference import COUNTERS

HERE = Path(__file__).resolve().parent


def in_parts(
    c: Corelet,
    inputs: dict[str, np.ndarray],
    lo: int,
    hi: int,
    every: int,
    resume: Checkpoint | None,
    comm: Any,
    session: bool,
) -> list[DistributedResult]:
    """Ticks ``lo..hi-1`` in parts of ``every`` ticks, each ending with a checkpoint: on one
    ``Session`` (``session``), or as separate runs each resuming from the previous part's
    checkpoint, broadcast to every rank (what `nsc run --checkpoint-every` did before the
    session). Rank 0 gets the parts' results, the other ranks []."""
    done: list[DistributedResult] = []
    one = Session(c, comm, resume=resume) if session else None
    state = resume
    for t0 in range(lo, hi, every):
        t1 = min(hi, t0 + every)
        part = {k: a[t0:t1] for k, a in inputs.items()}
        if one is not None:
            got = one.run(part, t1 - t0, checkpoint=True)
        else:
            got = run_distributed_stats(c, part, t1 - t0, comm, resume=state, checkpoint=True)
            state = comm.bcast(got.checkpoint if got is not None else None, root=0)
        if got is not None:
            done.append(got)
    return done


def part_arrays(got: DistributedResult) -> dict[str, Any]:
    """Everything a part gives, as arrays (its checkpoint's under ``ck_``)."""
    r, ck = got.result, got.checkpoint
    assert ck is not None
    arrays: dict[str, Any] = dict(r.spikes)
    arrays.update({"@" + k: np.int64(v) for k, v in r.counters.items()})
    arrays.update(v=r.v, ticks=np.int64(r.ticks), ck_tick=np.int64(ck.tick))
    arrays.update(ck_v=ck.v, ck_ring=ck.ring)
    arrays.update({"ck@" + k: np.int64(v) for k, v in ck.counters.items()})
    arrays["exchanged"] = np.int64(got.stats.exchanged_spikes)
    arrays["inter_chip"] = np.int64(got.stats.inter_chip_spikes or 0)
    arrays["windows"] = np.int64(got.stats.windows)
    return arrays


def same_parts(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert sorted(x) == sorted(y)
        for k in x:
            assert np.asarray(x[k]).dtype == np.asarray(y[k]).dtype, k
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def joined_equal(
    parts: list[dict[str, Any]], c: Corelet, inputs: dict[str, np.ndarray], hi: int
) -> None:
    """The parts (which end at ``hi``) joined equal the uninterrupted run of ``hi`` ticks
    from tick 0: outputs of the parts' ticks, counters, potentials, final checkpoint (its
    rings: those of the uninterrupted ``run_partitioned``, which runs no session)."""
    inputs = {k: a[:hi] for k, a in inputs.items()}
    want = sim.run(c, inputs, hi)
    ring = run_partitioned(c, inputs, hi, 1, checkpoint=True).checkpoint
    first = hi - sum(int(p["ticks"]) for p in parts)
    for name, spikes in want.spikes.items():
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), spikes[first:])
    last = parts[-1]
    assert {k: int(last["@" + k]) for k in COUNTERS} == want.counters
    assert {k: int(last["ck@" + k]) for k in COUNTERS} == want.counters
    np.testing.assert_array_equal(last["v"], want.v)
    np.testing.assert_array_equal(last["ck_v"], want.v)
    assert ring is not None
    np.testing.assert_array_equal(last["ck_ring"], ring.ring)
    assert int(last["ck_tick"]) == hi


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count the calls of ``module.name`` (one entry per call)."""
    calls: list[int] = []
    original: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("every", [1, 7, 9, 40])
def test_session_parts_equal_separate_runs(every: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On one process (``OneProcess``): the session builds the plan and the kernel tables
    once; each part equals the separate resumed run of the code before it, and the parts
    joined equal ``sim.run``."""
    c = multi_chip()
    inputs = drive(c)
    plans = counting(monkeypatch, distributed, "_plan")
    tables = counting(monkeypatch, sim, "build_tables")
    session = [
        part_arrays(g) for g in in_parts(c, inputs, 0, TICKS, every, None, OneProcess(), True)
    ]
    assert (len(plans), len(tables)) == (1, 1)
    separate = [
        part_arrays(g) for g in in_parts(c, inputs, 0, TICKS, every, None, OneProcess(), False)
    ]
    assert len(plans) == 1 + len(separate) == 1 + -(-TICKS // every)
    same_parts(session, separate)
    joined_equal(session, c, inputs, TICKS)
    assert sum(int(p["inter_chip"]) for p in session) == inter_chip_reference(c, inputs, TICKS)


def test_session_resumes_and_resets() -> None:
    """A session from a checkpoint continues the uninterrupted run; ``reset`` starts a new,
    independent run on the same tables (what ``run_distributed_batch`` does per item)."""
    c = multi_chip()
    inputs = drive(c)
    head = run_distributed_stats(
        c, {k: a[:13] for k, a in inputs.items()}, 13, OneProcess(), checkpoint=True
    )
    assert head is not None and head.checkpoint is not None
    tail = in_parts(c, inputs, 13, TICKS, 10, head.checkpoint, OneProcess(), True)
    joined_equal([part_arrays(g) for g in tail], c, inputs, TICKS)
    session = Session(c, OneProcess())
    session.run(inputs, TICKS)
    session.reset()
    again = session.run(inputs, TICKS, checkpoint=True)
    assert again is not None and again.checkpoint is not None
    assert_same(sim.run(c, inputs, TICKS), again.result)
    assert again.checkpoint.tick == TICKS and session.tick == TICKS


def test_cli_checkpoint_every_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nsc run --checkpoint-every 7` (in this process, no MPI) plans each rank and builds its
    kernel tables once for the whole run; its file and final checkpoint equal the
    uninterrupted run's."""
    from nsc.cli import main

    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    c = multi_chip()
    inputs = drive(c, TICKS, 6)
    fmt.save(c, tmp_path / "c.corelet")
    np.savez(tmp_path / "in.npz", **inputs)
    run = ["run", str(tmp_path / "c.corelet"), "--input", str(tmp_path / "in.npz")]
    assert main([*run, "-o", str(tmp_path / "full.npz")]) == 0
    plans = counting(monkeypatch, distributed, "_plan")
    tables = counting(monkeypatch, sim, "build_tables")
    every = ["--checkpoint", str(tmp_path / "s.npz"), "--checkpoint-every", "7"]
    assert main([*run, *every, "-o", str(tmp_path / "every.npz")]) == 0
    assert (len(plans), len(tables)) == (1, 1)
    same_files(tmp_path / "every.npz", tmp_path / "full.npz")
    state = Checkpoint.load(str(tmp_path / "s.npz"))
    want = sim.run(c, inputs, TICKS)
    assert state.tick == TICKS and state.counters == want.counters
    np.testing.assert_array_equal(state.v, want.v)


# ---------------------------------------------------------------------------------------------
# under mpiexec

WORKER = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from test_session import worker
worker(sys.argv[1:])
"""


def worker(argv: list[str]) -> None:
    """Under mpiexec: CORELET INPUTS LO HI EVERY RESUME|- PREFIX: ticks LO..HI in parts of
    EVERY, on a session and as separate runs; rank 0 writes PREFIX.{session,separate}.I.npz
    for every part I."""
    from nsc_runtime.distributed import mpi_world

    path, given, lo, hi, every, resume, prefix = argv
    c = fmt.load(path)
    inputs = dict(np.load(given))
    state = Checkpoint.load(resume) if resume != "-" else None
    comm = mpi_world()
    for mode in ("session", "separate"):
        got = in_parts(c, inputs, int(lo), int(hi), int(every), state, comm, mode == "session")
        for i, g in enumerate(got):
            np.savez(f"{prefix}.{mode}.{i}.npz", **part_arrays(g))
            if mode == "session" and g.checkpoint is not None:
                g.checkpoint.save(f"{prefix}.state.{i}.npz")


def read_parts(where: Path, prefix: str, mode: str) -> list[dict[str, Any]]:
    parts = []
    for path in sorted(where.glob(f"{prefix}.{mode}.*.npz"), key=lambda p: int(p.suffixes[-2][1:])):
        with np.load(path) as f:
            parts.append({k: f[k] for k in f.files})
    return parts


@pytest.fixture(scope="module")
def mpi_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Corelet, dict]:
    where = tmp_path_factory.mktemp("session")
    c = multi_chip()  # routes of delay >= 4: windows of 4 ticks, which parts cut short
    c.neurons["delay"][:] = np.maximum(c.neurons["delay"], 4)
    inputs = drive(c, TICKS, 7)
    fmt.save(c, where / "c.corelet")
    np.savez(where / "in.npz", **inputs)
    return where, c, inputs


def test_mpi_session_parts_then_resume_on_3(mpi_dir: tuple[Path, Corelet, dict]) -> None:
    """Under `mpiexec -n 2`, ticks 0..22 in parts of 6 on a session equal the separate runs
    part by part (checkpoints and exchanged spikes included) and the uninterrupted run; the
    checkpoint after tick 18 resumed on a session under `mpiexec -n 3` (ticks 18..39 in
    parts of 8) and on one process (in parts of 5): the same again, to the end."""
    where, c, inputs = mpi_dir
    launch(2, ["-c", WORKER, "c.corelet", "in.npz", "0", "23", "6", "-", "two"], where)
    two = read_parts(where, "two", "session")
    same_parts(two, read_parts(where, "two", "separate"))
    assert len(two) == 4 and all(int(p["exchanged"]) > 0 for p in two)
    assert [int(p["windows"]) for p in two] == [2, 2, 2, 2]  # 4 + 2 ticks, 4 + 1 at the end
    joined_equal(two, c, inputs, 23)
    mid = str(where / "two.state.2.npz")  # after tick 18
    assert Checkpoint.load(mid).tick == 18
    launch(3, ["-c", WORKER, "c.corelet", "in.npz", "18", str(TICKS), "8", mid, "three"], where)
    three = read_parts(where, "three", "session")
    same_parts(three, read_parts(where, "three", "separate"))
    joined_equal(three, c, inputs, TICKS)
    one = in_parts(c, inputs, 18, TICKS, 5, Checkpoint.load(mid), OneProcess(), True)
    ones = [part_arrays(g) for g in one]
    joined_equal(ones, c, inputs, TICKS)


def exchanged(printed: str) -> int:
    line = next(x for x in printed.splitlines() if "spikes exchanged" in x)
    return int(line.split(":")[-1].split()[0])


def test_mpi_cli_checkpoint_every_sums_the_parts(mpi_dir: tuple[Path, Corelet, dict]) -> None:
    """`mpiexec -n 2 nsc run --checkpoint-every 6` writes the uninterrupted run's file and
    final state, and reports the inter-chip and exchanged spikes of the whole run (summed
    over the parts: what the run without checkpoints reports)."""
    where, _, _ = mpi_dir
    args = ["-m", "nsc.cli", "run", "c.corelet", "--input", "in.npz"]
    whole = launch(2, [*args, "-o", "w2.npz"], where)
    every = ["--checkpoint", "e.npz", "--checkpoint-every", "6"]
    parts = launch(2, [*args, *every, "-o", "e2.npz"], where)
    cli(["run", "c.corelet", "--input", "in.npz", "-o", "w1.npz"], where)
    same_files(where / "e2.npz", where / "w1.npz")
    same_files(where / "w2.npz", where / "w1.npz")
    assert exchanged(parts) == exchanged(whole) > 0
    chips = [x for x in whole.splitlines() if "inter_chip_spikes" in x]
    assert chips and chips == [x for x in parts.splitlines() if "inter_chip_spikes" in x]
    assert f"checkpoint: tick {TICKS} in e.npz" in parts
    state = Checkpoint.load(str(where / "e.npz"))
    with np.load(where / "w1.npz") as full:
        assert state.tick == TICKS
        assert all(state.counters[k] == int(full["@" + k]) for k in COUNTERS)
