"""Error messages: ``file:line:col: what``, the source line and a caret (some exact)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsc.errors import IRParseError, IRVerifyError
from nsc.ir import NODE_TYPES
from nsc.text import parse_ir, parse_ir_file

HEAD = "nsir 1\ngraph @g {\n  %x = input {features = 3, levels = 16}\n"
NEURONS = (
    "  %h = neurons {count = 1, alpha = i32[1] [1], leak = i32[1] [0], beta = i32[1] [0], "
    "kappa = u8[1] [0], reset_mode = u8[1] [0], reset = i32[1] [0], v0 = i32[1] [0], "
    "tm = u8[1] [0], leak_reversal = u8[1] [0], stoch_leak = u8[1] [0], "
    "stoch_synapse = u8[1] [0]}\n"
)


def _error(line: str, head: str = HEAD) -> IRParseError:
    """The error for ``line`` as the fourth line of a small graph."""
    with pytest.raises(IRParseError) as info:
        parse_ir(f"{head}{line}\n}}\n", "t.nsir")
    return info.value


def _shown(err: IRParseError) -> tuple[str, str, str]:
    """The three lines of the message: location and text, source line, caret line."""
    where, source, caret = str(err).split("\n")
    return where, source, caret


CASES = [  # (line 4 of a small graph, the text the caret points at, the message)
    (
        "  %y = inptu {features = 3}",
        "inptu",
        f"unknown op 'inptu' (did you mean input?); ops: {', '.join(sorted(NODE_TYPES))}",
    ),
    (
        "  %y = input {featurs = 3}",
        "featurs",
        "input has no attribute 'featurs' (did you mean features?); "
        "its attributes: features, levels",
    ),
    ("  %y = input {levels = 3}", "input", "input is missing required attribute(s): features"),
    (
        "  %y = input {features = 3, features = 4}",
        "features = 4",
        "attribute 'features' is given twice (first on line 4)",
    ),
    (
        '  %y = input {features = "3"}',
        '"3"',
        "attribute 'features' of input must be an integer, found a string",
    ),
    (
        "  %y = linear %x {weight = f32[1x3] splat 1.0}",
        "f32",
        "attribute 'weight' of linear is a f64 array, found f32",
    ),
    (
        "  %y = linear %x {weight = f64[1x3] [[1.0, 2.0]]}",
        "]]",
        "too few elements: found 2, axis 1 of f64[1x3] has 3",
    ),
    (
        "  %y = linear %x {weight = f64[1x3] [[1.0, 2.0, 3.0, 4.0]]}",
        "4.0",
        "too many elements: axis 1 of f64[1x3] has length 3",
    ),
    (
        "  %y = linear %x {weight = f64[1x3] [[1.0, 2.0, x]]}",
        "x]",
        "expected a value of type f64, found 'x'",
    ),
    (
        "  %y = linear %x {weight = f64[1x3] [[1.0, 2.0, 3.0]}",
        "}",
        "expected ',' or ']', found the end of the array",
    ),
    (
        "  %y = core_output {lines = i32[1x2] [[0, 3000000000]]}",
        "3000000000",
        "3000000000 is out of range for i32 [-2147483648, 2147483647]",
    ),
    (
        "  %y = linear %x {weight = f64[1xx3] splat 1.0}",
        "x3]",
        "bad dimension '' in shape [1xx3]; write e.g. [256x4]",
    ),
    ("  %x = input {features = 3}", "%x", "node %x is already defined (line 3)"),
    ("  %y = relu %z", "%z", "undefined operand %z"),
    ("  %y = output %xx", "%xx", "undefined operand %xx (did you mean %x?)"),
    (
        "  %y = relu %x, %w",
        "%w",
        "too many operands: relu takes 1 operand (relu %source)",
    ),
    ("  %y = relu", "relu", "relu takes 1 operand (relu %source), got 0"),
    ("  %y = input {features = 3,}", "}", "unexpected '}'; expected an attribute (name = value)"),
    ('  %"a\\q" = relu %x', "\\", "bad string: Invalid \\escape"),
]


@pytest.mark.parametrize(("line", "anchor", "message"), CASES)
def test_error_message_is_exact(line: str, anchor: str, message: str) -> None:
    col = line.index(anchor) + 1
    err = _error(line)
    where, source, caret = _shown(err)
    assert where == f"t.nsir:4:{col}: {message}"
    assert source == f"  {line}"
    assert caret == "  " + " " * (col - 1) + "^"
    assert (err.path, err.line, err.col, err.message) == ("t.nsir", 4, col, message)


def test_bad_hex_digit_points_into_the_row() -> None:
    line = (
        "  %y = axon_synapses %x, %h {axon_source = i32[1] [0], axon_type = u8[1] [0], "
        'crossbar = bool[1x1] hex ["g"], delay = i32[3] splat 0}'
    )
    err = _error(line, HEAD + NEURONS)
    assert err.line == 5 and err.message == "bad hex digit 'g'"
    assert line[err.col - 1] == "g"


def test_hex_padding_bits_must_be_zero() -> None:
    line = (
        "  %y = axon_synapses %x, %h {axon_source = i32[1] [0], axon_type = u8[1] [0], "
        'crossbar = bool[1x1] hex ["c"], delay = i32[3] splat 0}'
    )
    err = _error(line, HEAD + NEURONS)
    assert err.message.startswith("hex row sets padding bits beyond column 1")


def test_unterminated_brace_points_at_the_brace() -> None:
    with pytest.raises(IRParseError) as info:
        parse_ir("nsir 1\ngraph @g {\n  %x = input {features = 3}\n", "t.nsir")
    assert str(info.value).startswith("t.nsir:2:10: '{' is never closed (the file ends first)")


def test_unterminated_bracket_in_an_array() -> None:
    text = HEAD + "  %l = linear %x {weight = f64[1x3] [[1.0, 2.0, 3.0\n}\n"
    with pytest.raises(IRParseError) as info:
        parse_ir(text, "t.nsir")
    assert str(info.value).startswith(
        "t.nsir:5:1: unexpected '}' inside an array ('[' at 4:37 is not closed)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "t.nsir:1:1: empty file; an nsir file starts with the header 'nsir 1'"),
        ("// nothing\n", "t.nsir:1:1: empty file; an nsir file starts with the header 'nsir 1'"),
        ("graph @g {\n}\n", "t.nsir:1:1: the file must start with the header 'nsir 1'"),
        ("nsir 2\ngraph @g {\n}\n",
         "t.nsir:1:6: unsupported nsir version 2; this nsc reads version 1"),
        ("nsir 1\ngraph @g\n", "t.nsir:2:9: unexpected end of file; expected '{'"),
        ("nsir 1\ngraph @g {\n  %y = input {features = 3.5}\n}\n",
         "t.nsir:3:26: attribute 'features' of input must be an integer, found a float"),
        ("nsir 1\ngraph @g {w = 1.5} {\n}\n",
         "t.nsir:2:15: graph attribute 'w' must be an integer or a string"),
    ],
)  # fmt: skip
def test_file_level_errors(text: str, expected: str) -> None:
    with pytest.raises(IRParseError) as info:
        parse_ir(text, "t.nsir")
    assert str(info.value).split("\n")[0] == expected


def test_tabs_keep_the_caret_aligned() -> None:
    with pytest.raises(IRParseError) as info:
        parse_ir("nsir 1\ngraph @g {\n\t%y = relu %z\n}\n", "t.nsir")
    _, source, caret = _shown(info.value)
    assert source == "   %y = relu %z" and caret.index("^") == source.index("%z")


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.nsir"
    path.write_bytes(b"nsir 1\ngraph @g {\n  %\xc3\xa9x = input {features = \xff}\n}\n")
    with pytest.raises(IRParseError) as info:
        parse_ir_file(path)
    err = info.value
    assert (err.line, err.col) == (3, 27)
    assert str(err).startswith(f"{path}:3:27: invalid UTF-8 byte 0xff; nsir files are UTF-8 text")


def test_missing_file_is_an_nsc_error(tmp_path: Path) -> None:
    with pytest.raises(Exception) as info:
        parse_ir_file(tmp_path / "none.nsir")
    assert type(info.value).__name__ == "NscError"
    assert "cannot read" in str(info.value)


def _verify_error(body: str) -> IRVerifyError:
    graph = parse_ir(f"nsir 1\ngraph @g {{\n{body}}}\n", "v.nsir")
    with pytest.raises(IRVerifyError) as info:
        graph.verify()
    return info.value


def test_verify_errors_carry_the_node_span() -> None:
    err = _verify_error(
        "  %x = input {features = 2}\n  %l = linear %x {weight = f64[1x3] [[1.0, 2.0, 3.0]]}\n"
    )
    assert str(err) == "v.nsir:4:3: node %l: weight has shape (1, 3), expected (1, 2)"


def test_verify_rejects_a_size_cycle_cleanly() -> None:
    err = _verify_error(
        "  %a = relu %b\n  %b = relu %a\n  %l = linear %a {weight = f64[1x1] [[1.0]]}\n"
    )
    assert str(err).startswith("v.nsir:3:3: node %a: its operands form a cycle")


def test_verify_rejects_zero_dimensional_arrays_cleanly() -> None:
    err = _verify_error(
        "  %x = input {features = 1}\n  %l = linear %x {weight = f64[] 1.0}\n  %r = relu %l\n"
    )
    assert str(err) == "v.nsir:4:3: node %l: weight must have at least one dimension"
