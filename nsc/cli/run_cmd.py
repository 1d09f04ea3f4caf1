"""`nsc run CORELET [--input SPIKES.npz] --ticks N -o OUT.npz [--threads T]`.

Runs a corelet binary in the compiled runtime and writes its output spikes and counters
(format: docs/runtime.md, "Files"). Imports only numpy and nsc_runtime, so it starts fast.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nsc_runtime.errors import NscError

from ._util import atomic_path

if TYPE_CHECKING:
    import numpy as np

COUNTER_PREFIX = "@"  # output-file keys of counters; port names never start with it


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
        type=int,
        help="ticks to run (default: the longest input array)",
    )
    p.add_argument("-o", "--output", metavar="OUT.npz", required=True, help="output file")
    p.add_argument(
        "--threads",
        type=int,
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
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError as err:
        raise NscError(f"input file {path!r} does not exist") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise NscError(f"cannot read input file {path!r} as .npz: {err}") from err


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from nsc_runtime import format as fmt
    from nsc_runtime import sim
    from nsc_runtime.energy import estimate

    if args.threads < 1:
        raise NscError(f"--threads must be >= 1, got {args.threads}")
    corelet = fmt.load(args.corelet)
    inputs = load_inputs(args.input) if args.input else {}
    ticks = args.ticks
    if ticks is None:
        if not inputs:
            raise NscError("give --ticks (there is no --input to take the length from)")
        ticks = max(int(a.shape[0]) if a.ndim else 0 for a in inputs.values())
    if ticks < 0:
        raise NscError(f"--ticks must be >= 0, got {ticks}")
    result = sim.run(corelet, inputs, ticks, threads=args.threads, progress=args.progress)
    arrays: dict[str, Any] = dict(result.spikes)
    arrays.update({COUNTER_PREFIX + k: np.int64(v) for k, v in result.counters.items()})
    arrays[COUNTER_PREFIX + "ticks"] = np.int64(ticks)
    with atomic_path(args.output) as tmp, Path(tmp).open("wb") as fh:
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
