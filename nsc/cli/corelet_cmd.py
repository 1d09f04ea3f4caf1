"""`nsc corelet random ...` (a synthetic corelet) and `nsc corelet info FILE` (a summary).

Imports only numpy and nsc_runtime, so it starts fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from nsc_runtime import hw
from nsc_runtime.atomic import write_bytes_atomic
from nsc_runtime.errors import NscError
from nsc_runtime.validate import CHIPS_SIDE_MAX, PORT_LINES_MAX

from ._util import (
    MAX_SEED,
    check_outputs,
    chips_arg,
    float_arg,
    human_bytes,
    int_arg,
    memory_budget,
)

if TYPE_CHECKING:
    from nsc_runtime import Corelet

# memory to build one random core: the packed crossbar rows, neuron fields, routes and the
# file's bytes (measured: 931 MB peak for a 2x2 system of 16,384 cores, 57 KB a core,
# python included; with margin)
BYTES_PER_CORE = 96 << 10


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("corelet", help="make or inspect corelet binaries")
    actions = p.add_subparsers(dest="corelet_command", metavar="ACTION")
    actions.required = True

    r = actions.add_parser(
        "random",
        help="a random valid corelet with a target firing rate",
        description="Random cores whose mean firing rate lands near --rate (1 tick = 1 ms, so "
        "HZ spikes per neuron per 1,000 ticks), with --synapses active synapses per neuron and "
        "routes to random cores/axons (docs/runtime.md, 'Synthetic corelets').",
    )
    r.add_argument(
        "--cores",
        type=int_arg(1),
        help="number of cores, >= 1 (required without --chips; with --chips, at most "
        f"{hw.CORES_PER_CHIP:,} per chip, default all of them)",
    )
    r.add_argument(
        "--chips",
        type=chips_arg,
        metavar="RxC",
        help="a system of R rows x C columns of chips (a 2-D mesh), filled chip by chip in "
        "row-major order (default: one row of as many chips as --cores needs)",
    )
    r.add_argument(
        "--rate", type=float_arg(0, 1000), default=20.0, help="mean firing rate, 0..1000 Hz (20)"
    )
    r.add_argument(
        "--synapses",
        type=int_arg(0, hw.AXONS_PER_CORE),
        default=128,
        help=f"synapses per neuron, 0..{hw.AXONS_PER_CORE} (128)",
    )
    r.add_argument(
        "--seed", type=int_arg(0, MAX_SEED), default=0, help=f"random seed, 0..{MAX_SEED} (0)"
    )
    r.add_argument(
        "--inputs",
        type=int_arg(0),
        default=16,
        help="lines of input port 'in', at most 256 per core (16)",
    )
    r.add_argument(
        "--outputs",
        type=int_arg(0),
        default=16,
        help="lines of output port 'out', at most 256 per core (16)",
    )
    r.add_argument(
        "--heterogeneous",
        action="store_true",
        help="draw parameters and weights per neuron (default: shared within a core)",
    )
    r.add_argument("-o", "--output", required=True, metavar="FILE", help="corelet file")
    r.set_defaults(handler=run_random)

    i = actions.add_parser("info", help="summarize a corelet file")
    i.add_argument("file", help="corelet binary")
    i.set_defaults(handler=run_info)


def run_random(args: argparse.Namespace) -> int:
    from nsc_runtime import format as fmt
    from nsc_runtime.synth import random_corelet

    check_outputs(args.output)
    if args.cores is None:
        if args.chips is None:
            raise NscError("give --cores N, or --chips RxC for full chips")
        args.cores = args.chips[0] * args.chips[1] * hw.CORES_PER_CHIP
    if args.chips is not None and max(args.chips) > CHIPS_SIDE_MAX:
        raise NscError(
            f"--chips {args.chips[0]}x{args.chips[1]}: a corelet has at most {CHIPS_SIDE_MAX} "
            "chips per side"
        )
    if args.chips is not None and args.cores > args.chips[0] * args.chips[1] * hw.CORES_PER_CHIP:
        rows, cols = args.chips
        raise NscError(
            f"--cores {args.cores:,} do not fit --chips {rows}x{cols} "
            f"({rows * cols * hw.CORES_PER_CHIP:,} cores at most)"
        )
    need, budget = args.cores * BYTES_PER_CORE, memory_budget()
    if need > budget:
        raise NscError(
            f"--cores {args.cores:,}: about {human_bytes(need)} to build, more than "
            f"{human_bytes(budget)} (half this machine's memory)"
        )
    slots = args.cores * hw.AXONS_PER_CORE  # input lines: one axon each; outputs: one neuron
    for option, lines in (("--inputs", args.inputs), ("--outputs", args.outputs)):
        if lines > slots:
            raise NscError(
                f"{option} {lines:,}: {args.cores} core(s) have only {slots:,} "
                f"{'axons' if option == '--inputs' else 'neurons'} for port lines"
            )
    if args.inputs + args.outputs > PORT_LINES_MAX:
        raise NscError(
            f"--inputs + --outputs must be <= {PORT_LINES_MAX:,} (the format's port limit)"
        )
    corelet = random_corelet(
        args.cores,
        args.rate,
        args.synapses,
        args.seed,
        input_lines=args.inputs,
        output_lines=args.outputs,
        heterogeneous=args.heterogeneous,
        chips=args.chips,
    )
    data = fmt.dumps(corelet)
    write_bytes_atomic(args.output, data)
    rows, cols = corelet.chips
    print(f"wrote {args.output}: {corelet.n_cores} cores on {rows}x{cols} chips, {len(data)} bytes")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from nsc_runtime import format as fmt

    corelet = fmt.load(args.file)
    print(
        f"{args.file}: {Path(args.file).stat().st_size} bytes, format {fmt.VERSION[0]}."
        f"{fmt.VERSION[1]}"
    )
    for line in summary(corelet):
        print(line)
    return 0


def summary(corelet: Corelet) -> list[str]:
    """The lines `nsc corelet info` prints for a corelet."""
    import numpy as np

    from nsc_runtime import hw

    n = corelet.neurons
    c = corelet.n_cores
    outputs = np.zeros((c, hw.NEURONS_PER_CORE), bool)
    for port in corelet.outputs:
        outputs[port.entries[:, 0], port.entries[:, 1]] = True
    synapses = np.zeros((c, hw.NEURONS_PER_CORE), np.int64)  # per neuron
    axons = np.zeros((c, hw.AXONS_PER_CORE), bool)  # used axons
    for lo in range(0, c, 256):  # packed rows, a slice of cores at a time: no bool crossbar
        rows = corelet.crossbar_rows(lo, min(c, lo + 256))
        axons[lo : lo + 256] = rows.any(axis=2)
        synapses[lo : lo + 256] = np.unpackbits(rows, axis=2, bitorder="little").sum(axis=1)
    used = (synapses > 0) | (n["dest_core"] >= 0) | outputs
    lines = [
        f"cores: {c} on chips {corelet.chips[0]} x {corelet.chips[1]} "
        f"(a chip holds {hw.CORES_PER_CHIP} cores)",
        f"neurons used: {int(used.sum())} of {used.size} (a synapse, a destination or an "
        f"output); axons used: {int(axons.sum())} of {axons.size}",
        f"synapses: {int(synapses.sum())} (mean {synapses[used].mean() if used.any() else 0:.1f}"
        f" per used neuron); routed neurons: {int((n['dest_core'] >= 0).sum())}, of which "
        f"{int(((n['dest_core'] >= 0) & (n['dest_core'] != np.arange(c)[:, None])).sum())} "
        "to another core",
    ]
    for kind, ports in (("input", corelet.inputs), ("output", corelet.outputs)):
        for port in ports:
            lines.append(
                f"{kind} port {port.name!r}: {port.n_lines} lines, {port.entries.shape[0]} "
                f"{'axons' if kind == 'input' else 'neurons'}"
            )
    if not (corelet.inputs or corelet.outputs):
        lines.append("ports: none")
    lines.append("neuron parameters (used neurons): min / max / distinct values")
    for name, arr in n.items():
        values = arr[used] if used.any() else arr.reshape(-1)[:0]
        if values.size == 0:
            lines.append(f"  {name}: -")
            continue
        lines.append(
            f"  {name}: {int(values.min())} / {int(values.max())} / {np.unique(values).size}"
        )
    modes = np.bincount(n["reset_mode"][used].astype(np.int64), minlength=3)
    stoch = int(((n["stoch_synapse"] != 0) | (n["stoch_leak"] != 0) | (n["tm"] != 0))[used].sum())
    lines.append(
        f"reset modes normal/linear/none: {modes[0]}/{modes[1]}/{modes[2]}; "
        f"stochastic neurons: {stoch}"
    )
    for key in sorted(corelet.metadata):
        value = corelet.metadata[key].replace("\n", " ")
        lines.append(f"metadata {key}: {value[:60]}{'...' if len(value) > 60 else ''}")
    return lines
