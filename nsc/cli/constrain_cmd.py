"""`nsc constrain`: train-and-constrain a float PyTorch model on a data set, write the exact
constrained network (and optionally the accuracy ladder report)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from nsc_runtime.errors import NscError

from ..defaults import DEFAULT_LEVELS, DEFAULT_MAX_FANIN, MAX_LEVELS, MIN_LEVELS
from ._util import check_outputs, float_arg, int_arg

EPILOG = """\
data files (.npz, no pickles): X (N, T, F) float features or (N, T) integer token ids;
y (N,) one class per sequence (read at its last step) or (N, T) one class per step;
optional lengths (N,) for right-padded sequences of different lengths.

MODEL is a torch.save'd nn.Module: [nn.Embedding] [Linear+ReLU] nn.RNN (relu or tanh,
stacked) [Linear+ReLU] Linear, read at the last step (out[:, -1]) or at every step.
OUT: .pt (the constrained torch module) or .nsir (its exact integer IR); both compile with
'nsc compile OUT'.

examples:
  nsc constrain model.pt train.npz -o constrained.pt --val val.npz --epochs 20
  nsc constrain model.pt train.npz -o net.nsir --test test.npz --report reports/mytask
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "constrain",
        help="train-and-constrain a float model to the exact spiking network",
        description="Fine-tune a float PyTorch RNN into the exact integer network the cores "
        "run (nsc.constrain): straight-through and surrogate gradients, fan-in masks, "
        "calibrated input quantizer; the best epoch on validation is kept.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="float model (.pt, a torch.save'd nn.Module)")
    p.add_argument("data", help="training data (.npz with X, y)")
    p.add_argument("-o", "--out", required=True, help="output: .pt module or .nsir IR")
    p.add_argument("--val", help="validation data (.npz); default: 10%% of the training data")
    p.add_argument("--test", help="test data for the report (.npz); default: the validation data")
    p.add_argument(
        "--epochs", type=int_arg(0, 100_000), default=20, help="exact fine-tuning epochs (20)"
    )
    p.add_argument(
        "--relax-epochs", type=int_arg(0, 100_000), default=10, help="float warm-up epochs (10)"
    )
    p.add_argument(
        "--levels",
        type=int_arg(MIN_LEVELS, MAX_LEVELS),
        default=DEFAULT_LEVELS,
        help=f"activity levels, {MIN_LEVELS}..{MAX_LEVELS} ({DEFAULT_LEVELS})",
    )
    p.add_argument(
        "--max-fanin",
        type=int_arg(2, 256),
        default=DEFAULT_MAX_FANIN,
        help=f"inputs per neuron, 2..256 ({DEFAULT_MAX_FANIN})",
    )
    p.add_argument(
        "--lr", type=float_arg(0, 10, lo_open=True), default=5e-4, help="learning rate (5e-4)"
    )
    p.add_argument("--batch-size", type=int_arg(1, 1 << 20), default=32, help="batch size (32)")
    p.add_argument("--seed", type=int_arg(0, 2**32 - 1), default=0, help="seed (0)")
    p.add_argument("--threads", type=int_arg(1, 1024), default=1, help="torch threads (1)")
    p.add_argument(
        "--model-class",
        metavar="MODULE:CLASS",
        help="rebuild MODEL as this nn.Module class with the file's weights (a state_dict)",
    )
    p.add_argument("--model-args", metavar="JSON", help="constructor arguments for --model-class")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="trust MODEL: let torch run code it contains (a pickled module); never for a file "
        "from someone else (see docs/security.md)",
    )
    p.add_argument("--report", help="write the ladder report (JSON, markdown, PNG) here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def load_npz(path: str) -> Any:
    """``(X, y)`` or, with lengths, a SeqData from an .npz file."""
    from nsc.train.constrain.data import SeqData, as_seqdata

    file = Path(path)
    if not file.exists():
        raise NscError(f"{path}: no such file")
    try:
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise NscError(f"{path}: not a readable .npz file ({err})") from None
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise NscError(f"{path}: lacks array(s) {', '.join(missing)} (keys: {sorted(arrays)})")
    data = as_seqdata((arrays["X"], arrays["y"]), file.name)
    if "lengths" in arrays:
        lengths = np.asarray(arrays["lengths"], np.int64)
        if lengths.shape != (len(data),) or lengths.min() < 1 or lengths.max() > data.x.shape[1]:
            raise NscError(f"{path}: lengths must be (N,) values in [1, T]")
        data = SeqData(data.x, lengths, data.y)
    return data


def run(args: argparse.Namespace) -> int:
    import torch

    import nsc
    from nsc.cli.compile_cmd import load_model
    from nsc_runtime.atomic import atomic_outputs

    out = Path(args.out)
    if out.suffix.lower() not in (".pt", ".nsir"):
        raise NscError(f"-o {out}: the output must end in .pt or .nsir")
    check_outputs(args.out)
    torch.set_num_threads(args.threads)
    model = load_model(args.model, args)
    if not isinstance(model, torch.nn.Module):
        raise NscError(f"{args.model}: not a torch nn.Module")
    train = load_npz(args.data)
    val = load_npz(args.val) if args.val else None
    net = nsc.constrain(
        model,
        train,
        val=val,
        levels=args.levels,
        max_fanin=args.max_fanin,
        epochs=args.epochs,
        relax_epochs=args.relax_epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.no_progress,
    )
    with atomic_outputs() as outputs:
        if out.suffix.lower() == ".nsir":
            outputs.write_text(args.out, nsc.print_ir(net.nsc_graph()))
        else:
            torch.save(net, outputs.path(args.out))
    s = net.summary
    print(
        f"nsc constrain: validation accuracy float {100 * s.float_val_accuracy:.1f}%, "
        f"constrained {100 * s.initial_val_accuracy:.1f}% -> {100 * s.val_accuracy:.1f}% "
        f"(best epoch {s.best_epoch}), about {s.cores_estimate} core(s); wrote {out}"
    )
    if args.report:
        from nsc.train.constrain.report import ladder, write_report

        if args.test:
            test = load_npz(args.test)
        elif val is not None:
            test = val
        else:
            raise NscError("--report needs --test or --val data to measure on")
        report = ladder(model, net, test, calibration=train, task=Path(args.data).stem)
        write_report(args.report, report)
        print(
            f"float {100 * report['float_accuracy']:.1f}%  constrained "
            f"{100 * report['constrained_accuracy']:.1f}%  spiking "
            f"{100 * report['spiking_accuracy']:.1f}%  agreement "
            f"{100 * report['agreement']:.1f}%  cores {report['cores']}  report: "
            f"{Path(args.report) / 'report.md'}"
        )
        if report["agreement"] != 1.0:
            print("nsc constrain: WARNING: spiking and constrained predictions differ (a bug)")
            return 1
    return 0
