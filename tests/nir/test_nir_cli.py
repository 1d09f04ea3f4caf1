"""`nsc export MODEL --nir OUT.nir` (the lead registers the command in nsc/cli/__init__.py;
this test builds its parser directly)."""

from __future__ import annotations

import argparse

import pytest
from test_nir_export import _network

import nsc
from nsc.cli import export_cmd
from nsc.nir import from_nir


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nsc")
    export_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_export_nsir_to_nir_and_back(tmp_path):
    g = _network(0)
    src, out = tmp_path / "net.nsir", tmp_path / "net.nir"
    src.write_text(nsc.print_ir(g))
    assert _run(["export", str(src), "--nir", str(out)]) == 0
    assert from_nir(out).same_as(nsc.parse_ir(src.read_text()))


def test_export_of_an_encoded_stage_is_a_clear_error(tmp_path):
    src = tmp_path / "net.nsir"
    src.write_text(nsc.print_ir(_network(1)))
    with pytest.raises(nsc.NscError, match="already encoded or placed"):
        _run(["export", str(src), "--nir", str(tmp_path / "x.nir"), "--stage", "encode-weights"])
    assert not (tmp_path / "x.nir").exists()


def test_compile_and_run_a_nir_classifier_with_a_membrane_readout(tmp_path, capsys):
    """`nsc compile model.nir` then `nsc run` of the corelet: the LI readout travels in the
    corelet's host program and comes out as float64 potentials, equal to NIR's equations."""
    import nir
    import numpy as np
    from nirtest_reference import simulate

    from nsc.cli import main

    g = nir.NIRGraph.from_list(
        nir.Input(input_type={"input": np.array([3])}),
        nir.Linear(weight=np.array([[1.0, 2.0, 0.0], [-1.0, 1.0, 1.0]])),
        nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
        nir.Affine(weight=np.array([[1.0, -1.0], [0.5, 1.0]]), bias=np.array([0.5, 0.0])),
        nir.LI(tau=np.array([5e-4, 1e-3]), r=np.array([5.0, 10.0]), v_leak=np.zeros(2)),
        nir.Output(output_type={"output": np.array([2])}),
    )
    model, corelet, out = tmp_path / "ro.nir", tmp_path / "ro.corelet", tmp_path / "y.npz"
    nir.write(model, g)
    x = (np.random.default_rng(0).random((2, 12, 3)) < 0.5).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    assert main(["compile", str(model), "-o", str(corelet)]) == 0
    assert main(["run", str(corelet), "--input", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    assert "float64" in capsys.readouterr().out
    y = np.load(out)["y"]
    ref = simulate(g, x)["output"]
    assert y.dtype == np.float64 and np.ptp(ref) > 1
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
