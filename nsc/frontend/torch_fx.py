"""PyTorch -> network-level IR, by torch.fx symbolic tracing.

Which torch modules and functions become which ops is declared by the ops themselves
(``torch_modules`` / ``torch_functions`` / ``from_torch`` of every registered op, see
nsc/ops): today ``nn.Linear``, ``nn.ReLU`` / ``F.relu`` / ``torch.relu`` / ``.relu()``,
``nn.RNN`` (Elman). This module adds the structure around them: ``nn.Dropout`` /
``nn.Identity`` (inference: identity), indexing that picks an RNN's output sequence or final
state, and taking the last step (``out[:, -1]``, ``h_n[-1]``, ``h_n.squeeze(0)``). The IR is
per step: every node yields one value per step, and "take the last step" is the caller's
reading of the final output (graph attribute ``readout = "last"``). Anything else raises
:class:`FrontendError` naming the op and listing what is supported. A ``torch.export`` program
(a GraphModule of ATen operators) goes to :mod:`nsc.frontend.torch_export` instead.
"""

from __future__ import annotations

import operator
from typing import Any

from ..errors import FrontendError
from ..ir import NODE_TYPES, Graph, Input, Node, Output

PASS_THROUGH = ("Dropout", "Identity")  # identity at inference


def module_converters() -> dict[str, type[Node]]:
    """``torch.nn`` class name -> the op that converts it (declared by the ops)."""
    return {name: cls for cls in NODE_TYPES.values() for name in cls.torch_modules}


def function_converters() -> dict[str, type[Node]]:
    """Torch function / tensor method name -> the op that converts it."""
    return {name: cls for cls in NODE_TYPES.values() for name in cls.torch_functions}


def supported() -> str:
    """What this frontend accepts, for error messages."""
    mods = ", ".join(f"nn.{m}" for m in sorted([*module_converters(), *PASS_THROUGH]))
    funcs = ", ".join(sorted(function_converters()))
    return f"{mods}; functions {funcs}; and selecting an RNN's outputs or its last step"


def _converter(module: Any) -> type[Node] | None:
    table = module_converters()
    for klass in type(module).__mro__:
        if klass.__module__.startswith("torch.nn") and klass.__name__ in table:
            return table[klass.__name__]
    return None


def from_torch(model: Any, example_input: Any = None) -> Graph:
    import torch
    from torch import fx, nn

    from .torch_export import from_export, is_exported

    if is_exported(model):
        return from_export(model, example_input)

    try:
        traced = fx.symbolic_trace(model)
    except Exception as err:  # torch raises many types here; report them as one user error
        raise FrontendError(
            f"torch.fx cannot trace {type(model).__name__}: {err}. Supported: {supported()}"
        ) from None
    modules = dict(traced.named_modules())
    g = Graph(type(model).__name__.lower() or "main", attrs={"level": "network", "readout": "all"})
    # fx node name -> ("seq", ir name): per-step values; ("hn", ir name): an RNN's final
    # state h_n (the last step); ("rnn", ir name): an RNN's (output, h_n) tuple
    env: dict[str, Any] = {}
    n_features = _features(traced, modules, example_input)
    rnns = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    batch_first = rnns[0].batch_first if rnns else True

    def seq(arg: Any, where: str) -> str:
        return sequence_node(env.get(str(getattr(arg, "name", ""))), where, g)

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
            if type(mod).__name__ in PASS_THROUGH and type(mod).__module__.startswith("torch"):
                env[node.name] = ("seq", src)
                continue
            op = _converter(mod)
            if op is None:
                raise FrontendError(
                    f"unsupported layer {node.target!r} ({type(mod).__name__}); "
                    f"supported: {supported()}"
                )
            try:
                env[node.name] = op.from_torch(mod, src, fresh(node.target), g)
            except FrontendError as err:
                raise FrontendError(f"{where}: {err}; supported: {supported()}") from None
        elif node.op in ("call_function", "call_method"):
            env[node.name] = _call(g, node, env, seq, fresh, where, torch, batch_first)
        elif node.op == "output":
            result = node.args[0]
            if isinstance(result, (tuple, list)):
                result = result[0]
            src = seq(result, where)
            g.add(Output(fresh("output"), source=src))
        else:
            raise FrontendError(f"{where}: unsupported operation; supported: {supported()}")
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
            if index == 1 and g[base[1]].op == "lstm":  # an LSTM's (h_n, c_n)
                return ("lstm_state", base[1])
            if index == 1:  # the final state h_n: the last step of the last layer
                return ("hn", base[1])
            raise FrontendError(f"{where}: an RNN returns (output, h_n); index {index!r}")
        if base is not None and base[0] == "lstm_state":  # c_n: refused where it is read
            return ("hn", base[1]) if index == 0 else ("cn", base[1])
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
    fn_name = target if isinstance(target, str) else getattr(target, "__name__", "")
    op = function_converters().get(fn_name)
    if op is not None and (isinstance(target, str) or _is_torch(target)):
        return op.from_torch(None, seq(node.args[0], where), fresh(node.name), g)
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
    raise FrontendError(f"unsupported operation {name!r} in {where}; supported: {supported()}")


def _is_torch(fn: Any) -> bool:
    """A function of torch itself (``torch.relu``, ``F.relu``), not a user's namesake."""
    return str(getattr(fn, "__module__", "") or "").startswith("torch") or fn in _torch_builtins()


def _torch_builtins() -> tuple[Any, ...]:
    import torch

    return (torch.relu, torch.nn.functional.relu)


def sequence_node(value: tuple[str, Any] | None, where: str, graph: Graph) -> str:
    """The IR node holding a traced data value ``(kind, node)``: a sequence (``seq``) or an
    RNN's ``h_n`` (``hn``, read as its last step: the graph's readout becomes ``last``); an
    LSTM's ``c_n`` and anything else are refused, naming ``where``. Both torch frontends."""
    if value is not None and value[0] == "cn":
        raise FrontendError(
            f"{where}: reads the LSTM's final cell state c_n, which the hardware-native "
            "gated unit does not output (its state is its output: use h_n or the output "
            "sequence; docs/gated-units.md)"
        )
    if value is None or value[0] not in ("seq", "hn"):
        raise FrontendError(f"{where}: expects a tensor produced by a supported layer")
    if value[0] == "hn":
        graph.attrs["readout"] = "last"
    return str(value[1])
