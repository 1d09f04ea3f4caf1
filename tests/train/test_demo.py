"""The compile-and-run step and the `nsc demo` command (from a checkpoint: no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nsc.cli import main
from nsc.demos.trec import TrainResult, TrecData, export_integer_params, predict, quantize_inputs
from nsc.demos.trec.report import run_spiking
from nsc.train.constrain import reference_logits


def test_run_spiking_equals_reference_and_model(tiny: TrainResult, trec: TrecData) -> None:
    params = export_integer_params(tiny.model, trec.vocab)
    tokens = trec.test.tokens[:40]
    xs = quantize_inputs(params, tokens)
    spiking = run_spiking(params, xs)
    net_params = tiny.model.export_params()
    ids = [trec.test.ids[n, : len(t)].numpy() for n, t in enumerate(tokens)]
    expected = np.stack([reference_logits(net_params, i)[-1] for i in ids])
    np.testing.assert_array_equal(spiking.logits, expected)
    np.testing.assert_array_equal(
        spiking.predictions, predict(tiny.model, trec.test.subset(range(40)))
    )
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


def test_params_npz_compiles_with_the_cli(tiny_dir: Path, tmp_path: Path) -> None:
    """The report's params.npz (no pickles) is what `nsc compile` reads."""
    out = tmp_path / "report"
    argv = ["demo", "trec", "--checkpoint", str(tiny_dir / "checkpoint.pt"), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    corelet = tmp_path / "trec.corelet"
    assert main(["compile", str(out / "params.npz"), "-o", str(corelet)]) == 0
    assert corelet.stat().st_size > 0


def test_demo_rejects_missing_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "trec", "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "no such checkpoint" in capsys.readouterr().err


def test_demo_rejects_bad_and_former_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["demo", "trec", "--checkpoint", str(junk)]) == 1
    assert "not a checkpoint of nsc demo trec" in capsys.readouterr().err
    former = tmp_path / "former.pt"
    torch.save({"config": {"name": "paper"}, "seed": 0, "constrained": {}}, former)
    assert main(["demo", "trec", "--checkpoint", str(former)]) == 1
    err = capsys.readouterr().err
    assert "former trainer" in err and "Traceback" not in err
