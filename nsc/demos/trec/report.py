"""The end-to-end TREC demo after training: compile the exported integer parameters, run the
test set through the spiking runtime, compare with the constrained model, estimate power, and
write the report (markdown, JSON, confusion matrix, spike raster), every file atomically."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsc.demos.trec.data import CLASSES
from nsc_runtime import hw
from nsc_runtime.atomic import atomic_path, write_text_atomic

__all__ = ["PAPER", "SpikingRun", "build_report", "run_spiking", "save_params", "write_report"]

# Diehl et al. 2016 (shared/reference/seed-paper.md)
PAPER: dict[str, Any] = {
    "float_accuracy": 0.85,
    "constrained_accuracy": 0.784,
    "spiking_accuracy": 0.74,
    "cores": 1,
    "power_uw": 17.0,
}


@dataclass
class SpikingRun:
    """Result of running token sequences through the compiled spiking cores."""

    predictions: np.ndarray  # (N,) argmax of the logits at the last word
    logits: np.ndarray  # (N, 6) int64 logits at the last word
    n_cores: int
    synaptic_events: int
    ticks: int
    neuron_spikes: int
    raster: np.ndarray  # (ticks, H) bool hidden spikes of sequence 0
    compile_seconds: float
    run_seconds: float


def run_spiking(params: dict[str, Any], xs: list[np.ndarray]) -> SpikingRun:
    """Compile ``params`` (from :func:`nsc.demos.trec.export_integer_params`) with
    ``nsc.compile`` and run every host input ``x_q (T, 50)`` of ``xs`` through the spiking
    runtime, in batches of equal length. Counters are summed over all sequences."""
    import time

    import nsc

    t0 = time.perf_counter()
    compiled = nsc.compile(params)
    t1 = time.perf_counter()
    lengths = np.array([len(x) for x in xs])
    logits = np.zeros((len(xs), len(CLASSES)), np.int64)
    events = ticks = spikes = 0
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        out, stats = compiled.run(np.stack([xs[i] for i in idx]), stats=True)
        logits[idx] = np.asarray(out)[:, -1]
        events += int(stats.synaptic_events)
        ticks += int(stats.ticks)
        spikes += int(stats.neuron_spikes)
    t2 = time.perf_counter()
    raster = np.asarray(compiled.raster(xs[0]), dtype=bool)
    return SpikingRun(
        predictions=logits.argmax(1),
        logits=logits,
        n_cores=int(compiled.n_cores),
        synaptic_events=events,
        ticks=ticks,
        neuron_spikes=spikes,
        raster=raster[:, : int(np.asarray(params["alpha"]).shape[0])],
        compile_seconds=t1 - t0,
        run_seconds=t2 - t1,
    )


def save_params(path: str | os.PathLike[str], params: dict[str, Any]) -> None:
    """The integer parameters as an ``.npz`` that ``nsc compile`` reads (no pickles)."""
    arrays: dict[str, Any] = {k: np.asarray(v) for k, v in params.items()}
    with atomic_path(path, make_parents=True) as tmp, tmp.open("wb") as f:
        np.savez(f, allow_pickle=False, **arrays)


def confusion(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """``(6, 6)`` counts, rows = true class, columns = predicted class."""
    m = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    np.add.at(m, (labels, predictions), 1)
    return m


def build_report(
    *,
    config: Any,
    seed: int,
    accuracy: dict[str, float],
    seconds: dict[str, float],
    labels: np.ndarray,
    constrained_predictions: np.ndarray,
    spiking: SpikingRun,
    threads: int,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (accuracies are fractions of the 500 test questions)."""
    pro_rata = hw.power_pro_rata_w(spiking.n_cores)
    event = hw.power_event_model_w(spiking.n_cores, spiking.synaptic_events, spiking.ticks)
    return {
        "task": "trec-6",
        "config": config.name,
        "config_params": asdict(config),
        "seed": seed,
        "threads": threads,
        "float_accuracy": accuracy["float_test"],
        "constrained_accuracy": accuracy["constrained_test"],
        "spiking_accuracy": float((spiking.predictions == labels).mean()),
        "agreement": float((spiking.predictions == constrained_predictions).mean()),
        "validation": {
            "float_accuracy": accuracy["float_val"],
            "constrained_accuracy": accuracy["constrained_val"],
        },
        "test_questions": len(labels),
        "cores": spiking.n_cores,
        "power_uw_pro_rata": pro_rata * 1e6,
        "power_uw_event_model": event * 1e6,
        "synaptic_events": spiking.synaptic_events,
        "ticks": spiking.ticks,
        "neuron_spikes": spiking.neuron_spikes,
        "confusion_matrix": confusion(labels, spiking.predictions).tolist(),
        "classes": list(CLASSES),
        "seconds": {
            **seconds,
            "compile": spiking.compile_seconds,
            "spiking_run": spiking.run_seconds,
        },
        "paper": PAPER,
    }


def _markdown(r: dict[str, Any]) -> str:
    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    paper = r["paper"]
    s = r["seconds"]
    cm = r["confusion_matrix"]
    lines = [
        f"# nsc demo: TREC-6 question classification, config `{r['config']}`",
        "",
        f"Seed {r['seed']}, {r['threads']} torch thread(s). Accuracies on the "
        f"{r['test_questions']} TREC-10 test questions; model selection used only the "
        "validation split.",
        "",
        "| rung | nsc | Diehl et al. 2016 |",
        "| --- | --- | --- |",
        f"| float RNN | {pct(r['float_accuracy'])} | {pct(paper['float_accuracy'])} |",
        f"| constrained (integer, exact) | {pct(r['constrained_accuracy'])} | "
        f"{pct(paper['constrained_accuracy'])} |",
        f"| spiking (compiled cores) | {pct(r['spiking_accuracy'])} | "
        f"{pct(paper['spiking_accuracy'])} |",
        f"| cores | {r['cores']} | {paper['cores']} |",
        f"| power, pro rata (70 mW / 4096 per core) | {r['power_uw_pro_rata']:.1f} uW | "
        f"~{paper['power_uw']:.0f} uW |",
        f"| power, event model (15.7 uW/core + 2.3 pJ/event) | "
        f"{r['power_uw_event_model']:.1f} uW | - |",
        "",
        f"Agreement spiking vs constrained predictions: {pct(r['agreement'])} "
        f"({r['test_questions']} questions). Validation: float "
        f"{pct(r['validation']['float_accuracy'])}, constrained "
        f"{pct(r['validation']['constrained_accuracy'])}.",
        "",
        f"Spiking run: {r['ticks']} ticks (1 ms each in real time), "
        f"{r['synaptic_events']} synaptic events, {r['neuron_spikes']} neuron spikes.",
        "",
        "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in s.items()) + ".",
        "",
        "Confusion matrix of the spiking predictions (rows: true class):",
        "",
        "| | " + " | ".join(r["classes"]) + " |",
        "| --- |" + " --- |" * len(r["classes"]),
    ]
    lines += [
        f"| {c} | " + " | ".join(str(v) for v in row) + " |"
        for c, row in zip(r["classes"], cm, strict=True)
    ]
    lines += ["", "![confusion matrix](confusion_matrix.png)", "", "![raster](raster.png)", ""]
    return "\n".join(lines)


def _save_fig(fig: Any, path: Path) -> None:
    with atomic_path(path, make_parents=True) as tmp, tmp.open("wb") as f:
        fig.savefig(f, format="png", dpi=120, bbox_inches="tight")


def _plot_confusion(r: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    cm = np.asarray(r["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color, fontsize=9)
    ax.set_xticks(range(len(r["classes"])), r["classes"])
    ax.set_yticks(range(len(r["classes"])), r["classes"])
    ax.set_xlabel("predicted (spiking)")
    ax.set_ylabel("true")
    ax.set_title(f"TREC-6, {r['config']}: spiking accuracy {100 * r['spiking_accuracy']:.1f}%")
    _save_fig(fig, path)
    plt.close(fig)


def _plot_raster(raster: np.ndarray, tokens: tuple[str, ...], window: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    ticks, neurons = raster.shape
    height = min(8.0, max(2.5, neurons / 6))
    fig, ax = plt.subplots(figsize=(max(6.0, ticks / 20), height))
    t, n = np.nonzero(raster)
    size = 30.0 if neurons <= 32 else 6.0
    ax.scatter(t, n, marker="|", s=size, color="black", linewidths=1 if neurons <= 32 else 0.6)
    for w in range(len(tokens) + 1):
        ax.axvline(w * window - 0.5, color="0.8", linewidth=0.8)
    for w, tok in enumerate(tokens):
        ax.text(w * window + window / 2 - 0.5, neurons + 0.3, tok, ha="center", fontsize=7)
    ax.set_xlim(-0.5, ticks - 0.5)
    ax.set_ylim(-0.7, neurons + 1.2)
    ax.set_xlabel(f"tick ({window} ticks per word)")
    ax.set_ylabel("hidden neuron")
    ax.set_title("Spikes of the recurrent layer for one test question", fontsize=9)
    _save_fig(fig, path)
    plt.close(fig)


def write_report(
    out_dir: str | os.PathLike[str],
    report: dict[str, Any],
    raster: np.ndarray,
    tokens: tuple[str, ...],
    window: int,
    json_copy: str | os.PathLike[str] | None = None,
) -> None:
    """``report.md``, ``report.json``, ``confusion_matrix.png`` and ``raster.png`` into
    ``out_dir``; ``json_copy`` receives a copy of ``report.json``."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    text = json.dumps(report, indent=2) + "\n"
    write_text_atomic(out / "report.json", text, make_parents=True)
    write_text_atomic(out / "report.md", _markdown(report), make_parents=True)
    _plot_confusion(report, out / "confusion_matrix.png")
    _plot_raster(raster, tokens, window, out / "raster.png")
    if json_copy is not None:
        write_text_atomic(json_copy, text, make_parents=True)
