"""A corelet's embedded host program is validated like user input (issue 15 item 2): edits
with a valid checksum are format errors naming the file, never tracebacks or long runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import nsc
from nsc.cli import main
from nsc.compiler import Compiled
from nsc.errors import CoreletFormatError
from nsc.ir import CoreInput, CoreOutput, Graph
from nsc_runtime import format as fmt


class Net(torch.nn.Module):
    def __init__(self, n_in: int = 3) -> None:
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, 4, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)

    x = np.random.default_rng(0).integers(0, 16, size=(4, 3, 3)).astype(np.float64)
    path = tmp_path_factory.mktemp("c") / "net.corelet"
    nsc.compile(Net(), x, time_limit=5).save(path)
    return path


def _edit(graph: Graph, cls: type, **changes: object) -> Graph:
    g = graph.copy()
    (node,) = g.of_type(cls)
    g.nodes[node.name] = node.replace(**changes)
    return g


def _renamed_output(graph: Graph) -> Graph:
    g = graph.copy()
    (out,) = g.of_type(CoreOutput)
    del g.nodes[out.name]
    g.add(out.replace(name="nowhere"))
    for node in list(g):
        if out.name in node.operands():
            g.nodes[node.name] = node.replace(source="nowhere")
    return g


TAMPER: dict[str, Callable[[Graph], Graph]] = {
    "core index past the end": lambda g: _edit(
        g, CoreInput, lines=g.of_type(CoreInput)[0].lines + np.array([0, 5, 0], np.int32)
    ),
    "port name that does not exist": _renamed_output,
    "offset 2^31-1": lambda g: _edit(g, CoreOutput, offset=2**31 - 1),
    "window 2^26": lambda g: Graph(g.name, dict(g.nodes), {**g.attrs, "window": 2**26}),
    "input delay 2^20": lambda g: _edit(g, CoreInput, delay=2**20),
    "another level": lambda g: Graph(g.name, dict(g.nodes), {**g.attrs, "level": "placed"}),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_host_program_is_a_format_error(
    case: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corelet = fmt.load(saved)
    host = nsc.parse_ir(corelet.metadata["host_ir"])
    corelet.metadata["host_ir"] = nsc.print_ir(TAMPER[case](host))
    bad = tmp_path / "bad.corelet"
    fmt.save(corelet, bad)  # a valid checksum: only the content is wrong
    with pytest.raises(CoreletFormatError, match=r"bad\.corelet: its host program"):
        Compiled.load(bad)
    assert main(["verify", str(bad), "--samples", "2"]) == 1
    err = capsys.readouterr().err
    assert "its host program (host_ir) does not fit its cores" in err
    assert "Traceback" not in err and "MISMATCH" not in err


def test_untampered_corelet_still_loads(saved: Path) -> None:
    assert Compiled.load(saved).n_cores >= 1


def test_split_fanin_corelet_loads(tmp_path: Path) -> None:
    """Split-fanin relays count one tick later than a window boundary: a legitimate offset."""
    torch.manual_seed(0)
    model = Net(40)
    x = np.random.default_rng(0).integers(0, 16, size=(4, 3, 40)).astype(np.float64)
    compiled = nsc.compile(model, x, max_fanin=8, time_limit=5, fidelity=False)
    assert {o.offset % compiled.host.window for o in compiled.host.of_type(CoreOutput)} != {0}
    compiled.save(tmp_path / "split.corelet")
    assert nsc.verify(Compiled.load(tmp_path / "split.corelet"), x).exact
