"""What the text format knows about each op, derived once from the node dataclass fields.

Nothing here names a node class: operands and attributes come from
:func:`nsc.ir.nodes.operand_fields` and :func:`nsc.ir.nodes.attribute_fields`, so a field
added to a node is printed and parsed without touching this package.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from ..ir.nodes import NODE_TYPES, Node, attribute_fields, operand_fields


@dataclass(frozen=True)
class AttrSpec:
    """One attribute of an op: ``kind`` is ``int``, ``float``, ``str`` or ``array``."""

    name: str
    kind: str
    dtype: str | None
    required: bool
    default: Any

    def describe(self) -> str:
        """How the expected value reads in an error message."""
        if self.kind == "array":
            return f"a {self.dtype} array"
        return {"int": "an integer", "float": "a float", "str": "a string"}[self.kind]


@dataclass(frozen=True)
class OpSpec:
    """The text signature of one op: its node class, operands and attributes in field order."""

    op: str
    cls: type[Node]
    operands: tuple[str, ...]
    required_operands: int
    attrs: dict[str, AttrSpec]

    def signature(self) -> str:
        """``synapses %source, %target`` (for error messages)."""
        names = ", ".join(f"%{name}" for name in self.operands)
        return f"{self.op} {names}".rstrip()


def _attr_spec(f: dataclasses.Field[Any]) -> AttrSpec:
    required = f.default is dataclasses.MISSING
    return AttrSpec(
        name=f.name,
        kind=f.metadata["kind"],
        dtype=f.metadata["dtype"],
        required=required,
        default=None if required else f.default,
    )


@functools.cache
def op_spec(op: str) -> OpSpec:
    """The signature of ``op`` (a key of ``NODE_TYPES``)."""
    cls = NODE_TYPES[op]
    operands = operand_fields(cls)
    optional = [bool(f.metadata["optional"]) for f in operands]
    # Operands are positional, so an optional operand may only be followed by optional ones.
    required = optional.index(True) if True in optional else len(optional)
    if not all(optional[required:]):
        raise TypeError(f"{cls.__name__}: optional operands must come after required ones")
    return OpSpec(
        op=op,
        cls=cls,
        operands=tuple(f.name for f in operands),
        required_operands=required,
        attrs={f.name: _attr_spec(f) for f in attribute_fields(cls)},
    )
