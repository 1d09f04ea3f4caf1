"""The compile-and-run step and the `nsc demo` command (from a checkpoint: no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nsc.cli import main
from nsc.demos.trec import (
    TrainResult,
    TrecData,
    export_integer_params,
    integer_forward,
    quantize_inputs,
)
from nsc.demos.trec.report import run_spiking


def test_run_spiking_equals_integer_forward(tiny: TrainResult, trec: TrecData) -> None:
    params = export_integer_params(tiny.model)
    tokens = trec.test.tokens[:40]
    xs = quantize_inputs(params, tokens)
    spiking = run_spiking(params, xs)
    expected = np.stack([integer_forward(params, x)[-1] for x in xs])
    np.testing.assert_array_equal(spiking.logits, expected)
    assert spiking.n_cores == 1
    assert spiking.ticks == 15 * sum(len(t) for t in tokens)
    assert spiking.raster.shape == (15 * len(tokens[0]), 16)
    assert spiking.synaptic_events > 0 and spiking.neuron_spikes > 0


def test_demo_command_from_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    copy = tmp_path / "copy.json"
    argv = ["demo", "trec", "--checkpoint", str(tiny_dir / "checkpoint.pt")]
    assert main([*argv, "--out", str(out), "--json", str(copy)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.json", "confusion_matrix.png", "raster.png", "params.npz"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(copy.read_text())
    assert report["agreement"] == 1.0
    assert report["spiking_accuracy"] == report["constrained_accuracy"]
    assert report["cores"] == 1
    assert report["power_uw_pro_rata"] > 17 and report["power_uw_event_model"] > 15
    assert sum(map(sum, report["confusion_matrix"])) == 500
    assert report["paper"]["spiking_accuracy"] == 0.74


def test_demo_rejects_missing_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "trec", "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "no such checkpoint" in capsys.readouterr().err
