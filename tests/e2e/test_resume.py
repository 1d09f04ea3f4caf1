"""A graph dumped after any stage and compiled again gives the corelet of compiling straight
through (issue 9: a dump after quantize once lost insert-delays and nothing noticed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nsc
from nsc.cli import main
from nsc.ir import CoreLayout
from nsc_runtime import format as fmt

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


class Elman(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, hidden, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@pytest.fixture(scope="module")
def straight() -> tuple[nsc.Compiled, np.ndarray]:
    torch.manual_seed(0)
    model = Elman(6, 10)
    x = np.random.default_rng(0).integers(0, 16, size=(8, 5, 6)).astype(np.float64)
    # max_fanin 8 < 16 inputs per neuron: split-fanin builds trees, so every stage matters
    return nsc.compile(model, x, max_fanin=8, time_limit=5), x


@pytest.mark.parametrize("stage", STAGES)
def test_recompiling_a_dump_gives_the_same_corelet(
    stage: str, straight: tuple[nsc.Compiled, np.ndarray]
) -> None:
    compiled, x = straight
    dumped = nsc.parse_ir(compiled.ir(stage), f"{stage}.nsir")
    again = nsc.compile(dumped, x, time_limit=5)
    assert fmt.dumps(again.corelet) == fmt.dumps(compiled.corelet)
    assert np.array_equal(again.run(x), compiled.run(x))


def test_every_stage_records_its_level_and_the_pipeline(
    straight: tuple[nsc.Compiled, np.ndarray],
) -> None:
    compiled, _ = straight
    levels = [compiled.stages[s].level for s in STAGES]
    assert levels == [
        "network",
        "integer",
        "scheduled",
        "fanin",
        "encoded",
        "placed",
        "replicated",
        "core",
    ]
    recorded = {compiled.stages[s].attrs.get("pipeline") for s in STAGES[1:]}
    assert recorded == {
        nsc.passes.default_pipeline(16, 8).replace(
            "place,", "place{time_limit=0.0,effort=normal,seed=0},"
        )
    }


def test_placed_dump_keeps_its_mesh_positions(straight: tuple[nsc.Compiled, np.ndarray]) -> None:
    """Positions written by place travel in the IR: an edited layout is what lowering uses."""
    compiled, x = straight
    placed = nsc.parse_ir(compiled.ir("place"))
    (layout,) = placed.of_type(CoreLayout)
    moved = placed.copy()
    shift = np.array([[3, 2]])
    moved.nodes[layout.name] = layout.replace(positions=layout.positions + shift)
    again = nsc.compile(moved, x)
    expected = compiled.corelet.position + shift
    assert np.array_equal(again.corelet.position, expected)


def test_cli_dump_after_quantize_recompiles_identically(tmp_path, straight) -> None:
    """The issue's case, through the command line."""
    compiled, x = straight
    net = tmp_path / "net.nsir"
    net.write_text(compiled.ir("input"))
    calib = tmp_path / "x.npy"
    np.save(calib, x)
    a, b, dump = tmp_path / "A.corelet", tmp_path / "B.corelet", tmp_path / "A_q.nsir"
    common = ["--example-input", str(calib), "--max-fanin", "8"]
    assert main(["compile", str(net), "-o", str(a), *common, "--emit-ir", "quantize",
                 "--ir-out", str(dump)]) == 0  # fmt: skip
    assert main(["compile", str(dump), "-o", str(b), "--example-input", str(calib)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert 'level = "integer"' in dump.read_text()
