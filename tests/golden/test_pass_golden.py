"""Golden IR after every stage of the default pipeline, for one small fixed network.

The text after each pass is compared byte for byte with tests/golden/passes/<stage>.nsir, and
each golden file must parse back to the very same graph. To accept an intended change:
``NSC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/golden``, then review the diff.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

import nsc
from nsc.ir import ElmanRNN, Graph, Input, Linear, Output

GOLDEN = Path(__file__).parent / "passes"
STAGES = [
    "input",
    "quantize",
    "insert-delays",
    "split-fanin",
    "encode-weights",
    "place",
    "replicate-fanout",
    "lower-to-cores",
]


def small_network() -> Graph:
    """3 inputs -> Elman RNN of 4 ReLU units -> linear readout of 2; weights in 1/16 steps."""
    rng = np.random.default_rng(2024)

    def w(*shape: int) -> np.ndarray:
        return rng.integers(-16, 17, size=shape) / 16.0

    g = Graph("small")
    g.add(Input("x", features=3))
    g.add(ElmanRNN("rnn", source="x", w_ih=w(4, 3), w_hh=w(4, 4) / 4, bias=w(4) / 4))
    g.add(Linear("readout", source="rnn", weight=w(2, 4), bias=w(2)))
    g.add(Output("y", source="readout"))
    return g


@pytest.fixture(scope="module")
def compiled() -> nsc.compiler.Compiled:
    x = np.random.default_rng(7).integers(0, 16, size=(16, 5, 3)).astype(np.float64)
    return nsc.compile(small_network(), x, max_fanin=4, time_limit=5)


@pytest.mark.parametrize("stage", STAGES)
def test_ir_after_stage_matches_golden(compiled: nsc.compiler.Compiled, stage: str) -> None:
    text = compiled.ir(stage)
    path = GOLDEN / f"{stage}.nsir"
    if os.environ.get("NSC_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with NSC_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"IR after {stage} changed; see {path}"
    assert nsc.print_ir(nsc.parse_ir(text, str(path))) == text


def test_golden_pipeline_is_exact(compiled: nsc.compiler.Compiled) -> None:
    x = np.random.default_rng(8).integers(0, 16, size=(32, 6, 3))
    assert nsc.verify(compiled, x).agreement == 1.0
    # split-fanin really split (7 inputs per unit > 4), so the tree is exercised
    assert any(n.name.startswith("rnn_part") for n in compiled.stages["split-fanin"])


@pytest.mark.parametrize(("before", "stage"), list(itertools.pairwise(STAGES)))
def test_each_pass_alone_through_nsc_opt(tmp_path: Path, before: str, stage: str) -> None:
    """``nsc opt -p STAGE BEFORE.nsir`` writes exactly the golden IR after STAGE: every pass
    runs alone, IR in and IR out, with the options its input records."""
    from nsc.cli import main
    from nsc.passes import parse_pipeline

    source = GOLDEN / f"{before}.nsir"
    recorded = nsc.parse_ir(source.read_text()).attrs["pipeline"]
    (spec,) = [p.spec() for p in parse_pipeline(str(recorded)) if p.name == stage]
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(7).integers(0, 16, size=(16, 5, 3)).astype(np.float64))
    out = tmp_path / f"{stage}.nsir"
    args = ["opt", "-p", spec, str(source), "-o", str(out), "--example-input", str(x)]
    assert main([*args, "--time-limit", "5"]) == 0
    assert out.read_text() == (GOLDEN / f"{stage}.nsir").read_text()
