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
    g = Graph(type(model).__name__.lower() or "main", attrs={"level": "network", "readout": "all"})
    # fx node name -> ("seq", ir name): per-step values; ("hn", ir name): an RNN's final
    # state h_n (the last step); ("rnn", ir name): an RNN's (output, h_n) tuple
    env: dict[str, Any] = {}
    n_features = _features(traced, modules, example_input)
    rnns = [m for m in model.modules() if isinstance(m, nn.RNN)]
    batch_first = rnns[0].batch_first if rnns else True

    def seq(arg: Any, where: str) -> str:
        value = env.get(str(getattr(arg, "name", "")))
        if value is None or value[0] not in ("seq", "hn"):
            raise FrontendError(f"{where}: expects a tensor produced by a supported layer")
        if value[0] == "hn":
            g.attrs["readout"] = "last"
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
            env[node.name] = _call(g, node, env, seq, fresh, where, torch, batch_first)
        elif node.op == "output":
            result = node.args[0]
            if isinstance(result, (tuple, list)):
                result = result[0]
            src = seq(result, where)
            g.add(Output(fresh("output"), source=src))
        else:
            raise FrontendError(f"{where}: unsupported operation; supported: {SUPPORTED}")
    return g


def _features(traced: Any, modules: dict[str, Any], example_input: Any) -> int:
    """The input size: from the example input, else from the first layer the input reaches."""
    if example_input is not None and hasattr(example_input, "shape"):
        return int(example_input.shape[-1])
    for node in traced.graph.nodes:
        if node.op != "placeholder":
            continue
        for user in node.users:
            mod = modules.get(user.target) if user.op == "call_module" else None
            for attr in ("in_features", "input_size"):
                if mod is not None and hasattr(mod, attr):
                    return int(getattr(mod, attr))
    raise FrontendError("cannot tell the input size: pass an example input")


def _check_finite(name: str, *tensors: Any) -> None:
    for t in tensors:
        if t is not None and not bool(t.detach().isfinite().all()):
            raise FrontendError(f"layer {name!r} has NaN or infinite weights")


def _rnn(g: Graph, mod: Any, src: str, base: str, where: str) -> str:
    if mod.bidirectional:
        raise FrontendError(
            f"{where}: bidirectional RNNs need the future, which a causal spiking network "
            f"does not have; supported: {SUPPORTED}"
        )
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


def _call(
    g: Graph, node: Any, env: dict, seq: Any, fresh: Any, where: str, torch: Any, batch_first: bool
) -> Any:
    target = node.target
    if target is operator.getitem:
        base = env.get(str(getattr(node.args[0], "name", "")))
        index = node.args[1]
        if base is not None and base[0] == "rnn":
            if index == 0:
                return ("seq", base[1])
            if index == 1:  # the final state h_n: the last step of the last layer
                return ("hn", base[1])
            raise FrontendError(f"{where}: an RNN returns (output, h_n); index {index!r}")
        kind = base[0] if base is not None else "seq"
        src = seq(node.args[0], where)
        last = -1 if kind == "hn" or not batch_first else (slice(None, None, None), -1)
        if index == last:
            g.attrs["readout"] = "last"
            return ("seq", src)
        hint = "h_n[-1]" if kind == "hn" else ("out[:, -1]" if batch_first else "out[-1]")
        raise FrontendError(
            f"{where}: indexing {index!r} is not supported; only taking the last step "
            f"({hint} here, batch_first={batch_first})"
        )
    relu_fns = (torch.relu, torch.nn.functional.relu)
    if target in relu_fns or target == "relu":
        src = seq(node.args[0], where)
        name = fresh(node.name)
        g.add(ReLU(name, source=src))
        return ("seq", name)
    if target == "squeeze":
        base = env.get(str(getattr(node.args[0], "name", "")))
        if base is None or base[0] != "hn":
            raise FrontendError(f"{where}: squeeze is supported on an RNN's h_n only")
        return ("hn", base[1])
    if target in ("contiguous", "detach"):
        base = env.get(str(getattr(node.args[0], "name", "")))
        seq(node.args[0], where)
        return base
    name = getattr(target, "__name__", str(target))
    raise FrontendError(f"unsupported operation {name!r} in {where}; supported: {SUPPORTED}")
