"""PyTorch -> network-level IR, by torch.fx symbolic tracing.

Supported: ``nn.Linear`` (with or without bias), ``nn.ReLU`` / ``F.relu`` / ``torch.relu`` /
``.relu()``, ``nn.RNN`` (Elman; ``relu`` or ``tanh``, any number of layers, batch_first or
not, unidirectional), ``nn.Dropout`` / ``nn.Identity`` (inference: identity), indexing that
picks an RNN's output sequence or final state, and taking the last step (``out[:, -1]``,
``h_n[-1]``, ``h_n.squeeze(0)``). The IR is per step: every node yields one value per step,
and "take the last step" is the caller's reading of the final output (graph attribute
``readout = "last"``). Anything else raises :class:`FrontendError` naming the op and listing
what is supported.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import FrontendError
from ..ir import ElmanRNN, Graph, Input, Linear, Output, ReLU

SUPPORTED = (
    "nn.Linear, nn.ReLU (also F.relu, torch.relu, .relu()), nn.RNN (Elman, unidirectional), "
    "nn.Dropout, nn.Identity, and selecting an RNN's outputs or its last step"
)


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def from_torch(model: Any, example_input: Any = None) -> Graph:
    import torch
    from torch import fx, nn

    try:
        traced = fx.symbolic_trace(model)
    except Exception as err:  # torch raises many types here; report them as one user error
        raise FrontendError(
            f"torch.fx cannot trace {type(model).__name__}: {err}. Supported: {SUPPORTED}"
        ) from None
    modules = dict(traced.named_modules())
    g = Graph(type(model).__name__.lower() or "main", attrs={"readout": "all"})
    env: dict[str, Any] = {}  # fx node name -> ("seq", ir name) | ("rnn", ir name)
    n_features = _features(model, example_input)

    def seq(arg: Any, where: str) -> str:
        value = env.get(str(getattr(arg, "name", "")))
        if value is None or value[0] != "seq":
            raise FrontendError(f"{where}: expects a tensor produced by a supported layer")
        return value[1]

    def fresh(base: str) -> str:
        return g.fresh_name(base.replace(".", "_") or "v")

    for node in traced.graph.nodes:
        where = f"{type(model).__name__}: {node.op} {node.target}"
        if node.op == "placeholder":
            if g.of_type(Input):
                raise FrontendError(f"{where}: models with several inputs are not supported")
            name = fresh(node.name)
            g.add(Input(name, features=n_features))
            env[node.name] = ("seq", name)
        elif node.op == "call_module":
            mod = modules[node.target]
            src = seq(node.args[0], where)
            if isinstance(mod, nn.Linear):
                bias = _np(mod.bias) if mod.bias is not None else None
                _check_finite(node.target, mod.weight, mod.bias)
                name = fresh(node.target)
                g.add(Linear(name, source=src, weight=_np(mod.weight), bias=bias))
                env[node.name] = ("seq", name)
            elif isinstance(mod, nn.ReLU):
                name = fresh(node.target)
                g.add(ReLU(name, source=src))
                env[node.name] = ("seq", name)
            elif isinstance(mod, (nn.Dropout, nn.Identity)):
                env[node.name] = ("seq", src)
            elif isinstance(mod, nn.RNN):
                env[node.name] = ("rnn", _rnn(g, mod, src, fresh(node.target), where))
            else:
                raise FrontendError(
                    f"unsupported layer {node.target!r} ({type(mod).__name__}); "
                    f"supported: {SUPPORTED}"
                )
        elif node.op in ("call_function", "call_method"):
            env[node.name] = _call(g, node, env, seq, fresh, where, torch)
        elif node.op == "output":
            result = node.args[0]
            if isinstance(result, (tuple, list)):
                result = result[0]
            src = seq(result, where)
            g.add(Output(fresh("output"), source=src))
        else:
            raise FrontendError(f"{where}: unsupported operation; supported: {SUPPORTED}")
    return g


def _features(model: Any, example_input: Any) -> int:
    if example_input is not None and hasattr(example_input, "shape"):
        return int(example_input.shape[-1])
    for mod in model.modules():
        for attr in ("in_features", "input_size"):
            if hasattr(mod, attr):
                return int(getattr(mod, attr))
    raise FrontendError("cannot tell the input size: pass an example input")


def _check_finite(name: str, *tensors: Any) -> None:
    for t in tensors:
        if t is not None and not bool(t.detach().isfinite().all()):
            raise FrontendError(f"layer {name!r} has NaN or infinite weights")


def _rnn(g: Graph, mod: Any, src: str, base: str, where: str) -> str:
    if mod.bidirectional:
        raise FrontendError(f"{where}: bidirectional RNNs need the future; not supported")
    if getattr(mod, "proj_size", 0):
        raise FrontendError(f"{where}: RNN proj_size is not supported")
    for layer in range(mod.num_layers):
        w_ih = getattr(mod, f"weight_ih_l{layer}")
        w_hh = getattr(mod, f"weight_hh_l{layer}")
        b_ih = getattr(mod, f"bias_ih_l{layer}", None)
        b_hh = getattr(mod, f"bias_hh_l{layer}", None)
        _check_finite(base, w_ih, w_hh, b_ih, b_hh)
        bias = None
        if b_ih is not None:
            bias = _np(b_ih) + _np(b_hh)
        name = g.fresh_name(base if mod.num_layers == 1 else f"{base}_l{layer}")
        g.add(
            ElmanRNN(
                name,
                source=src,
                w_ih=_np(w_ih),
                w_hh=_np(w_hh),
                bias=bias,
                nonlinearity=mod.nonlinearity,
            )
        )
        src = name
    return src


def _call(g: Graph, node: Any, env: dict, seq: Any, fresh: Any, where: str, torch: Any) -> Any:
    target = node.target
    if target is operator.getitem:
        base = env.get(getattr(node.args[0], "name", None))
        index = node.args[1]
        if base is not None and base[0] == "rnn":
            if index in (0, 1):  # output sequence, or final state h_n (= the last step)
                if index == 1:
                    g.attrs["readout"] = "last"
                return ("seq", base[1])
            raise FrontendError(f"{where}: an RNN returns (output, h_n); index {index!r}")
        src = seq(node.args[0], where)
        if _is_last_step(index):
            g.attrs["readout"] = "last"
            return ("seq", src)
        raise FrontendError(
            f"{where}: indexing {index!r} is not supported (only taking the last step, "
            "e.g. out[:, -1] or h_n[-1])"
        )
    relu_fns = (torch.relu, torch.nn.functional.relu)
    if target in relu_fns or target == "relu":
        src = seq(node.args[0], where)
        name = fresh(node.name)
        g.add(ReLU(name, source=src))
        return ("seq", name)
    if target in ("squeeze", "contiguous") or target == "detach":
        g.attrs["readout"] = "last" if target == "squeeze" else g.attrs.get("readout", "all")
        return ("seq", seq(node.args[0], where))
    name = getattr(target, "__name__", str(target))
    raise FrontendError(f"unsupported operation {name!r} in {where}; supported: {SUPPORTED}")


def _is_last_step(index: Any) -> bool:
    if index == -1:
        return True
    if isinstance(index, tuple) and len(index) == 2:
        first, second = index
        return first == slice(None, None, None) and second == -1
    return False
