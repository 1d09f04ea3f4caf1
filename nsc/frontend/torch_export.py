"""torch.export programs -> network-level IR: the IR :mod:`nsc.frontend.torch_fx` gives for the
module that was exported.

An exported program (``torch.export.export(model, (x,))``, or a ``.pt2`` file read back by
:func:`nsc.frontend.load.load_model`) is a ``torch.fx.GraphModule`` whose nodes call ATen
operators, the parameters being ``get_attr`` nodes. Which ATen operators become which ops is
declared by the ops themselves (``torch_aten`` / ``from_aten`` of every registered op, see
nsc/ops): today ``aten.linear`` (``nn.Linear``), ``aten.relu`` (``nn.ReLU``, ``F.relu``...),
``aten.rnn_relu`` / ``aten.rnn_tanh`` (``nn.RNN``), ``aten.gru`` (``nn.GRU``) and
``aten.lstm`` (``nn.LSTM``, its ``[h0, c0]`` and ``c_n``). This module adds the structure around
them, as torch_fx does for modules: an RNN's zero initial state (``aten.zeros``, its size
possibly symbolic: ``aten.sym_size``), picking an RNN's output sequence or final state
(``getitem``), taking the last step (``aten.select`` at index -1 for ``out[:, -1]`` /
``out[-1]`` / ``h_n[-1]``, ``aten.squeeze`` of ``h_n``), identities at inference
(``aten.dropout`` in eval mode, ``contiguous``, ``clone``, ``detach``, ``alias``) and the
export's input check (``call_module _guards_fn``, ignored). Nodes are named after the modules
the export recorded (``nn_module_stack``), as torch_fx names them, so both frontends give the
same IR. Anything else raises :class:`FrontendError` naming the operator and listing what is
supported.
"""

from __future__ import annotations

import operator
from typing import Any

from ..errors import FrontendError
from ..ir import NODE_TYPES, Graph, Input, Node, Output
from .torch_fx import sequence_node

GUARDS = "_guards_fn"  # torch.export's check of the input shapes: computes nothing
ZEROS = "aten.zeros.default"  # an RNN's initial state (nn.RNN without h0)
SIZE = "aten.sym_size.int"  # a symbolic (dynamic) dimension, read by aten.zeros
IDENTITIES = (
    "aten.dropout.default",
    "aten.contiguous.default",
    "aten.clone.default",
    "aten.detach.default",
    "aten.alias.default",
)
SELECT = "aten.select.int"
SQUEEZES = ("aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default")

# values of graph nodes: ("seq", ir name) a value per step, ("hn", ir name) an RNN's final
# state, ("cn", ir name) an LSTM's final cell state (refused where read), ("rnn", ir name) an
# RNN's (output, h_n) pair (as in torch_fx); ("const", tensor) a
# parameter or constant; ("size", None) a symbolic size; ("none", None) no value
Value = tuple[str, Any]


def aten_converters() -> dict[str, type[Node]]:
    """ATen operator name (``aten.linear.default``) -> the op that converts it (declared by the
    ops)."""
    return {name: cls for cls in NODE_TYPES.values() for name in cls.torch_aten}


def supported() -> str:
    """What this frontend accepts, for error messages."""
    parts = []
    for cls in dict.fromkeys(aten_converters().values()):
        modules = ", ".join(f"nn.{m}" for m in cls.torch_modules)
        parts.append(f"{', '.join(cls.torch_aten)} (from {modules})")
    return (
        f"ATen operators {'; '.join(parts)}; {ZEROS} as an RNN's initial state; "
        f"{', '.join(IDENTITIES)} (identities at inference: dropout in eval mode); and "
        f"getitem, {SELECT} and {', '.join(SQUEEZES)} selecting an RNN's outputs or the last "
        "step"
    )


def is_exported(model: Any) -> bool:
    """Whether ``model`` is a torch.export program: an ``ExportedProgram``, or the
    ``torch.fx.GraphModule`` of ATen operators its ``module()`` returns."""
    import torch
    from torch.export import ExportedProgram

    if isinstance(model, ExportedProgram):
        return True
    if not isinstance(model, torch.fx.GraphModule):
        return False
    return any(
        node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload)
        for node in model.graph.nodes
    )


def from_export(model: Any, example_input: Any = None) -> Graph:
    """Lower a torch.export program (see the module docstring) to network-level IR."""
    from torch.export import ExportedProgram

    if isinstance(model, ExportedProgram):
        try:
            model = model.module()
        except Exception as err:  # torch raises many types here; one user error
            raise FrontendError(f"cannot unlift the exported program: {err}") from None
    return _Lowering(model).run(example_input)


class _Lowering:
    """One exported GraphModule being lowered into :attr:`g`."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.nodes = list(module.graph.nodes)
        self.root = _root_class(self.nodes)
        self.g = Graph(self.root.lower() or "main", attrs={"level": "network", "readout": "all"})
        self.env: dict[str, Value] = {}
        # as torch_fx: which axis is time follows the (first) RNN; batch_first without one
        self.batch_first = _batch_first(self.nodes)

    def run(self, example_input: Any) -> Graph:
        for node in self.nodes:
            where = f"{self.root or 'exported program'}: {node.op} {_name(node.target)}"
            self.env[node.name] = self.lower(node, where, example_input)
        return self.g

    # -- values ---------------------------------------------------------------------------
    def value(self, arg: Any) -> Value | None:
        return self.env.get(str(getattr(arg, "name", "")))

    def seq(self, arg: Any, where: str) -> str:
        """The IR node holding data value ``arg`` (an RNN's h_n read as such: its last step)."""
        return sequence_node(self.value(arg), where, self.g)

    def const(self, arg: Any, key: str, where: str) -> Any:
        """Argument ``key`` as a constant: tensors for parameters, lists element-wise."""
        if isinstance(arg, (list, tuple)):
            return [self.const(a, key, where) for a in arg]
        if not hasattr(arg, "op"):  # a literal of the call (int, float, bool, None...)
            return arg
        value = self.value(arg)
        if value is None or value[0] not in ("const", "size"):
            raise FrontendError(
                f"{where}: argument {key!r} must be a parameter or a constant, not a tensor "
                "computed from the input"
            )
        return value[1]

    def fresh(self, base: str) -> str:
        return self.g.fresh_name(base.replace(".", "_") or "v")

    # -- nodes ----------------------------------------------------------------------------
    def lower(self, node: Any, where: str, example_input: Any) -> Value:
        if node.op == "placeholder":
            if self.g.of_type(Input):
                raise FrontendError(f"{where}: models with several inputs are not supported")
            name = self.fresh(node.name)
            self.g.add(Input(name, features=_features(node, example_input)))
            return ("seq", name)
        if node.op == "get_attr":
            return ("const", _attribute(self.module, str(node.target)))
        if node.op == "call_module" and node.target == GUARDS:
            return ("none", None)
        if node.op == "call_function":
            return self.call(node, where)
        if node.op == "output":
            result = node.args[0]
            if isinstance(result, (tuple, list)):
                result = result[0]
            self.g.add(Output(self.fresh("output"), source=self.seq(result, where)))
            return ("none", None)
        raise FrontendError(
            f"unsupported operation {_name(node.target)!r} in {where}; supported: {supported()}"
        )

    def call(self, node: Any, where: str) -> Value:
        import torch

        target = node.target
        if target is operator.getitem:
            return self.getitem(node, where)
        name = _name(target)
        if not isinstance(target, torch._ops.OpOverload):
            raise FrontendError(
                f"unsupported operation {name!r} in {where}; supported: {supported()}"
            )
        args = _bind(node)
        op = aten_converters().get(name)
        if op is not None:
            first = next(iter(args))
            src = self.seq(args.pop(first), where)
            rest = {k: self.const(v, k, where) for k, v in args.items()}
            try:
                return op.from_aten(name, src, rest, self.fresh(_layer_name(node)), self.g)
            except FrontendError as err:
                raise FrontendError(f"{where}: {err}; supported: {supported()}") from None
        if name == ZEROS:
            # only ever all zeros: symbolic sizes (a dynamic batch) stand as 1
            size = [s if isinstance(s, int) else 1 for s in self.const(args["size"], "size", where)]
            return ("const", torch.zeros(size))
        if name == SIZE:
            return ("size", None)
        if name in IDENTITIES:
            if name == "aten.dropout.default" and args["train"] and args["p"]:
                raise FrontendError(
                    f"{where}: dropout in training mode; call model.eval() before "
                    "torch.export.export"
                )
            data = next(iter(args.values()))
            self.seq(data, where)
            return self.value(data) or ("none", None)
        if name == SELECT:
            return self.last_step(node, args, where)
        if name in SQUEEZES:
            return self.squeeze(args, where)
        raise FrontendError(f"unsupported operation {name!r} in {where}; supported: {supported()}")

    def getitem(self, node: Any, where: str) -> Value:
        base = self.value(node.args[0])
        index = node.args[1]
        if base is None or base[0] != "rnn":
            raise FrontendError(
                f"{where}: indexing {index!r} is supported on an RNN's (output, h_n) only"
            )
        if index == 0:
            return ("seq", base[1])
        if index == 1:  # the final state h_n: the last step of the last layer
            return ("hn", base[1])
        if index == 2:  # an LSTM's final cell state: an error only if something reads it
            return ("cn", base[1])
        raise FrontendError(f"{where}: an RNN returns (output, h_n); index {index!r}")

    def last_step(self, node: Any, args: dict[str, Any], where: str) -> Value:
        """``aten.select(x, dim, -1)``: the last step when ``dim`` is the time axis."""
        base = self.value(args["self"])
        kind = base[0] if base is not None else "seq"
        src = self.seq(args["self"], where)
        dim, index = int(args["dim"]), int(args["index"])
        shape = getattr(args["self"].meta.get("val"), "shape", None)
        if shape is not None and dim < 0:
            dim += len(shape)
        time = 0 if kind == "hn" or not self.batch_first else 1
        if dim == time and index == -1:
            self.g.attrs["readout"] = "last"
            return ("seq", src)
        hint = "h_n[-1]" if kind == "hn" else ("out[:, -1]" if self.batch_first else "out[-1]")
        raise FrontendError(
            f"{where}: selecting index {index} of dimension {dim} is not supported; only "
            f"taking the last step ({hint} here, batch_first={self.batch_first})"
        )

    def squeeze(self, args: dict[str, Any], where: str) -> Value:
        """``h_n.squeeze(0)``: the final state of a one-layer RNN, still its last step."""
        base = self.value(args["self"])
        dims = args.get("dim", 0)
        if base is None or base[0] != "hn" or dims not in (0, [0], (0,)):
            raise FrontendError(f"{where}: squeeze is supported on an RNN's h_n (dimension 0)")
        return base


# ---------------------------------------------------------------------------------------------


def _name(target: Any) -> str:
    """``aten.linear.default`` for an ATen operator, else the function's or module's name."""
    if isinstance(target, str) or hasattr(target, "_schema"):  # an OpOverload prints so
        return str(target)
    return str(getattr(target, "__name__", None) or target)


def _bind(node: Any) -> dict[str, Any]:
    """The call's arguments by the operator schema's names, in schema order (defaults
    filled in)."""
    bound: dict[str, Any] = {}
    for i, arg in enumerate(node.target._schema.arguments):
        if i < len(node.args):
            bound[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            bound[arg.name] = node.kwargs[arg.name]
        else:
            bound[arg.name] = arg.default_value if arg.has_default_value() else None
    return bound


def _attribute(module: Any, target: str) -> Any:
    obj = module
    for part in target.split("."):
        if not hasattr(obj, part):
            raise FrontendError(f"exported program: get_attr {target}: no such parameter")
        obj = getattr(obj, part)
    return obj


def _module_stack(node: Any) -> list[tuple[str, str]]:
    """The modules (path, class name with its module) the export recorded for ``node``,
    outermost first."""
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for entry in stack.values():
        path, kind = entry[0], entry[1]
        if not isinstance(kind, str):
            kind = f"{kind.__module__}.{kind.__qualname__}"
        out.append((str(path), kind))
    return out


def _layer_name(node: Any) -> str:
    """The torch.nn module this call comes from (``embed``) or, for a function call, the
    operator's name (``relu``): the names torch_fx gives (the graph makes them unique)."""
    stack = _module_stack(node)
    if stack:
        path, kind = stack[-1]
        if path and kind.startswith("torch.nn."):
            return path
    parts = _name(node.target).split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "aten" else str(node.name)


def _root_class(nodes: list[Any]) -> str:
    """The class name of the exported module (``Classifier``), or ``""`` if not recorded."""
    for node in nodes:
        stack = _module_stack(node)
        if stack and stack[0][0] == "":  # the root module's path is empty
            return stack[0][1].rsplit(".", 1)[-1]
    return ""


def _batch_first(nodes: list[Any]) -> bool:
    for node in nodes:
        schema = getattr(node.target, "_schema", None)
        if schema is not None and any(a.name == "batch_first" for a in schema.arguments):
            return bool(_bind(node)["batch_first"])
    return True


def _features(node: Any, example_input: Any) -> int:
    """The input size the export recorded, which the example input (if any) must have."""
    shape = getattr(node.meta.get("val"), "shape", None)
    last = shape[-1] if shape else None
    recorded = int(last) if isinstance(last, int) else None  # not a symbolic size
    given = None
    if example_input is not None and hasattr(example_input, "shape"):
        given = int(example_input.shape[-1])
    if given is not None and recorded is not None and given != recorded:
        raise FrontendError(
            f"the example input has {given} features per step, the exported program takes "
            f"{recorded}"
        )
    if given is not None:
        return given
    if recorded is not None:
        return recorded
    raise FrontendError("cannot tell the input size: pass an example input")
