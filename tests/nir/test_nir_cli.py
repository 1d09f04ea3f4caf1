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
