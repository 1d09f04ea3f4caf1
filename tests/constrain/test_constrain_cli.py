"""`nsc constrain` end to end on a tiny task: outputs, report, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ctest_util import Net

import nsc
from nsc.cli import main


def write_task(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    torch.save(Net(3, hidden=4, classes=2), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    for name, n in (("train", 40), ("val", 12)):
        x = rng.random((n, 4, 3))
        np.savez(tmp_path / f"{name}.npz", X=x, y=(x[:, :, 0].mean(1) > 0.5).astype(np.int64))
    return tmp_path


def test_constrain_writes_ir_and_report(tmp_path: Path) -> None:
    d = write_task(tmp_path)
    argv = [
        "constrain",
        str(d / "model.pt"),
        "--allow-pickle",  # the test's own whole-module file
        str(d / "train.npz"),
        "-o",
        str(d / "net.nsir"),
        "--val",
        str(d / "val.npz"),
        "--epochs",
        "1",
        "--relax-epochs",
        "1",
        "--report",
        str(d / "rep"),
        "--no-progress",
    ]
    assert main(argv) == 0
    graph = nsc.parse_ir((d / "net.nsir").read_text())
    assert graph.attrs["level"] == "scheduled"
    report = json.loads((d / "rep" / "report.json").read_text())
    assert report["agreement"] == 1.0 and report["cores"] == 1
    assert {"float_accuracy", "ptq_accuracy", "spiking_accuracy"} <= set(report)
    assert (d / "rep" / "curves.png").stat().st_size > 0


def test_constrain_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_task(tmp_path)
    np.savez(d / "bad.npz", X=np.zeros((3, 4, 3)))
    out = str(d / "o.pt")
    assert (
        main(["constrain", str(d / "model.pt"), "--allow-pickle", str(d / "bad.npz"), "-o", out])
        == 1
    )
    assert "lacks array(s) y" in capsys.readouterr().err
    assert (
        main(
            [
                "constrain",
                str(d / "model.pt"),
                str(d / "train.npz"),
                "-o",
                "x.onnx",
                "--allow-pickle",
            ]
        )
        == 1
    )
    assert "must end in .pt or .nsir" in capsys.readouterr().err
    assert main(["constrain", str(d / "nope.pt"), str(d / "train.npz"), "-o", out]) == 1
    assert "no such file" in capsys.readouterr().err
