"""The canonical text form of a graph (``print_ir``), derived from the node field declarations.

Layout rules (the parser accepts any whitespace; the printer always writes this):

- ``nsir 1``, then ``graph @NAME {ATTRS} {`` (``{ATTRS}`` omitted when empty; keys sorted),
  one node per definition in graph order, indented by two spaces, then ``}``;
- a node is ``%NAME = OP OPERANDS {ATTRS}``: operands in field order, attributes in field
  order, an attribute equal to its declared default (or an absent optional array) omitted;
- a node that fits in 100 columns and has no multi-line array is one line; otherwise each
  attribute is on its own line, indented by four spaces;
- arrays follow :mod:`nsc.text.arrays`.
"""

from __future__ import annotations

import json
import math
import operator
import re
from typing import Any

import numpy as np

from ..errors import IRVerifyError, NscError
from ..ir.graph import Graph
from ..ir.nodes import NUMPY_DTYPES, Node
from .arrays import format_array
from .limits import file_limit_error
from .schema import AttrSpec, op_spec

VERSION = 1
LINE_WIDTH = 100
_BARE_NAME = re.compile(r"[A-Za-z0-9_.$\-]+")
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def print_ir(graph: Graph) -> str:
    """The canonical nsir text of ``graph`` (``parse_ir`` reads it back to an equal graph).

    Raises :class:`~nsc.errors.NscError` for a graph the parser would refuse as too large
    (:mod:`nsc.text.limits`)."""
    out = [f"nsir {VERSION}\n", f"graph @{quote_name(graph.name)}"]
    if graph.attrs:
        items = sorted(graph.attrs.items())
        out.append(" {" + ", ".join(f"{_key(k)} = {_graph_value(k, v)}" for k, v in items) + "}")
    out.append(" {\n")
    out.extend(_format_node(node) for node in graph)
    out.append("}\n")
    text = "".join(out)
    problem = file_limit_error(_array_bytes(graph), len(text), "its arrays")
    if problem is not None:
        raise NscError(f"graph @{graph.name} cannot be written as nsir: {problem}")
    return text


def _array_bytes(graph: Graph) -> int:
    total = 0
    for node in graph:
        for attr in op_spec(node.op).attrs.values():
            value = getattr(node, attr.name)
            if attr.kind == "array" and value is not None:
                itemsize = np.dtype(NUMPY_DTYPES[str(attr.dtype)]).itemsize
                total += math.prod(np.shape(value)) * itemsize
    return total


def quote_name(name: str) -> str:
    """A node or graph name as written after ``%`` / ``@``: bare if it can be, else quoted."""
    return name if _BARE_NAME.fullmatch(name) else quote_string(name)


def quote_string(text: str) -> str:
    """A double-quoted string with JSON escapes (lone surrogates escaped too)."""
    quoted = json.dumps(text, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else quote_string(key)


def _graph_value(key: str, value: object) -> str:
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise TypeError(f"graph attribute {key!r} is {type(value).__name__}; nsir takes int or str")


def _format_node(node: Node) -> str:
    spec = op_spec(node.op)
    head = f"  %{quote_name(node.name)} = {node.op}"
    operands = [getattr(node, field) for field in spec.operands]
    present = [value for value in operands if value is not None]
    if operands[: len(present)] != present:
        raise node.fail("an absent optional operand is followed by a present one")
    if present:
        head += " " + ", ".join(f"%{quote_name(value)}" for value in present)
    attrs = []
    for attr in spec.attrs.values():
        value = getattr(node, attr.name)
        if not _omitted(node, attr, value):
            attrs.append((attr.name, _format_attr(node, attr, value)))
    if not attrs:
        return head + "\n"
    line = head + " {" + ", ".join(f"{k} = {v}" for k, v in attrs) + "}"
    if len(line) <= LINE_WIDTH and "\n" not in line:
        return line + "\n"
    body = ",\n".join(f"    {k} = {v}" for k, v in attrs)
    return f"{head} {{\n{body}\n  }}\n"


def _omitted(node: Node, spec: AttrSpec, value: Any) -> bool:
    if spec.required:
        if value is None:
            raise node.fail(f"required attribute {spec.name!r} is None")
        return False
    if spec.kind == "array" or value is None:
        return value is None
    return bool(value == spec.default)


def _format_attr(node: Node, spec: AttrSpec, value: Any) -> str:
    if spec.kind == "int":
        return str(operator.index(value))
    if spec.kind == "float":
        return repr(float(value))
    if spec.kind == "str":
        return quote_string(value)
    assert spec.dtype is not None
    try:
        return format_array(np.asarray(value, NUMPY_DTYPES[spec.dtype]), "    ")
    except ValueError as err:
        raise IRVerifyError(node.name, f"attribute {spec.name!r}: {err}", node.span) from None
