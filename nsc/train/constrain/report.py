"""The accuracy ladder of any task: float, post-training quantized (``nsc.compile`` alone),
constrained, spiking, agreement, cores and power; written as JSON, markdown and PNG plots."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from nsc_runtime import hw
from nsc_runtime.atomic import atomic_path, write_text_atomic

from ...errors import NscError
from .convert import parse_model
from .data import IGNORE, SeqData
from .fit import accuracy, float_logits, predict
from .model import ConstrainedNet

__all__ = ["SpikingResult", "ladder", "run_compiled", "write_report"]


@dataclass
class SpikingResult:
    """Logits of a compiled network on a data set, and the runtime's counters."""

    logits: np.ndarray  # (N, C) at the last real step, or (N, T, C)
    n_cores: int
    synaptic_events: int
    ticks: int
    compile_seconds: float
    run_seconds: float


def run_compiled(compiled: Any, data: SeqData, ids: bool, per_step: bool) -> tuple[Any, dict]:
    """Run ``data`` through ``compiled`` in groups of equal length; logits and counters."""
    parts: dict[int, np.ndarray] = {}
    events = ticks = 0
    for length in np.unique(data.lengths):
        idx = np.flatnonzero(data.lengths == length)
        x = data.x[idx][:, : int(length)]
        if ids:
            x = x[..., None]
        out, stats = compiled.run(x, stats=True)
        out = np.asarray(out)
        if out.shape[:2] != x.shape[:2]:
            raise NscError(
                f"the compiled network returned outputs of shape {out.shape} for inputs of "
                f"shape {x.shape} (no input reaches its cores)"
            )
        events += int(stats.synaptic_events)
        ticks += int(stats.ticks)
        for j, seq in enumerate(idx.tolist()):
            parts[seq] = out[j] if per_step else out[j, -1]
    if per_step:
        t_max, c = data.x.shape[1], next(iter(parts.values())).shape[-1]
        logits = np.zeros((len(data), t_max, c), np.int64)
        for seq, v in parts.items():
            logits[seq, : v.shape[0]] = v
    else:
        logits = np.stack([parts[i] for i in range(len(data))])
    return logits, {"synaptic_events": events, "ticks": ticks}


def _ptq(model: nn.Module, cal: SeqData, test: SeqData, levels: int) -> dict[str, Any]:
    """``nsc.compile`` of the float model alone (its own quantize pass), on ``test``."""
    import nsc

    if cal.ids:
        return {"accuracy": None, "note": "nsc.compile does not accept nn.Embedding"}
    x = cal.x[:, : int(cal.lengths.min())]
    note = ""
    if np.any(x != np.rint(x)) or x.min() < 0 or x.max() > levels - 1:
        note = (
            f"inputs are not activities in [0, {levels}): rounded and clipped to them, as "
            "nsc.compile requires"
        )
    act = np.clip(np.rint(x), 0, levels - 1)
    try:
        compiled = nsc.compile(model, act, levels=levels)
    except NscError as err:
        return {"accuracy": None, "note": f"nsc.compile refused the float model: {err}"}
    test_act = SeqData(np.clip(np.rint(test.x), 0, levels - 1), test.lengths, test.y)
    try:
        logits, _ = run_compiled(compiled, test_act, False, test.per_step)
    except NscError as err:
        return {"accuracy": None, "note": f"PTQ run failed: {err}", "cores": compiled.n_cores}
    return {"accuracy": accuracy(logits.argmax(-1), test), "note": note, "cores": compiled.n_cores}


def ladder(
    model: nn.Module,
    net: ConstrainedNet,
    test: SeqData,
    *,
    calibration: SeqData | None = None,
    task: str = "task",
    ptq: bool = True,
) -> dict[str, Any]:
    """Every rung on ``test``: float (the model's exact float64 graph), PTQ, constrained,
    spiking (compiled cores, Cython runtime), agreement, cores and power."""
    import nsc

    t0 = time.perf_counter()
    chain = parse_model(model, None if test.ids else int(test.x.shape[2]))
    float_acc = accuracy(float_logits(chain, test).argmax(-1), test)
    constrained_pred = predict(net, test)
    cal = calibration if calibration is not None else test
    ptq_result = (
        _ptq(model, cal, test, net.spec.levels) if ptq else {"accuracy": None, "note": "skipped"}
    )
    t1 = time.perf_counter()
    example = cal.x[:8, : int(cal.lengths[:8].min())]
    compiled = nsc.compile(net, example[..., None] if cal.ids else example)
    t2 = time.perf_counter()
    logits, stats = run_compiled(compiled, test, test.ids, test.per_step)
    t3 = time.perf_counter()
    spiking_pred = logits.argmax(-1)
    valid = test.y != IGNORE
    summary = net.summary
    cores = int(compiled.n_cores)
    report = {
        "task": task,
        "test_size": len(test),
        "float_accuracy": float_acc,
        "ptq_accuracy": ptq_result["accuracy"],
        "ptq_note": ptq_result.get("note", ""),
        "constrained_accuracy": accuracy(constrained_pred, test),
        "spiking_accuracy": accuracy(spiking_pred, test),
        "agreement": float((spiking_pred[valid] == constrained_pred[valid]).mean()),
        "cores": cores,
        "cores_estimate": None if summary is None else summary.cores_estimate,
        "levels": net.spec.levels,
        "populations": [layer.size for layer in net.spec.layers],
        "fan_in": net.fan_in(),
        "power_uw_pro_rata": hw.power_pro_rata_w(cores) * 1e6,
        "power_uw_event_model": hw.power_event_model_w(
            cores, stats["synaptic_events"], stats["ticks"]
        )
        * 1e6,
        "synaptic_events": stats["synaptic_events"],
        "ticks": stats["ticks"],
        "validation": None
        if summary is None
        else {
            "float_accuracy": summary.float_val_accuracy,
            "initial_constrained_accuracy": summary.initial_val_accuracy,
            "constrained_accuracy": summary.val_accuracy,
            "best_epoch": summary.best_epoch,
        },
        "history": [] if summary is None else summary.history,
        "confusion_matrix": _confusion(test.y[valid], spiking_pred[valid]).tolist(),
        "seconds": {
            "constrain": None if summary is None else summary.seconds,
            "float_and_ptq": t1 - t0,
            "compile": t2 - t1,
            "spiking_run": t3 - t2,
        },
    }
    return report


def _confusion(labels: np.ndarray, pred: np.ndarray) -> np.ndarray:
    n = int(max(labels.max(initial=0), pred.max(initial=0))) + 1
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def markdown(r: dict[str, Any]) -> str:
    """The ladder as a markdown page."""
    lines = [
        f"# nsc constrain: {r['task']}",
        "",
        f"Accuracies on {r['test_size']} test sequences (model selection on validation only).",
        "",
        "| rung | accuracy |",
        "| --- | --- |",
        f"| float model | {_pct(r['float_accuracy'])} |",
        f"| post-training quantized (nsc.compile alone) | {_pct(r['ptq_accuracy'])} |",
        f"| constrained (integer, exact) | {_pct(r['constrained_accuracy'])} |",
        f"| spiking (compiled cores) | {_pct(r['spiking_accuracy'])} |",
        "",
        f"Agreement spiking vs constrained: {_pct(r['agreement'])}. Cores: {r['cores']} "
        f"(estimated before compiling: {r['cores_estimate']}); populations {r['populations']}, "
        f"fan-in {r['fan_in']}, {r['levels']} levels.",
        f"Power: {r['power_uw_pro_rata']:.1f} uW pro rata, {r['power_uw_event_model']:.1f} uW "
        "event model.",
    ]
    if r["ptq_note"]:
        lines += ["", f"PTQ: {r['ptq_note']}."]
    secs = ", ".join(f"{k} {v:.1f}" for k, v in r["seconds"].items() if v is not None)
    lines += [
        "",
        f"Seconds: {secs}.",
        "",
        "![curves](curves.png)",
        "",
        "![confusion](confusion.png)",
    ]
    return "\n".join(lines) + "\n"


def _save_fig(fig: Any, path: Path) -> None:
    with atomic_path(path, make_parents=True) as tmp, tmp.open("wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")


def write_report(out_dir: str | os.PathLike[str], report: dict[str, Any]) -> None:
    """``report.json``, ``report.md``, ``curves.png`` and ``confusion.png`` into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n", make_parents=True)
    write_text_atomic(out / "report.md", markdown(report), make_parents=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    hist = report["history"]
    for stage in sorted({h.get("stage", "constrain") for h in hist}):
        pts = [h for h in hist if h.get("stage", "constrain") == stage]
        offset = 0 if stage == "relax" else len([h for h in hist if h.get("stage") == "relax"])
        ax.plot([offset + h["epoch"] + 1 for h in pts], [h["val"] for h in pts], "o-", label=stage)
    if report["validation"]:
        ax.axhline(report["validation"]["float_accuracy"], color="0.5", ls="--", label="float")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (exact network)")
    ax.legend()
    _save_fig(fig, out / "curves.png")
    plt.close(fig)
    cm = np.asarray(report["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    if cm.shape[0] <= 12:
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted (spiking)")
    ax.set_ylabel("true")
    _save_fig(fig, out / "confusion.png")
    plt.close(fig)
