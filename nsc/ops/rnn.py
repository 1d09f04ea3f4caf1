"""Recurrent op family: the Elman RNN (network level).

:class:`ElmanRNN` converts ``nn.RNN`` (``relu`` or ``tanh``, any number of layers, batch_first
or not, unidirectional; one node per layer) and, in a ``torch.export`` graph, the
``aten.rnn_relu`` / ``aten.rnn_tanh`` call such an RNN becomes (its initial state zero).
Quantize maps a ReLU layer onto one population of ReLU-like spiking units whose recurrence is
carried from window to window; ``tanh`` cannot run on spiking units as it is
(train-and-constrain starts from it instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import FrontendError
from ..ir.nodes import Node, attr, check_shape, operand, register_op
from .dense import check_finite, tensor_array


@register_op
@dataclass(eq=False)
class ElmanRNN(Node):
    """Elman recurrent layer: ``h[t] = f(w_ih @ x[t] + w_hh @ h[t-1] + bias)``, ``h[-1] = 0``,
    ``f`` = ``nonlinearity`` (``relu``; ``tanh`` is rejected by quantize)."""

    op: ClassVar[str] = "rnn"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_modules: ClassVar[tuple[str, ...]] = ("RNN",)
    torch_aten: ClassVar[tuple[str, ...]] = ("aten.rnn_relu.input", "aten.rnn_tanh.input")
    source: str = operand()
    w_ih: np.ndarray = attr("array", dtype="f64")
    w_hh: np.ndarray = attr("array", dtype="f64")
    bias: np.ndarray | None = attr("array", dtype="f64", default=None)
    nonlinearity: str = attr("str", default="relu")

    def size(self, graph: Any) -> int:
        return int(self.w_hh.shape[0])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        batch, steps, _ = x.shape
        hidden = self.w_hh.shape[0]
        h = np.zeros((batch, hidden))
        out = np.zeros((batch, steps, hidden))
        bias = self.bias if self.bias is not None else 0.0
        for t in range(steps):
            z = x[:, t] @ self.w_ih.T + h @ self.w_hh.T + bias
            h = np.tanh(z) if self.nonlinearity == "tanh" else np.maximum(z, 0.0)
            out[:, t] = h
        return out

    def verify(self, graph: Any) -> None:
        n_in = graph[self.source].size(graph)
        h = self.w_hh.shape[0] if self.w_hh.ndim == 2 else -1
        if h < 1:
            raise self.fail(f"w_hh must be a square 2-D matrix, got shape {self.w_hh.shape}")
        check_shape(self, "w_hh", (h, h))
        check_shape(self, "w_ih", (h, n_in))
        check_shape(self, "bias", (h,))
        if self.nonlinearity not in ("relu", "tanh"):
            raise self.fail(f"nonlinearity must be 'relu' or 'tanh', got {self.nonlinearity!r}")

    def recurrent(self, graph: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.nonlinearity != "relu":
            raise self.fail(
                f"nonlinearity {self.nonlinearity!r} cannot run on spiking units, which "
                "compute a clipped ReLU; train with nn.RNN(nonlinearity='relu') or start "
                "nsc.constrain from this model"
            )
        bias = self.bias if self.bias is not None else np.zeros(self.w_hh.shape[0])
        return self.w_ih, self.w_hh, bias

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        src = source
        for layer_name, w_ih, w_hh, b_ih, b_hh in torch_layers(module, name, graph):
            graph.add(
                cls(
                    layer_name,
                    source=src,
                    w_ih=w_ih,
                    w_hh=w_hh,
                    bias=b_ih + b_hh if b_ih is not None and b_hh is not None else None,
                    nonlinearity=module.nonlinearity,
                )
            )
            src = layer_name
        return "rnn", src

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        """``aten.rnn_relu.input`` / ``aten.rnn_tanh.input``: ``(input, hx, params,
        has_biases, num_layers, dropout, train, bidirectional, batch_first)``, ``params``
        being ``w_ih, w_hh[, b_ih, b_hh]`` per layer (and direction)."""
        nonlinearity = "tanh" if target.startswith("aten.rnn_tanh") else "relu"
        rnn = aten_recurrent_module(args, name, proj_size=0, nonlinearity=nonlinearity)
        return cls.from_torch(rnn, source, name, graph)


def aten_recurrent_module(args: dict[str, Any], name: str, **extra: Any) -> SimpleNamespace:
    """A namespace standing in for the ``nn.RNN``/``nn.GRU`` an ATen recurrent op
    (``input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
    batch_first``) was exported from, for ``from_torch``; ``params`` being ``[w_ih, w_hh,
    b_ih, b_hh]`` per layer and direction (biases only if ``has_biases``). The initial state
    must be zero and the export in eval mode."""
    hx = args["hx"]
    if hx is not None and bool(hx.detach().any()):
        raise FrontendError(
            f"{name}: a nonzero initial state h0 is not supported (the spiking network "
            "starts every sequence at rest, h0 = 0)"
        )
    layers = int(args["num_layers"])
    if args["train"] and args["dropout"] and layers > 1:
        raise FrontendError(
            f"{name}: exported in training mode (dropout {args['dropout']} between "
            "layers); call model.eval() before torch.export.export"
        )
    module = SimpleNamespace(bidirectional=bool(args["bidirectional"]), num_layers=layers, **extra)
    per_layer = 4 if args["has_biases"] else 2
    params = list(args["params"])
    directions = 2 if module.bidirectional else 1
    if len(params) != per_layer * layers * directions:
        raise FrontendError(
            f"{name}: {len(params)} weight tensors for {layers} layer(s), expected "
            f"{per_layer * layers * directions}"
        )
    for layer in range(layers):
        own = params[per_layer * directions * layer :][:per_layer]
        setattr(module, f"weight_ih_l{layer}", own[0])
        setattr(module, f"weight_hh_l{layer}", own[1])
        if per_layer == 4:
            setattr(module, f"bias_ih_l{layer}", own[2])
            setattr(module, f"bias_hh_l{layer}", own[3])
    return module


def torch_layers(
    module: Any, name: str, graph: Any, kind: str = ""
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Each layer of a torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (or of a namespace holding
    the same attributes, ``kind`` naming it) as ``(node name, w_ih, w_hh, b_ih, b_hh)``
    arrays, after refusing what a causal spiking network cannot run (bidirectional layers,
    projections) and non-finite weights."""
    kind = kind or type(module).__name__
    if module.bidirectional:
        raise FrontendError(
            f"{name}: a bidirectional {kind} reads the sequence backwards too, which needs the "
            "future; a causal spiking network does not have it (use bidirectional=False)"
        )
    if getattr(module, "proj_size", 0):
        raise proj_size_error(name, kind, module.proj_size)
    for layer in range(module.num_layers):
        w_ih = getattr(module, f"weight_ih_l{layer}")
        w_hh = getattr(module, f"weight_hh_l{layer}")
        b_ih = getattr(module, f"bias_ih_l{layer}", None)
        b_hh = getattr(module, f"bias_hh_l{layer}", None)
        check_finite(name, w_ih, w_hh, b_ih, b_hh)
        layer_name = graph.fresh_name(name if module.num_layers == 1 else f"{name}_l{layer}")
        yield (
            layer_name,
            tensor_array(w_ih),
            tensor_array(w_hh),
            None if b_ih is None else tensor_array(b_ih),
            None if b_hh is None else tensor_array(b_hh),
        )


def proj_size_error(name: str, kind: str, proj: int) -> FrontendError:
    """The refusal of a recurrent layer with an output projection (torch's ``proj_size``)."""
    return FrontendError(
        f"{name}: {kind} proj_size={proj} is not supported: a recurrent layer's state is its "
        f"output on the cores (docs/gated-units.md); use proj_size=0 and a Linear layer after "
        f"the {kind}"
    )
