"""Property tests: any graph (valid or not) survives print -> parse, bit for bit."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nsc.ir import NODE_TYPES, Graph, attribute_fields, operand_fields
from nsc.ir.nodes import NUMPY_DTYPES
from nsc.text import arrays as text_arrays
from nsc.text import parse_ir, print_ir

NAMES = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.$\-]{1,8}", fullmatch=True),
    st.text(max_size=6),  # quoted names: spaces, quotes, escapes, any Unicode
)
SPECIAL_FLOATS = [
    0.0,
    -0.0,
    1e-300,
    -1e-300,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
]


def _elements(dtype: np.dtype) -> st.SearchStrategy[Any]:
    if dtype == np.bool_:
        return st.booleans()
    if dtype.kind == "f":
        width = 8 * dtype.itemsize
        floats = st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
        special = [v for v in SPECIAL_FLOATS if abs(v) <= float(np.finfo(dtype).max)]
        return st.one_of(floats, st.sampled_from(special))
    info = np.iinfo(dtype)
    extremes = st.sampled_from([int(info.min), int(info.max), 0, 1, -1 if info.min else 2])
    return st.one_of(extremes, st.integers(int(info.min), int(info.max)))


@st.composite
def arrays(draw: st.DrawFn, dtype_name: str | None = None, max_dims: int = 3) -> np.ndarray:
    """Arrays of every shape the format allows (0-d, empty, up to 3-D), often constant."""
    name = dtype_name or draw(st.sampled_from(sorted(NUMPY_DTYPES)))
    dtype = np.dtype(NUMPY_DTYPES[name])
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=7))
    elements = _elements(dtype)
    if draw(st.booleans()):  # constant: exercises splat (and what is not splat: -0.0 vs 0.0)
        return np.full(shape, draw(elements), dtype)
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bits; NaNs only need to be NaN (the text has one NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    nan = np.isnan(a)
    uint = f"u{a.dtype.itemsize}"
    same = a.view(uint) == b.view(uint)
    return bool(np.array_equal(nan, np.isnan(b)) and np.all(same | nan))


@settings(max_examples=300, deadline=None)
@given(arrays())
def test_arrays_round_trip_bit_for_bit(arr: np.ndarray) -> None:
    text = text_arrays.format_array(arr, "    ")
    type_text, _, payload = text.partition(" ")
    dtype, shape = text_arrays.parse_type(type_text)
    assert _same_bits(text_arrays.parse_payload(dtype, shape, payload), arr)


@settings(max_examples=200, deadline=None)
@given(arrays(max_dims=5))
def test_fast_and_exact_array_paths_agree(arr: np.ndarray) -> None:
    text = text_arrays.format_array(arr, "  ")
    type_text, _, payload = text.partition(" ")
    dtype, shape = text_arrays.parse_type(type_text)
    if not shape or payload.startswith("splat"):
        return
    hex_rows = payload.startswith("hex")
    body = payload.removeprefix("hex ")
    exact = text_arrays._parse_slow(dtype, shape, body, hex_rows=hex_rows)
    assert _same_bits(exact, arr)
    fast = text_arrays._parse_fast(dtype, shape, body, hex_rows=hex_rows)
    assert fast is None or _same_bits(fast, arr)


def _attr_value(draw: st.DrawFn, field: dataclasses.Field[Any]) -> Any:
    kind = field.metadata["kind"]
    if kind == "int":
        return draw(st.one_of(st.integers(), st.sampled_from([-(2**63), 2**63 - 1, 10**40])))
    if kind == "float":
        return draw(_elements(np.dtype(np.float64)))
    if kind == "str":
        return draw(st.text(max_size=8))
    return draw(arrays(field.metadata["dtype"]))


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    """Random graphs of random node kinds; operands name any node (cycles, self loops)."""
    names = draw(st.lists(NAMES, max_size=6, unique=True))
    attrs = draw(
        st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8)))
    )
    graph = Graph(name=draw(NAMES), attrs=attrs)
    for name in names:
        cls = NODE_TYPES[draw(st.sampled_from(sorted(NODE_TYPES)))]
        fields: dict[str, Any] = {f.name: draw(st.sampled_from(names)) for f in operand_fields(cls)}
        for f in attribute_fields(cls):
            if f.default is dataclasses.MISSING or draw(st.booleans()):
                fields[f.name] = _attr_value(draw, f)
        graph.add(cls(name=name, **fields))
    return graph


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_graphs_round_trip(graph: Graph) -> None:
    text = print_ir(graph)
    back = parse_ir(text, "prop.nsir")
    assert back.same_as(graph)
    for node, parsed in zip(graph, back, strict=True):
        for f in attribute_fields(type(node)):
            value = getattr(node, f.name)
            if isinstance(value, np.ndarray):
                assert _same_bits(getattr(parsed, f.name), value), f.name
    assert print_ir(back) == text
