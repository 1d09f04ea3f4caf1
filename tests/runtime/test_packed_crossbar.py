"""Loaded corelets keep the file's packed crossbar rows (1 bit per synapse) and run from them:
the same results as the in-memory bool corelet, the bool crossbar never built on the run
path (``Simulator``, ``run_partitioned``, ``load_part`` / ``load_rank`` under mpiexec), the
same bytes when written again, and the same errors for a damaged crossbar section."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_distributed import TICKS, assert_same, drive, launch, multi_chip

from nsc_runtime import Corelet, CoreletError, CoreletFormatError, hw, reference, sim
from nsc_runtime import format as fmt
from nsc_runtime.corelet import ROW_BYTES, pack_crossbar, unpack_crossbar
from nsc_runtime.distributed import (
    OneProcess,
    partition,
    plan_rank,
    run_distributed_stats,
    run_partitioned,
)

A, N = hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE


def never_unpacked(c: Corelet) -> bool:
    """The corelet still holds only its packed rows: the cached bool crossbar was never built."""
    return c.crossbar_is_packed and c._crossbar is None


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Corelet, dict]:
    where = tmp_path_factory.mktemp("packed")
    c = multi_chip(8)  # stochastic synapses and neurons, every reset mode, 4 chips
    fmt.save(c, where / "c.corelet")
    return where / "c.corelet", c, drive(c)


def test_loaded_corelet_runs_from_packed_rows(saved: tuple[Path, Corelet, dict]) -> None:
    path, c, inputs = saved
    loaded = fmt.load(path)
    assert never_unpacked(loaded)
    assert loaded.crossbar_packed.shape == (8, A, ROW_BYTES)
    assert loaded.crossbar_packed.dtype == np.uint8
    runner = sim.Simulator(loaded)
    got = runner.run(inputs, TICKS)
    batch = runner.run_batch([inputs, drive(c, seed=1)], TICKS)
    assert never_unpacked(loaded)
    # the kernel reads the loaded rows themselves: no copy, no bool array
    assert np.shares_memory(runner.tables["xbar"], loaded.crossbar_packed)
    assert_same(sim.run(c, inputs, TICKS), got)
    want = sim.run_batch(c, [inputs, drive(c, seed=1)], TICKS)
    for name in want.spikes:
        np.testing.assert_array_equal(want.spikes[name], batch.spikes[name])
    np.testing.assert_array_equal(want.v, batch.v)
    # every kernel table identical to the one built from the bool crossbar
    from_bool, from_packed = sim.build_tables(c), sim.build_tables(loaded)
    assert from_bool.keys() == from_packed.keys()
    for name, table in from_bool.items():
        np.testing.assert_array_equal(table, from_packed[name], err_msg=name)
    # written again while packed: the same bytes
    assert fmt.dumps(loaded) == path.read_bytes()
    assert never_unpacked(loaded)


def test_reading_crossbar_unpacks_once_then_bool_is_the_crossbar(
    saved: tuple[Path, Corelet, dict],
) -> None:
    path, c, inputs = saved
    loaded = fmt.load(path)
    with pytest.raises(ValueError, match="read-only"):
        loaded.crossbar_packed[0, 0, 0] = 1  # the kernel may share these rows
    xbar = loaded.crossbar
    assert xbar.dtype == np.bool_ and xbar.shape == (8, A, N)
    np.testing.assert_array_equal(xbar, c.crossbar)
    assert not loaded.crossbar_is_packed and loaded.crossbar is xbar  # cached
    assert_same(reference.simulate(loaded, inputs, TICKS), sim.run(loaded, inputs, TICKS))
    assert fmt.dumps(loaded) == path.read_bytes()
    xbar[0, 0, 0] = not xbar[0, 0, 0]  # an edit of the bool crossbar is the crossbar now
    np.testing.assert_array_equal(loaded.crossbar_packed, pack_crossbar(xbar))
    assert fmt.loads(fmt.dumps(loaded)).crossbar_packed[0, 0, 0] & 1 == xbar[0, 0, 0]
    loaded.crossbar_packed = pack_crossbar(c.crossbar)  # assigning packed rows replaces it
    assert loaded.crossbar_is_packed and fmt.dumps(loaded) == path.read_bytes()


def test_partitioned_and_load_part_runs_never_unpack(
    saved: tuple[Path, Corelet, dict],
) -> None:
    path, c, inputs = saved
    want = sim.run(c, inputs, TICKS)
    loaded = fmt.load(path)
    for ranks in (1, 3):
        assert_same(want, run_partitioned(loaded, inputs, TICKS, ranks).result)
    assert never_unpacked(loaded)
    whole, (lo, hi) = fmt.load_part(path, lambda n, chips, pos: (0, n))
    assert (lo, hi) == (0, 8)
    got = run_distributed_stats(whole, inputs, TICKS, OneProcess())
    assert got is not None
    assert_same(want, got.result)
    assert never_unpacked(whole)
    # a rank's part: its sub-corelet holds the file's rows of its cores, and the kernel
    # tables built from them are the ones built from the in-memory bool corelet
    bounds = partition(c, 2)
    for rank in range(2):
        own = (int(bounds[rank]), int(bounds[rank + 1]))
        part, got_range = fmt.load_part(path, lambda n, chips, pos, own=own: own)
        assert got_range == own
        sub = plan_rank(part, bounds, rank).corelet
        assert never_unpacked(part) and never_unpacked(sub)
        tables = sim.build_tables(sub)
        assert np.shares_memory(tables["xbar"], part.crossbar_packed)
        for name, table in sim.build_tables(plan_rank(c, bounds, rank).corelet).items():
            np.testing.assert_array_equal(table, tables[name], err_msg=name)
        assert never_unpacked(part) and never_unpacked(sub)
        # the cores of other ranks: zeros, unpacked only on request
        assert not part.crossbar_packed[: own[0]].any() and not part.crossbar_packed[own[1] :].any()
        np.testing.assert_array_equal(part.crossbar[own[0] : own[1]], c.crossbar[own[0] : own[1]])


RANK_WORKER = """
import sys
import numpy as np
from mpi4py import MPI
from nsc_runtime import sim
from nsc_runtime.distributed import load_rank, run_distributed_stats
c = load_rank(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
got = run_distributed_stats(c, inputs, int(sys.argv[3]))
packed = MPI.COMM_WORLD.gather(bool(c.crossbar_is_packed and c._crossbar is None), root=0)
if got is not None:
    r = got.result
    np.savez(sys.argv[4], v=r.v, packed=np.array(packed),
             **{"@" + k: v for k, v in r.counters.items()}, **r.spikes)
"""


def test_load_rank_under_mpiexec_never_unpacks(
    saved: tuple[Path, Corelet, dict], tmp_path: Path
) -> None:
    path, c, inputs = saved
    np.savez(tmp_path / "in.npz", **inputs)
    out = tmp_path / "out.npz"
    launch(2, ["-c", RANK_WORKER, str(path), "in.npz", str(TICKS), str(out)], tmp_path)
    want = sim.run(c, inputs, TICKS)
    with np.load(out) as got:
        assert got["packed"].tolist() == [True, True]
        np.testing.assert_array_equal(got["v"], want.v)
        for name, spikes in want.spikes.items():
            np.testing.assert_array_equal(got[name], spikes)
        assert {k: int(got["@" + k]) for k in want.counters} == want.counters


def random_crossbar(draw: st.DrawFn) -> np.ndarray:
    cores = draw(st.integers(0, 3))
    kind = draw(st.sampled_from(["random", "zeros", "ones", "one bit"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.random((cores, A, N)) < draw(st.floats(0.0, 1.0))
    xbar = np.full((cores, A, N), kind == "ones")
    if kind == "one bit" and cores:
        xbar[rng.integers(cores), rng.integers(A), rng.integers(N)] = True
    return xbar


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_pack_unpack_round_trip(data: st.DataObject) -> None:
    xbar = data.draw(st.composite(random_crossbar)())
    packed = pack_crossbar(xbar)
    assert packed.shape == (xbar.shape[0], A, ROW_BYTES) and packed.dtype == np.uint8
    assert packed.__array_interface__["data"][0] % 64 == 0 or not packed.size
    # the file's definition: byte j // 8 of row i, bit j % 8 (LSB first) = w_ij
    flat = np.packbits(xbar.reshape(-1), bitorder="little")
    np.testing.assert_array_equal(packed.reshape(-1), flat)
    if xbar.size:
        c, i, j = (
            int(v) for v in np.unravel_index(data.draw(st.integers(0, xbar.size - 1)), xbar.shape)
        )
        assert bool((packed[c, i, j // 8] >> (j % 8)) & 1) == bool(xbar[c, i, j])
    back = unpack_crossbar(packed)
    assert back.dtype == np.bool_
    np.testing.assert_array_equal(back, xbar)
    rows = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(
        0, 256, (xbar.shape[0], A, ROW_BYTES), dtype=np.uint8
    )
    np.testing.assert_array_equal(pack_crossbar(unpack_crossbar(rows)), rows)
    # a corelet: the bool and the packed form write the same file, which loads packed
    bool_form = Corelet.empty(xbar.shape[0])
    bool_form.crossbar = xbar
    packed_form = Corelet.empty(xbar.shape[0])
    packed_form.crossbar_packed = packed
    assert packed_form.crossbar_is_packed
    packed_form.validate()
    blob = fmt.dumps(bool_form)
    assert fmt.dumps(packed_form) == blob and never_unpacked(packed_form)
    loaded = fmt.loads(blob)
    assert never_unpacked(loaded)
    np.testing.assert_array_equal(loaded.crossbar_packed, packed)
    assert fmt.dumps(loaded) == blob
    np.testing.assert_array_equal(loaded.crossbar, xbar)


def test_constructor_and_validation_of_packed_rows() -> None:
    c = Corelet.empty(2)
    args = (c.axon_types, None, c.neurons, c.position, c.seeds)
    packed = Corelet(*args, crossbar_packed=np.zeros((2, A, ROW_BYTES), np.uint8))
    packed.validate()
    assert never_unpacked(packed)
    with pytest.raises(CoreletError, match="not both"):
        Corelet(c.axon_types, c.crossbar, *args[2:], crossbar_packed=packed.crossbar_packed)
    for bad, match in [
        (np.zeros((2, A, ROW_BYTES), np.int16), r"crossbar = 'dtype int16'.*uint8"),
        (np.zeros((2, A, N), np.uint8), r"crossbar = 'shape \(2, 256, 256\)'"),
        (np.zeros((3, A, ROW_BYTES), np.uint8), r"crossbar = 'shape \(3, 256, 32\)'"),
    ]:
        wrong = Corelet(*args, crossbar_packed=bad)
        with pytest.raises(CoreletError, match=match):
            wrong.validate()
        with pytest.raises(CoreletError, match=match):
            fmt.dumps(wrong)
        assert never_unpacked(wrong)
    with pytest.raises(CoreletError, match="crossbar = 'NoneType'"):
        Corelet(*args).validate()


def core_section(data: bytes) -> tuple[int, int]:
    """(offset of the CORE section header, offset of the crossbar rows)."""
    at = fmt.HEADER.size
    assert fmt.SECTION.unpack_from(data, at)[0] == b"CORE"
    n_cores = fmt.HEADER.unpack_from(data, 0)[4]
    return at, at + fmt.SECTION.size + len(fmt.FIELD_TABLE) + n_cores * A


def refit(data: bytearray) -> bytes:
    """Fix the header's file size and the checksum after an edit."""
    struct.pack_into("<Q", data, 24, len(data))
    data[-fmt.DIGEST_SIZE :] = hashlib.sha256(bytes(data[: -fmt.DIGEST_SIZE])).digest()
    return bytes(data)


def load_both(tmp_path: Path, data: bytes) -> list[str]:
    """The messages of ``load`` and ``load_part`` for ``data`` (both must raise)."""
    path = tmp_path / "bad.corelet"
    path.write_bytes(data)
    messages = []
    for read in (fmt.load, lambda p: fmt.load_part(p, lambda n, chips, pos: (0, n))):
        with pytest.raises(CoreletFormatError) as err:
            read(path)
        messages.append(str(err.value))
    return messages


@pytest.mark.parametrize("cut", [1, 32, 8192])
def test_short_crossbar_section_gives_the_clear_error(tmp_path: Path, cut: int) -> None:
    data = fmt.dumps(multi_chip(8))
    section, rows = core_section(data)
    # truncated inside the crossbar rows: the header's size says so
    for message in load_both(tmp_path, data[: rows + 100]):
        assert f"file is truncated: the header (byte 24) says {len(data)} bytes" in message
    # rows cut out, every length and the checksum made consistent: the arrays' size says so
    short = bytearray(data)
    del short[rows + 1000 : rows + 1000 + cut]
    tag, reserved, length = fmt.SECTION.unpack_from(short, section)
    fmt.SECTION.pack_into(short, section, tag, reserved, length - cut)
    need = 8 * fmt.CORE_BYTES
    for message in load_both(tmp_path, refit(short)):
        assert (
            f"section CORE: 8 cores need {need} bytes of arrays, the section has {need - cut}"
            in message
        )
    # a flipped bit in the rows: the checksum
    flipped = bytearray(data)
    flipped[rows + 5] ^= 0x10
    for message in load_both(tmp_path, bytes(flipped)):
        assert "checksum mismatch" in message
    # the same flip with a recomputed checksum is a valid file: exactly that synapse differs
    back = fmt.loads(refit(flipped))
    assert never_unpacked(back)
    diff = np.argwhere(back.crossbar != multi_chip(8).crossbar)
    assert diff.tolist() == [[0, 0, 5 * 8 + 4]]
