"""`nsc run CORELET [--input SPIKES.npz] --ticks N -o OUT.npz [--threads T]`.

Runs a corelet binary in the compiled runtime and writes its output spikes and counters
(format: docs/runtime.md, "Files"). Imports only numpy and nsc_runtime, so it starts fast.
"""

from __future__ import annotations

import argparse
import zipfile
from typing import TYPE_CHECKING, Any

from nsc_runtime.atomic import atomic_outputs
from nsc_runtime.errors import NscError

from ._util import check_outputs, human_bytes, int_arg, memory_budget

if TYPE_CHECKING:
    import numpy as np

    from nsc_runtime import Corelet

COUNTER_PREFIX = "@"  # output-file keys of counters; port names never start with it
MAX_TICKS = 2**31 - 1
MAX_THREADS = 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a corelet in the spiking runtime",
        description="Run a corelet tick by tick (1 tick = 1 ms) in the compiled runtime. "
        "Writes one uint8 (ticks, lines) array per output port and the counters to OUT.npz.",
    )
    p.add_argument("corelet", help="corelet binary (from `nsc compile` or `nsc corelet random`)")
    p.add_argument(
        "--input",
        metavar="SPIKES.npz",
        help="one uint8/bool (ticks, lines) array per input port name; missing ports are silent",
    )
    p.add_argument(
        "--ticks",
        type=int_arg(0, MAX_TICKS),
        help="ticks to run, >= 0 (default: the longest input array); the spike arrays of a "
        "run must fit in half the machine's memory",
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


def check_run_size(corelet: Corelet, ticks: int) -> None:
    """Refuse a run whose spike arrays would not fit in memory, before allocating them."""
    need, budget = run_bytes(corelet, ticks), memory_budget()
    if need > budget:
        lines = sum(len(p.lines) for p in corelet.inputs + corelet.outputs)
        raise NscError(
            f"--ticks {ticks:,}: the spike arrays ({lines:,} port lines x {ticks:,} ticks) need "
            f"about {human_bytes(need)}, more than {human_bytes(budget)} (half this machine's "
            "memory); run fewer ticks"
        )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from nsc_runtime import format as fmt
    from nsc_runtime import sim
    from nsc_runtime.energy import estimate

    check_outputs(args.output)
    corelet = fmt.load(args.corelet)
    inputs = load_inputs(args.input) if args.input else {}
    ticks = args.ticks
    if ticks is None:
        if not inputs:
            raise NscError("give --ticks (there is no --input to take the length from)")
        ticks = max(int(a.shape[0]) if a.ndim else 0 for a in inputs.values())
    check_run_size(corelet, ticks)
    result = sim.run(corelet, inputs, ticks, threads=args.threads, progress=args.progress)
    arrays: dict[str, Any] = dict(result.spikes)
    arrays.update({COUNTER_PREFIX + k: np.int64(v) for k, v in result.counters.items()})
    arrays[COUNTER_PREFIX + "ticks"] = np.int64(ticks)
    with atomic_outputs() as out, out.path(args.output).open("wb") as fh:
        np.savez(fh, **arrays)
    print(f"ran {ticks} ticks on {corelet.n_cores} cores; wrote {args.output}")
    for name, value in result.counters.items():
        print(f"  {name}: {value}")
    for name, spikes in result.spikes.items():
        print(f"  output {name!r}: {int(spikes.sum())} spikes on {spikes.shape[1]} lines")
    counters = result.counters
    for line in estimate(corelet.n_cores, counters["synaptic_events"], ticks).lines():
        print(f"  {line}")
    return 0
