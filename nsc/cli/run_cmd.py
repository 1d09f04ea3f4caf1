"""`nsc run CORELET --input X -o OUT.npz`: run a compiled model, or a corelet's raw spikes.

Two modes, chosen by one rule: a corelet that carries a host program (written by
`nsc compile` / `Compiled.save`) runs in **model mode** unless `--raw` is given; a corelet
without one (`nsc corelet random`) always runs in **raw mode**.

- Model mode: `--input` holds the model's inputs (`.npy`, or `.npz` with `x` and optionally
  `lengths`); the host program and the cores run them (ticks derived from the lengths) and
  OUT.npz holds `y`, what the PyTorch model returns as integers, its `scale` when known, the
  `lengths` and the counters.
- Raw mode: `--input` holds one spike array per input port; OUT.npz holds the output ports'
  spikes and the counters (format: docs/runtime.md, "Files").

Several processes: launched by `mpiexec -n N` with N > 1 (detected from the launcher's
environment, then mpi4py's COMM_WORLD), a run splits the cores over the N ranks
(`nsc_runtime.distributed`, docs/scaling.md); the results are identical to one process and
rank 0 writes OUT.npz. In model mode every rank runs the host program and the cores of each
batch run over all ranks (`run_distributed_batch`).

Checkpoints (raw mode): `--checkpoint PATH` writes the state at the end of the run (and every
`--checkpoint-every N` ticks), `--resume PATH` continues from one, on any number of ranks; the
resumed run's inputs and outputs start at the checkpoint's tick and its counters include the
checkpoint's, so the parts of a run joined equal the uninterrupted run. The parts of one
command are run by one `distributed.Session`: each rank's plan and kernel are built once, and
the report's inter-chip and exchanged spikes are summed over the parts.

Imports only numpy and nsc_runtime until a model run needs the compiler, so it starts fast.
"""

from __future__ import annotations

import argparse
import zipfile
from typing import TYPE_CHECKING, Any

from nsc_runtime.atomic import atomic_outputs
from nsc_runtime.errors import NscError

from ._util import check_outputs, human_bytes, int_arg, load_npy, memory_budget

if TYPE_CHECKING:
    import numpy as np

    from nsc_runtime import Corelet
    from nsc_runtime.reference import Result

COUNTER_PREFIX = "@"  # output-file keys of counters; port names never start with it
MAX_TICKS = 2**31 - 1
MAX_THREADS = 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a compiled model on its inputs, or a corelet on raw spikes",
        description="Run a corelet tick by tick (1 tick = 1 ms) in the compiled runtime. "
        "A corelet from `nsc compile` runs the model: --input holds its inputs x (batch, "
        "steps, features) and OUT.npz gets y, what the PyTorch model returns (integers; "
        "y * scale approximates the float model), and the counters; ticks are derived. "
        "With --raw, or for a corelet without a host program, --input holds one spike array "
        "per input port and OUT.npz gets one uint8 (ticks, lines) array per output port.",
    )
    p.add_argument("corelet", help="corelet binary (from `nsc compile` or `nsc corelet random`)")
    p.add_argument(
        "--input",
        metavar="X.npz",
        help="model mode: x.npy, or an .npz with x (batch, steps, features) of integer "
        "activities and optionally lengths (batch,) for sequences of different lengths; "
        "raw mode: an .npz with one uint8/bool (ticks, lines) array per input port name "
        "(missing ports are silent)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="feed raw spikes to the ports of a compiled corelet (the default for corelets "
        "without a host program)",
    )
    p.add_argument(
        "--ticks",
        type=int_arg(0, MAX_TICKS),
        help="raw mode: ticks to run, >= 0 (default: the longest input array); the spike "
        "arrays of a run must fit in half the machine's memory",
    )
    p.add_argument("-o", "--output", metavar="OUT.npz", required=True, help="output file")
    p.add_argument(
        "--threads",
        type=int_arg(1, MAX_THREADS),
        default=1,
        help="threads for the cores of one run (default 1; results are identical for any "
        "value; more only help when that many CPUs are idle)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="STATE.npz",
        help="raw mode: write the run's state (potentials, spikes in flight, tick, counters) "
        "to this file at the end of the run, and every --checkpoint-every ticks; --resume "
        "continues from it on any number of processes",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int_arg(1, MAX_TICKS),
        metavar="N",
        help="with --checkpoint: also write it every N ticks, 1..2**31-1 (the run goes in parts "
        "of N ticks; results are identical)",
    )
    p.add_argument(
        "--resume",
        metavar="STATE.npz",
        help="raw mode: continue from a --checkpoint file of this corelet; --input and the "
        "outputs then start at the checkpoint's tick, the counters include the checkpoint's",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: on a terminal, for long runs)",
    )
    p.set_defaults(handler=run)


def load_inputs(path: str) -> dict[str, np.ndarray]:
    """The arrays of an input .npz file, by name."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NscError(f"input file {path!r} does not exist") from None
    except IsADirectoryError:
        raise NscError(f"--input {path!r} is a folder, expected an .npz file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise NscError(f"cannot read input file {path!r} as .npz: {err}") from None
    if isinstance(data, np.ndarray):
        raise NscError(
            f"--input {path!r} is one .npy array; --input takes an .npz with one array per "
            "input port name: numpy.savez('in.npz', **{'PORT': spikes}) (ports: nsc corelet info)"
        )
    try:
        with data:
            unpacked = sum(info.file_size for info in data.zip.infolist())
            if unpacked > memory_budget():
                raise NscError(
                    f"--input {path!r}: its arrays unpack to {human_bytes(unpacked)}, more than "
                    f"{human_bytes(memory_budget())} (half this machine's memory)"
                )
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise NscError(f"cannot read input file {path!r} as .npz: {err}") from None


def run_bytes(corelet: Corelet, ticks: int) -> int:
    """Bytes of the spike arrays a run of ``ticks`` ticks holds (inputs, outputs, the file)."""
    lines_in = sum(len(p.lines) for p in corelet.inputs)
    lines_out = sum(len(p.lines) for p in corelet.outputs)
    return ticks * (lines_in + 2 * lines_out)


def check_run_size(corelet: Corelet, ticks: int, option: str = "--ticks") -> None:
    """Refuse a run whose spike arrays would not fit in memory, before allocating them."""
    need, budget = run_bytes(corelet, ticks), memory_budget()
    if need > budget:
        lines = sum(len(p.lines) for p in corelet.inputs + corelet.outputs)
        fewer = "ticks" if option == "--ticks" else "sequences or steps"
        raise NscError(
            f"{option} {ticks:,}: the spike arrays ({lines:,} port lines x {ticks:,} ticks) "
            f"need about {human_bytes(need)}, more than {human_bytes(budget)} (half this "
            f"machine's memory); run fewer {fewer}"
        )


def run(args: argparse.Namespace) -> int:
    from nsc_runtime import format as fmt

    if args.checkpoint_every is not None and args.checkpoint is None:
        raise NscError("--checkpoint-every needs --checkpoint STATE.npz (where to write it)")
    outputs = [args.output] + ([args.checkpoint] if args.checkpoint else [])
    if args.checkpoint is not None and args.checkpoint in (args.output, args.resume):
        raise NscError(
            f"--checkpoint {args.checkpoint!r} must differ from -o and --resume (each is "
            "written or read whole)"
        )
    check_outputs(*outputs)
    if mpi_launch_size() > 1:  # each rank reads its own cores (and the routes) only
        from nsc_runtime.distributed import load_rank

        corelet = load_rank(args.corelet)
    else:
        corelet = fmt.load(args.corelet)
    if "host_ir" in corelet.metadata and not args.raw:
        if args.checkpoint is not None or args.resume is not None:
            raise NscError(
                "--checkpoint and --resume are for raw spike runs (--raw): a model run is "
                "short sequences, each from the initial state"
            )
        return run_model(args)
    return run_raw(args, corelet)


def run_raw(args: argparse.Namespace, corelet: Corelet) -> int:
    """Raw mode: spikes per input port in, spikes per output port and counters out."""

    from nsc_runtime import sim

    inputs = load_inputs(args.input) if args.input else {}
    ticks = args.ticks
    if ticks is None:
        if not inputs:
            raise NscError("give --ticks (there is no --input to take the length from)")
        ticks = max(int(a.shape[0]) if a.ndim else 0 for a in inputs.values())
    check_run_size(corelet, ticks)
    if mpi_launch_size() > 1 or args.checkpoint is not None or args.resume is not None:
        return run_raw_parts(args, corelet, inputs, ticks)
    simulator = sim.Simulator(corelet, threads=args.threads, progress=args.progress)
    result = simulator.run(inputs, ticks)
    write_raw(args, corelet, result, simulator.last_inter_chip)
    return 0


def write_raw(
    args: argparse.Namespace, corelet: Corelet, result: Result, inter_chip: int = 0
) -> None:
    """Write a raw run's outputs and counters to ``args.output`` (atomically) and report."""
    import numpy as np

    from nsc_runtime.energy import estimate

    ticks = result.ticks
    arrays: dict[str, Any] = dict(result.spikes)
    arrays.update({COUNTER_PREFIX + k: np.int64(v) for k, v in result.counters.items()})
    arrays[COUNTER_PREFIX + "ticks"] = np.int64(ticks)
    with atomic_outputs() as out, out.path(args.output).open("wb") as fh:
        np.savez(fh, **arrays)
    print(f"ran {ticks} ticks on {corelet.n_cores} core(s); wrote {args.output}")
    for name, value in result.counters.items():
        print(f"  {name}: {value}")
    rows, cols = corelet.chips
    print(f"  inter_chip_spikes: {inter_chip} (chips {rows}x{cols})")
    for name, spikes in result.spikes.items():
        print(f"  output {name!r}: {int(spikes.sum())} spikes on {spikes.shape[1]} lines")
    counters = result.counters
    events = counters["synaptic_events"]
    for line in estimate(corelet.n_cores, events, ticks, inter_chip).lines():
        print(f"  {line}")


def mpi_launch_size() -> int:
    """The process count an MPI launcher announced in the environment (mpich's PMI_SIZE,
    Open MPI's OMPI_COMM_WORLD_SIZE), else 1: a plain run never imports mpi4py."""
    import os

    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def run_raw_parts(
    args: argparse.Namespace, corelet: Corelet, inputs: dict[str, np.ndarray], ticks: int
) -> int:
    """Raw mode through ``nsc_runtime.distributed``: on the ranks of MPI's COMM_WORLD under
    mpiexec (rank 0 writes the files), or on this process; with checkpoints and resumes,
    in parts of ``--checkpoint-every`` ticks, all run by one ``Session`` (each rank's plan
    and kernel are built once)."""
    import numpy as np

    from nsc_runtime.distributed import Checkpoint, OneProcess, Session, mpi_world
    from nsc_runtime.reference import Result

    comm = mpi_world() if mpi_launch_size() > 1 else OneProcess()
    state = Checkpoint.load(args.resume) if args.resume is not None else None
    session = Session(corelet, comm, threads=args.threads, resume=state)
    every = args.checkpoint_every or max(ticks, 1)
    save = args.checkpoint is not None
    pieces: list[Result] = []
    got, inter_chip, exchanged = None, 0, 0
    for t0 in range(0, max(ticks, 1), every):
        t1 = min(ticks, t0 + every)
        got = session.run({k: a[t0:t1] for k, a in inputs.items()}, t1 - t0, checkpoint=save)
        if got is None:  # ranks other than 0
            continue
        if got.checkpoint is not None:
            state = got.checkpoint
            state.save(args.checkpoint)
        pieces.append(got.result)
        inter_chip += int(got.stats.inter_chip_spikes or 0)
        exchanged += got.stats.exchanged_spikes
    if got is None:
        return 0
    spikes = {k: np.concatenate([p.spikes[k] for p in pieces]) for k in got.result.spikes}
    result = Result(spikes, got.result.counters, got.result.v, ticks)
    st = got.stats
    write_raw(args, corelet, result, inter_chip)
    if st.ranks > 1:
        print(
            f"  ranks: {st.ranks} (cores {st.bounds}), exchange every {st.window or ticks} "
            f"tick(s): {exchanged} spikes exchanged between ranks"
        )
    if state is not None and save:
        print(f"  checkpoint: tick {state.tick} in {args.checkpoint}")
    return 0


# ---------------------------------------------------------------------------------------------
# model mode

MODEL_KEYS = ("x", "lengths")


def load_model_inputs(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (and ``lengths`` when given) of a model-mode ``--input`` file (.npy or .npz)."""
    import numpy as np

    if path.endswith(".npy"):
        return load_npy(path, "--input"), None
    arrays = load_inputs(path)
    unknown = sorted(set(arrays) - set(MODEL_KEYS))
    if "x" not in arrays:
        have = ", ".join(repr(k) for k in sorted(arrays)) or "no arrays"
        raise NscError(
            f"--input {path!r} has no array 'x' (it holds {have}): save the model's inputs "
            "with numpy.savez(path, x=x[, lengths=lengths]); to feed spikes to the ports "
            "instead, add --raw"
        )
    if unknown:
        raise NscError(
            f"--input {path!r}: unexpected arrays {', '.join(map(repr, unknown))} next to 'x' "
            "(a model run takes x and optionally lengths)"
        )
    x, lengths = arrays["x"], arrays.get("lengths")
    if x.dtype.kind not in "biuf":
        raise NscError(f"--input {path!r}: x holds {x.dtype}, expected numbers")
    return x, (np.asarray(lengths) if lengths is not None else None)


def run_model(args: argparse.Namespace) -> int:
    """Model mode: the model's inputs in, its outputs (``y``, ``scale``) and counters out."""
    import numpy as np

    from nsc_runtime.energy import estimate
    from nsc_runtime.reference import COUNTERS
    from nsc_runtime.spikecode import run_ticks

    from ..compiler import Compiled
    from ..io import as_sequences, from_padded, input_spec, output_scale, pad
    from ..ir import CoreOutput

    if args.ticks is not None:
        raise NscError(
            "--ticks is for raw spike runs (--raw): a model run derives its ticks from the "
            "lengths of its input sequences"
        )
    if args.input is None:
        raise NscError(
            f"{args.corelet!r} is a compiled model: give --input X.npz holding its inputs x "
            "(batch, steps, features), or --raw to run its ports on raw spikes"
        )
    compiled = Compiled.load(args.corelet)
    x, lengths = load_model_inputs(args.input)
    seqs = as_sequences(from_padded(x, lengths), **input_spec(compiled.host))
    offsets = [o.offset for o in compiled.host.of_type(CoreOutput)]
    ticks = sum(run_ticks(int(n), compiled.host.window, offsets) for n in seqs.lengths)
    check_run_size(compiled.corelet, ticks, option=f"--input {args.input!r}: ticks")
    last = compiled.host.attrs.get("readout") == "last"
    run_batch, rank = None, 0
    if mpi_launch_size() > 1:  # the cores of each batch over every rank; rank 0 writes
        from functools import partial

        from nsc_runtime.distributed import mpi_world, run_distributed_batch

        comm = mpi_world()
        run_batch, rank = partial(run_distributed_batch, comm=comm), int(comm.Get_rank())
    y, stats = compiled.run(seqs, stats=True, threads=args.threads, last=last, run_batch=run_batch)
    if rank != 0:
        return 0
    if isinstance(y, list):
        y = pad(y)
    y = np.asarray(y)  # spike counts and integer logits: int64; membrane readouts: float64
    arrays: dict[str, Any] = {
        "y": y if y.dtype.kind == "f" else y.astype(np.int64),
        "lengths": seqs.lengths,
    }
    scale = output_scale(compiled.host)
    if scale is not None:
        arrays["scale"] = np.float64(scale)
    counters = {k: int(getattr(stats, k)) for k in COUNTERS}
    arrays.update({COUNTER_PREFIX + k: np.int64(v) for k, v in counters.items()})
    arrays[COUNTER_PREFIX + "ticks"] = np.int64(stats.ticks)
    with atomic_outputs() as out, out.path(args.output).open("wb") as fh:
        np.savez(fh, **arrays)
    steps = int(seqs.lengths.sum())
    shape = "x".join(map(str, arrays["y"].shape))
    print(
        f"ran {seqs.batch} sequence(s), {steps} steps, {stats.ticks} ticks on "
        f"{compiled.n_cores} core(s); wrote {args.output}"
    )
    what = "each sequence's last step" if last else "every step"
    scaled = f", y * {scale:.6g} ~ the float model" if scale is not None else ""
    print(f"  y: {shape} {arrays['y'].dtype} ({what}{scaled})")
    for name, value in counters.items():
        print(f"  {name}: {value}")
    for line in estimate(compiled.n_cores, stats.synaptic_events, stats.ticks).lines():
        print(f"  {line}")
    return 0
