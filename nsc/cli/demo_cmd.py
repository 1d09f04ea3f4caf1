"""`nsc demo trec`: train the TREC question classifier (float, then hardware-constrained),
compile it, run the 500 test questions through the spiking runtime, and report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nsc_runtime.errors import NscError

CONFIG_NAMES = ("paper", "best")

EPILOG = """\
configs:
  paper  P=47 projection units, H=16 recurrent neurons (one core), as in Diehl et al. 2016
  best   P=48, H=128 in 8 groups of 16 sharing 64 inputs (fan-in 64), several cores

writes into --out (default reports/trec-CONFIG): report.md, report.json, confusion_matrix.png,
raster.png, checkpoint.pt (both models), params.npz (integer parameters for 'nsc compile').

examples:
  nsc demo trec --config paper --json paper.json
  nsc demo trec --config best --out reports/best --seed 1
  nsc demo trec --checkpoint reports/trec-paper/checkpoint.pt   # skip training
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train, compile and run the TREC question classifier end to end",
        description="Train an Elman RNN on TREC-6 (float, then constrained to the exact "
        "integer spiking model), compile it to cores, run the test set through the spiking "
        "runtime and write a report with the accuracy ladder and power estimates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("task", choices=["trec"], help="the demo task (trec)")
    p.add_argument(
        "--config", choices=CONFIG_NAMES, default="paper", help="default: paper (see below)"
    )
    p.add_argument("--out", help="report directory (default reports/trec-CONFIG)")
    p.add_argument("--json", help="also copy report.json to this path")
    p.add_argument("--epochs", type=int, help="constrained fine-tuning epochs (config default)")
    p.add_argument("--float-epochs", type=int, help="float pre-training epochs")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the per-tick ops are small, and a second thread "
        "was slower on a shared 2-core machine); results are reproducible per seed and "
        "thread count",
    )
    p.add_argument(
        "--checkpoint", help="use this checkpoint.pt (and its config) instead of training"
    )
    p.add_argument(
        "--learn-embeddings",
        action="store_true",
        help="fine-tune the word vectors in float training (default: frozen GloVe)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from nsc.demos.trec import (
        CONFIGS,
        accuracy,
        export_integer_params,
        load_checkpoint,
        load_data,
        predict,
        quantize_inputs,
        train,
        with_overrides,
    )
    from nsc.demos.trec.report import build_report, run_spiking, save_params, write_report

    for name in ("epochs", "float_epochs", "threads"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "threads" else 0):
            raise NscError(f"--{name.replace('_', '-')} must be positive, got {value}")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.checkpoint:
        ckpt = Path(args.checkpoint)
        if not ckpt.exists():
            raise NscError(f"{ckpt}: no such checkpoint")
        result = load_checkpoint(ckpt)
        cfg = result.config
        data = load_data(cfg.val_fraction, cfg.split_seed)
        result.accuracy = {
            "float_val": accuracy(result.float_model, data.val),
            "float_test": accuracy(result.float_model, data.test),
            "constrained_val": accuracy(result.model, data.val),
            "constrained_test": accuracy(result.model, data.test),
        }
        result.seconds = {"load": time.perf_counter() - t0}
        out = Path(args.out or f"reports/trec-{cfg.name}")
    else:
        cfg = with_overrides(
            CONFIGS[args.config],
            epochs=args.epochs,
            float_epochs=args.float_epochs,
            learn_embeddings=args.learn_embeddings or None,
        )
        data = load_data(cfg.val_fraction, cfg.split_seed)
        out = Path(args.out or f"reports/trec-{cfg.name}")
        print(f"nsc demo: training config {cfg.name!r} (seed {args.seed}) -> {out}")
        result = train(cfg, data, args.seed, out, progress=not args.no_progress)
    params = export_integer_params(result.model, data.vocab)
    save_params(out / "params.npz", params)
    print("nsc demo: compiling and running the test set through the spiking cores ...")
    xs = quantize_inputs(params, data.test.tokens)
    spiking = run_spiking(params, xs)
    labels = data.test.labels.numpy()
    report = build_report(
        config=cfg,
        seed=result.seed,
        accuracy=result.accuracy,
        seconds=result.seconds,
        labels=labels,
        constrained_predictions=predict(result.model, data.test),
        spiking=spiking,
        threads=args.threads,
    )
    report["seconds"]["total"] = time.perf_counter() - t0
    write_report(out, report, spiking.raster, data.test.tokens[0], int(params["window"]), args.json)
    keys = ("float_accuracy", "constrained_accuracy", "spiking_accuracy", "agreement")
    pct = {k: f"{100 * report[k]:.1f}%" for k in keys}
    print(
        f"float {pct['float_accuracy']}  constrained {pct['constrained_accuracy']}  "
        f"spiking {pct['spiking_accuracy']}  (paper: 85% / 78.4% / 74%)\n"
        f"agreement spiking vs constrained {pct['agreement']}  cores {report['cores']}  "
        f"power {report['power_uw_pro_rata']:.1f} uW pro rata, "
        f"{report['power_uw_event_model']:.1f} uW event model  "
        f"({report['seconds']['total']:.0f} s)\n"
        f"report: {out / 'report.md'}"
    )
    if report["agreement"] != 1.0:
        print("nsc demo: WARNING: spiking and constrained predictions differ (a bug)")
        return 1
    return 0
