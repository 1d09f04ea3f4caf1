"""Golden files: byte-exact round trip, the graph they denote, and full coverage of the ops."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from nsir_graphs import GOLDEN, GOLDEN_DIR

import nsc
from nsc.ir import NODE_TYPES, Graph, Input, Linear, Neurons, Span
from nsc.text import parse_ir, parse_ir_file, print_ir


def _golden_text(name: str) -> str:
    return (GOLDEN_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_prints_back_byte_for_byte(name: str) -> None:
    text = _golden_text(name)
    assert print_ir(parse_ir(text, name)) == text


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_denotes_the_built_graph_and_verifies(name: str) -> None:
    graph = parse_ir_file(GOLDEN_DIR / name)
    graph.verify()
    assert graph.same_as(GOLDEN[name]())


def test_golden_files_are_the_listed_ones() -> None:
    assert {p.name for p in GOLDEN_DIR.glob("*.nsir")} == set(GOLDEN)


def test_goldens_cover_every_node_type() -> None:
    """The text goldens plus the pipeline goldens (tests/golden/passes) hold every op."""
    files = [GOLDEN_DIR / name for name in GOLDEN]
    files += sorted((GOLDEN_DIR.parents[1] / "golden" / "passes").glob("*.nsir"))
    files += sorted((GOLDEN_DIR.parents[1] / "ops" / "golden").glob("*.nsir"))
    ops = {node.op for path in files for node in parse_ir_file(path)}
    assert ops == set(NODE_TYPES)


def test_core_golden_holds_a_full_core() -> None:
    core = parse_ir_file(GOLDEN_DIR / "core.nsir")["core0"]
    assert core.crossbar.shape == (256, 256) and core.crossbar.dtype == np.bool_
    assert 0 < core.crossbar.sum() < 256 * 256
    assert core.weights.shape == (256, 4)


def test_nodes_keep_their_source_span() -> None:
    graph = parse_ir_file(GOLDEN_DIR / "network.nsir")
    path = str(GOLDEN_DIR / "network.nsir")
    assert graph["x"].span == Span(path, 3, 3)
    assert graph["h"].span == Span(path, 4, 3)
    assert graph["z"].span == Span(path, 9, 3)
    assert str(graph["z"].span) == f"{path}:9:3"


def test_facade_functions() -> None:
    text = _golden_text("integer.nsir")
    graph = nsc.parse_ir(text, "integer.nsir")
    assert nsc.print_ir(graph) == text


def test_crlf_and_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    text = _golden_text("network.nsir")
    path = tmp_path / "win.nsir"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert print_ir(parse_ir_file(path)) == text


def test_free_layout_comments_and_non_canonical_forms() -> None:
    text = """
    // a hand-written file: comments, any spacing, attributes in any order
    nsir 1 graph @g {window=15}{
      %x=input{levels = 0,
               features = 2}  // trailing comment
      %l = linear %x {bias = f64[2] splat 0, weight = f64[2x2] [ [1, 2.5] ,[ -0. , 1e3 ] ]}
      %"p" = neurons {count = 2, alpha = i32[2] [7, 7], leak = i32[2] [0,0], beta = i32[2]
        splat 0, kappa = u8[2] splat 0, reset_mode = u8[2] splat 0, reset = i32[2] splat 0,
        v0 = i32[2] splat 0, tm = u8[2] splat 0, leak_reversal = u8[2] splat 0,
        stoch_leak = u8[2] splat 0, stoch_synapse = u8[2] splat 0, core = i32[2] [-1, -1]}
    }
    """
    graph = parse_ir(text)
    assert graph.attrs == {"window": 15}
    assert isinstance(graph["x"], Input) and graph["x"].levels == 0
    linear = graph["l"]
    assert isinstance(linear, Linear)
    np.testing.assert_array_equal(linear.weight, [[1.0, 2.5], [-0.0, 1000.0]])
    assert np.signbit(linear.weight[1, 0])
    pop = graph["p"]
    assert isinstance(pop, Neurons) and pop.core is not None and pop.type_weights is None
    canonical = print_ir(graph)
    assert "//" not in canonical and "alpha = i32[2] splat 7" in canonical
    assert "levels" not in canonical.splitlines()[2]  # the default is omitted
    assert print_ir(parse_ir(canonical)) == canonical


def test_bool_arrays_accept_values_and_upper_case_hex() -> None:
    integer = _golden_text("integer.nsir")
    values = integer.replace(
        'hex ["a", "7", "c"]',
        "[[true, false, true, false], [false, true, true, true], [true, true, false, false]]",
    )
    assert parse_ir(values).same_as(parse_ir(integer))
    core = _golden_text("core.nsir")
    upper = re.sub(r'"[0-9a-f]{64}"', lambda m: m.group().upper(), core)
    assert upper != core
    assert parse_ir(upper).same_as(parse_ir(core))


def test_empty_graph_round_trips() -> None:
    text = "nsir 1\ngraph @empty {\n}\n"
    graph = parse_ir(text)
    assert graph.same_as(Graph(name="empty")) and print_ir(graph) == text


DOC = Path(__file__).parents[2] / "docs" / "ir.md"


def test_doc_examples_are_canonical_and_verify() -> None:
    blocks = re.findall(r"```nsir\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        graph = parse_ir(block, "ir.md")
        graph.verify()
        assert print_ir(graph) == block


def test_doc_describes_every_node_and_the_grammar() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for op in NODE_TYPES:
        assert f"#### `{op}`" in doc
    grammar = (Path(nsc.__file__).parent / "text" / "grammar.lark").read_text(encoding="utf-8")
    assert grammar in doc
