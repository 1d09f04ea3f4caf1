"""Dense op family: float affine maps and the ReLU, as trained (network level).

- :class:`Linear` converts ``nn.Linear`` (``aten.linear`` in a ``torch.export`` graph);
  quantize folds it into the layer after it, fuses it with a following ReLU into a spiking
  layer, or keeps it on the host as the readout.
- :class:`ReLU` converts ``nn.ReLU``, ``F.relu``, ``torch.relu``, ``.relu()`` and
  ``aten.relu``; quantize fuses it into the spiking layer before it (spiking units compute a
  clipped ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import FrontendError
from ..ir.nodes import Node, attr, check_shape, operand, register_op


def tensor_array(t: Any) -> np.ndarray:
    """A torch tensor as a float64 numpy array (a copy)."""
    return t.detach().cpu().double().numpy().copy()


def check_finite(name: str, *tensors: Any) -> None:
    """Refuse NaN or infinite torch parameters, naming the layer."""
    for t in tensors:
        if t is not None and not bool(t.detach().isfinite().all()):
            raise FrontendError(f"layer {name!r} has NaN or infinite weights")


@register_op
@dataclass(eq=False)
class Linear(Node):
    """Affine map per step: ``y[t] = weight @ x[t] + bias`` (float)."""

    op: ClassVar[str] = "linear"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_modules: ClassVar[tuple[str, ...]] = ("Linear",)
    torch_aten: ClassVar[tuple[str, ...]] = ("aten.linear.default",)
    source: str = operand()
    weight: np.ndarray = attr("array", dtype="f64")
    bias: np.ndarray | None = attr("array", dtype="f64", default=None)

    def size(self, graph: Any) -> int:
        return int(self.weight.shape[0])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        y = args[0] @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def verify(self, graph: Any) -> None:
        n_in = graph[self.source].size(graph)
        if self.weight.ndim != 2:
            raise self.fail(f"weight must be 2-D, got shape {self.weight.shape}")
        if self.weight.shape[0] < 1:
            raise self.fail("a linear layer needs at least one output feature")
        check_shape(self, "weight", (self.weight.shape[0], n_in))
        check_shape(self, "bias", (self.weight.shape[0],))

    def affine(self, graph: Any) -> tuple[np.ndarray, np.ndarray]:
        bias = self.bias if self.bias is not None else np.zeros(self.weight.shape[0])
        return self.weight, bias

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        check_finite(name, module.weight, module.bias)
        bias = tensor_array(module.bias) if module.bias is not None else None
        graph.add(cls(name, source=source, weight=tensor_array(module.weight), bias=bias))
        return "seq", name

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        layer = SimpleNamespace(weight=args["weight"], bias=args.get("bias"))
        return cls.from_torch(layer, source, name, graph)


@register_op
@dataclass(eq=False)
class ReLU(Node):
    """Elementwise ``y[t] = max(x[t], 0)``."""

    op: ClassVar[str] = "relu"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_modules: ClassVar[tuple[str, ...]] = ("ReLU",)
    torch_functions: ClassVar[tuple[str, ...]] = ("relu",)
    torch_aten: ClassVar[tuple[str, ...]] = ("aten.relu.default",)
    is_activation: ClassVar[bool] = True
    source: str = operand()

    def size(self, graph: Any) -> int:
        return int(graph[self.source].size(graph))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return np.maximum(args[0], 0)

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        graph.add(cls(name, source=source))
        return "seq", name

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        return cls.from_torch(None, source, name, graph)
