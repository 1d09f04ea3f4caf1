"""An op family is one declaration: a new op registered here (and removed afterwards) is
printed, parsed, interpreted, converted from torch and quantized without touching anything
central (issue 9)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import nsc
from nsc.ir import NODE_TYPES, Graph, Input, Linear, Output, ReLU
from nsc.ir.nodes import Node, attr, operand, register_op


@dataclass(eq=False)
class Negate(Node):
    """``y[t] = -scale * x[t]`` (a float affine map; converts ``torch.neg``)."""

    op: ClassVar[str] = "test_negate"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_functions: ClassVar[tuple[str, ...]] = ("neg",)
    source: str = operand()
    scale: float = attr("float", default=1.0)

    def size(self, graph: Any) -> int:
        return int(graph[self.source].size(graph))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return -self.scale * args[0]

    def affine(self, graph: Any) -> tuple[np.ndarray, np.ndarray]:
        n = self.size(graph)
        return -self.scale * np.eye(n), np.zeros(n)

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        graph.add(cls(name, source=source))
        return "seq", name


@pytest.fixture
def negate() -> Iterator[type[Negate]]:
    register_op(Negate)
    try:
        yield Negate
    finally:
        del NODE_TYPES[Negate.op]


def test_new_op_prints_parses_and_interprets(negate: type[Negate]) -> None:
    g = Graph("t")
    g.add(Input("x", features=2))
    g.add(negate("n", source="x", scale=2.0))
    g.add(Output("y", source="n"))
    text = nsc.print_ir(g)
    assert "%n = test_negate %x {scale = 2.0}" in text
    again = nsc.parse_ir(text)
    assert again.same_as(g)
    from nsc.ir.interpret import interpret

    out = interpret(again, np.ones((1, 3, 2)))["y"]
    assert np.array_equal(out, -2 * np.ones((1, 3, 2)))


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.fc(torch.neg(x))))


def test_new_op_converts_from_torch_and_compiles_exactly(negate: type[Negate]) -> None:
    torch.manual_seed(0)
    x = np.random.default_rng(0).integers(0, 16, size=(8, 2, 3)).astype(np.float64)
    compiled = nsc.compile(Model(), x, time_limit=5)
    ops = [n.op for n in compiled.stages["input"]]
    assert ops[:3] == ["input", "test_negate", "linear"]
    assert isinstance(compiled.stages["input"]["fc"], Linear)
    assert not any(isinstance(n, (Negate, ReLU)) for n in compiled.stages["quantize"])
    assert nsc.verify(compiled, x).agreement == 1.0


def test_a_linear_layer_without_outputs_is_refused() -> None:
    """Issue 15 item 5: a Linear(6, 0) readout once compiled silently."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 0))
    x = np.random.default_rng(0).integers(0, 16, size=(4, 2, 3)).astype(np.float64)
    with pytest.raises(nsc.NscError, match="at least one output feature"):
        nsc.compile(model, x)
