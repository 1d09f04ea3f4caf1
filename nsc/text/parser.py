"""Text to graph (``parse_ir``): lark parses the structure, :mod:`nsc.text.arrays` the arrays.

Every check is derived from the node field declarations (:mod:`nsc.text.schema`); every error
is an :class:`nsc.errors.IRParseError` at the offending token. The parser checks syntax,
attribute names and types, array shapes against their values, duplicate names and undefined
operands; the node rules (shapes against operands, ranges) are ``Graph.verify``'s.
"""

from __future__ import annotations

import difflib
import functools
import gc
import json
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from ..errors import IRParseError, NscError
from ..ir.graph import Graph
from ..ir.nodes import NODE_TYPES, NUMPY_DTYPES, Node, Span
from .arrays import ArraySyntaxError, parse_payload, parse_type
from .diagnostics import TERMINAL_WORDS, Source, from_lark
from .limits import array_limit_error, file_limit_error
from .printer import VERSION
from .schema import AttrSpec, OpSpec, op_spec

_GRAMMAR = Path(__file__).with_name("grammar.lark")
_MAX_INT_DIGITS = 4000
# the parts of an ARRAY_ATTR token (`name = TYPE PAYLOAD`, see grammar.lark)
_ARRAY_ATTR = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*=[ \t\r\n]*"
    r"(?P<type>[a-z][a-z0-9]*\[[^\]\n]*\])[ \t\r\n]*"
)
_KINDS = {"INT": "an integer", "FLOAT": "a float", "STRING": "a string", "TYPE": "an array"}
_ACCEPTS = {"int": ("INT",), "float": ("INT", "FLOAT"), "str": ("STRING",), "array": ("TYPE",)}


@functools.cache
def _lark() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


@functools.cache
def _terminal_words() -> dict[str, str]:
    words = dict(TERMINAL_WORDS)
    for terminal in _lark().terminals:
        if terminal.pattern.type == "str":
            words.setdefault(terminal.name, repr(terminal.pattern.value))
    return words


def parse_ir(text: str, path: str | None = None) -> Graph:
    """Parse nsir text into a :class:`~nsc.ir.Graph`; nodes keep their ``Span``.

    Raises :class:`~nsc.errors.IRParseError` (``path:line:col``, the line and a caret) for any
    malformed input. The graph is not verified: call ``graph.verify()``.
    """
    source = Source(text, path)
    if source.is_blank():
        raise source.error("empty file; an nsir file starts with the header 'nsir 1'", 1, 1)
    with _gc_paused():
        try:
            tree = _lark().parse(text)
        except LarkError as err:
            raise from_lark(err, source, _terminal_words()) from None
        return _Builder(source).graph(tree)


def parse_ir_file(path: str | Path) -> Graph:
    """Read and parse an nsir file; errors carry its path."""
    return parse_ir(read_ir_text(path), str(path))


def read_ir_text(path: str | Path) -> str:
    """The text of an nsir file: UTF-8 (a byte order mark is skipped), line ends kept.

    Raises :class:`~nsc.errors.IRParseError` at the first byte that is not UTF-8, and
    :class:`~nsc.errors.NscError` if the file cannot be read.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise NscError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _decode_error(data, err, str(path)) from None
    return text.removeprefix("\ufeff")


def _decode_error(data: bytes, err: UnicodeDecodeError, path: str) -> IRParseError:
    line_start = data.rfind(b"\n", 0, err.start) + 1
    line_end = data.find(b"\n", err.start)
    line_bytes = data[line_start : line_end if line_end >= 0 else len(data)]
    shown = line_bytes.decode("utf-8", "replace").rstrip("\r").replace("\t", " ")
    return IRParseError(
        f"invalid UTF-8 byte 0x{data[err.start]:02x}; nsir files are UTF-8 text",
        path,
        data.count(b"\n", 0, err.start) + 1,
        len(data[line_start : err.start].decode("utf-8")) + 1,
        shown,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: lark allocates many small objects that all stay
    alive, and collecting them over and over nearly doubles the time of a token-heavy file
    (docs/ir.md, Performance)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class _Value:
    """An attribute value: its token type (``INT FLOAT STRING TYPE``), text and offset;
    arrays also carry the payload text and offset."""

    kind: str
    text: str
    offset: int
    payload: str = ""
    payload_offset: int = 0


class _Builder:
    """Walks lark's tree and builds the graph, checking names and attributes."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.defined: dict[str, Token] = {}

    def error(self, token: Token, message: str, offset: int = 0) -> IRParseError:
        return self.source.error_in(token, message, offset)

    # -- graph ------------------------------------------------------------------------------
    def graph(self, tree: Tree[Token]) -> Graph:
        header, body = _trees(tree)
        version = _tokens(header)[0]
        if version.value != str(VERSION):
            raise self.error(
                version,
                f"unsupported nsir version {version.value[:20]}; this nsc reads version {VERSION}",
            )
        (name_token,) = _tokens(body, stop=1)
        graph = Graph(name=self.name(name_token))
        self.check_sizes(_trees(body, start=1))
        uses: list[Token] = []
        for child in _trees(body, start=1):
            if child.data == "attr_dict":
                graph.attrs = self.graph_attrs(child)
                continue
            node, operands = self.node(child)
            graph.add(node)
            uses.extend(operands)
        for use in uses:
            if self.name(use) not in graph.nodes:
                raise self.error(use, f"undefined operand {use.value}{self.did_you_mean(use)}")
        return graph

    def check_sizes(self, children: list[Tree[Token]]) -> None:
        """Check every array's declared type against the limits (:mod:`nsc.text.limits`)
        before any array is allocated: the error names the node, the attribute and the limit."""
        total = 0
        for child in children:
            if child.data != "node":
                continue
            attr_tree = next((t for t in _trees(child, start=2) if t.data == "attr_dict"), None)
            if attr_tree is None:
                continue
            for attr in attr_tree.children:
                key, _, value = self.attr(attr)
                if value.kind != "TYPE":
                    continue
                try:
                    dtype, shape = parse_type(value.text)
                except ArraySyntaxError as err:
                    raise self.source.error_at(value.offset + err.offset, err.message) from None
                itemsize = np.dtype(NUMPY_DTYPES[dtype]).itemsize
                where = f"array {key!r} of %{self.name(_tokens(child, stop=1)[0])}"
                problem = array_limit_error(value.text, itemsize, shape)
                total += math.prod(shape) * itemsize
                problem = problem or file_limit_error(
                    total, len(self.source.text), "the arrays up to this one"
                )
                if problem is not None:
                    raise self.source.error_at(value.offset, f"{where}: {problem}")

    def graph_attrs(self, tree: Tree[Token]) -> dict[str, int | str]:
        attrs: dict[str, int | str] = {}
        for key, _, value in self.attrs(tree):
            if value.kind == "INT":
                attrs[key] = self.integer(value)
            elif value.kind == "STRING":
                attrs[key] = self.string(value.text, value.offset)
            else:
                raise self.source.error_at(
                    value.offset, f"graph attribute {key!r} must be an integer or a string"
                )
        return attrs

    # -- nodes ------------------------------------------------------------------------------
    def node(self, tree: Tree[Token]) -> tuple[Node, list[Token]]:
        def_token, op_token = _tokens(tree, stop=2)
        name = self.name(def_token)
        if name in self.defined:
            line = self.defined[name].line
            raise self.error(def_token, f"node %{name} is already defined (line {line})")
        self.defined[name] = def_token
        spec = self.op(op_token)
        operands: list[Token] = []
        attr_tree = None
        for child in _trees(tree, start=2):
            if child.data == "operands":
                operands = _tokens(child)
            else:
                attr_tree = child
        fields = self.operands(spec, op_token, operands)
        fields.update(self.node_attrs(spec, op_token, attr_tree))
        node = spec.cls(name=name, **fields)
        node.span = Span(self.source.path, int(def_token.line or 0), int(def_token.column or 0))
        return node, operands

    def op(self, token: Token) -> OpSpec:
        if token.value not in NODE_TYPES:
            known = ", ".join(sorted(NODE_TYPES))
            message = f"unknown op {token.value!r}{_did_you_mean(token.value, NODE_TYPES)}"
            raise self.error(token, f"{message}; ops: {known}")
        return op_spec(token.value)

    def operands(self, spec: OpSpec, op_token: Token, tokens: list[Token]) -> dict[str, Any]:
        n = len(spec.operands)
        counted = f"{n} operand{'s' if n != 1 else ''}"
        if len(tokens) > n:
            raise self.error(
                tokens[n], f"too many operands: {spec.op} takes {counted} ({spec.signature()})"
            )
        if len(tokens) < spec.required_operands:
            raise self.error(
                op_token, f"{spec.op} takes {counted} ({spec.signature()}), got {len(tokens)}"
            )
        return {
            field: self.name(token) for field, token in zip(spec.operands, tokens, strict=False)
        }

    def node_attrs(self, spec: OpSpec, op_token: Token, tree: Tree[Token] | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, key_offset, value in self.attrs(tree):
            attr = spec.attrs.get(key)
            if attr is None:
                known = ", ".join(spec.attrs) or "none"
                message = f"{spec.op} has no attribute {key!r}{_did_you_mean(key, spec.attrs)}"
                raise self.source.error_at(key_offset, f"{message}; its attributes: {known}")
            values[key] = self.value(spec, attr, value)
        missing = [a.name for a in spec.attrs.values() if a.required and a.name not in values]
        if missing:
            names = ", ".join(missing)
            raise self.error(op_token, f"{spec.op} is missing required attribute(s): {names}")
        return values

    def attrs(self, tree: Tree[Token] | None) -> Iterator[tuple[str, int, _Value]]:
        """``(key, key offset, value)`` for each attribute; a key given twice is an error."""
        if tree is None:
            return
        seen: dict[str, int] = {}
        for attr in tree.children:
            key, offset, value = self.attr(attr)
            if key in seen:
                line = self.source.position(seen[key])[0]
                raise self.source.error_at(
                    offset, f"attribute {key!r} is given twice (first on line {line})"
                )
            seen[key] = offset
            yield key, offset, value

    def attr(self, attr: Tree[Token] | Token) -> tuple[str, int, _Value]:
        """An ``ARRAY_ATTR`` token or an ``attr`` tree as ``(key, key offset, value)``."""
        if isinstance(attr, Token):
            start = _start(attr)
            m = _ARRAY_ATTR.match(attr.value)
            assert m is not None
            payload = attr.value[m.end() :]
            value = _Value("TYPE", m["type"], start + m.start("type"), payload, start + m.end())
            return m["key"], start, value
        first, *tokens = _tokens(attr)
        start = _start(first)
        key = self.string(first.value, start) if first.type == "STRING" else first.value
        if tokens[0].type != "TYPE":
            return key, start, _Value(tokens[0].type, tokens[0].value, _start(tokens[0]))
        type_token, payload_token = tokens
        value = _Value(
            "TYPE",
            type_token.value,
            _start(type_token),
            payload_token.value,
            _start(payload_token),
        )
        return key, start, value

    def value(self, spec: OpSpec, attr: AttrSpec, value: _Value) -> Any:
        if value.kind not in _ACCEPTS[attr.kind]:
            raise self.source.error_at(
                value.offset,
                f"attribute {attr.name!r} of {spec.op} must be {attr.describe()}, "
                f"found {_KINDS[value.kind]}",
            )
        if attr.kind == "int":
            return self.integer(value)
        if attr.kind == "float":
            return float(value.text)
        if attr.kind == "str":
            return self.string(value.text, value.offset)
        return self.array(spec, attr, value)

    def array(self, spec: OpSpec, attr: AttrSpec, value: _Value) -> Any:
        try:
            dtype, shape = parse_type(value.text)
        except ArraySyntaxError as err:
            raise self.source.error_at(value.offset + err.offset, err.message) from None
        if dtype != attr.dtype:
            raise self.source.error_at(
                value.offset,
                f"attribute {attr.name!r} of {spec.op} is a {attr.dtype} array, found {dtype}",
            )
        try:
            return parse_payload(dtype, shape, value.payload)
        except ArraySyntaxError as err:
            raise self.source.error_at(value.payload_offset + err.offset, err.message) from None

    # -- scalars ----------------------------------------------------------------------------
    def integer(self, value: _Value) -> int:
        if len(value.text) > _MAX_INT_DIGITS:
            raise self.source.error_at(
                value.offset, f"integer literal longer than {_MAX_INT_DIGITS} digits"
            )
        return int(value.text)

    def string(self, text: str, offset: int) -> str:
        """A double-quoted string with JSON escapes at ``offset`` in the source."""
        try:
            decoded = json.loads(text, strict=False)
        except json.JSONDecodeError as err:
            raise self.source.error_at(offset + err.pos, f"bad string: {err.msg}") from None
        assert isinstance(decoded, str)
        return decoded

    def name(self, token: Token) -> str:
        """The node or graph name in a ``%name`` / ``@name`` / ``%name =`` token."""
        text = token.value[1:]
        if token.type == "DEF":
            text = text[:-1].rstrip(" \t\r\n")
        if not text.startswith('"'):
            return text
        return self.string(text, _start(token) + 1)

    def did_you_mean(self, token: Token) -> str:
        return _did_you_mean(self.name(token), self.defined, prefix="%")


def _did_you_mean(word: str, known: Iterable[str], prefix: str = "") -> str:
    hint = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {prefix}{hint[0]}?)" if hint else ""


def _start(token: Token) -> int:
    return token.start_pos or 0


def _trees(tree: Tree[Token], start: int = 0) -> list[Tree[Token]]:
    children = tree.children[start:]
    assert all(isinstance(child, Tree) for child in children)
    return children  # type: ignore[return-value]


def _tokens(tree: Tree[Token], stop: int | None = None) -> list[Token]:
    children = tree.children[:stop]
    assert all(isinstance(child, Token) for child in children)
    return children  # type: ignore[return-value]
