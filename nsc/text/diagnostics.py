"""Parse errors that point at the source: ``file:line:col: what``, the line, and a caret.

:class:`Source` turns character offsets and lark tokens into 1-based line/column positions and
builds :class:`nsc.errors.IRParseError`; :func:`from_lark` translates every lark exception into
one, in words a user can act on (lark's own exceptions never escape).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lark import Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import IRParseError

# How a grammar terminal reads in "expected ..." (anonymous punctuation is shown quoted).
TERMINAL_WORDS = {
    "DEF": "a node definition (%name = op)",
    "LOCAL": "an operand (%name)",
    "GLOBAL": "a graph name (@name)",
    "NAME": "a name",
    "STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a float",
    "TYPE": "an array type (e.g. i32[4])",
    "PAYLOAD": "array values ([...], splat V or hex ...)",
    "ARRAY_ATTR": "an attribute (name = value)",
    "_SEP": "','",
    "$END": "the end of the file",
    "<END-OF-FILE>": "the end of the file",
}
_CONTROL = {c: " " for c in [*range(32), 127] if c != 9}
_BLANK = re.compile(r"(?:[ \t\r\n]+|//[^\n]*)*")
_BRACES = re.compile(r'"(?:[^"\\\n]|\\.)*"?|//[^\n]*|[{}]')
_STOP = re.compile(r"[{}=%@]")


class Source:
    """The text being parsed and its path, for positions and error messages."""

    def __init__(self, text: str, path: str | None) -> None:
        self.text, self.path = text, path

    def position(self, offset: int) -> tuple[int, int]:
        """1-based ``(line, col)`` of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = self.text.count("\n", 0, offset) + 1
        return line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1

    def line_text(self, line: int) -> str:
        """Line ``line`` (1-based) as shown under an error: control characters (tabs too) as
        spaces, so that the caret lines up."""
        lines = self.text.split("\n")
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return text.rstrip("\r").replace("\t", " ").translate(_CONTROL)

    def error(self, message: str, line: int, col: int) -> IRParseError:
        return IRParseError(message, self.path, line, col, self.line_text(line))

    def error_at(self, offset: int, message: str) -> IRParseError:
        return self.error(message, *self.position(offset))

    def error_in(self, token: Token, message: str, offset: int = 0) -> IRParseError:
        """An error ``offset`` characters into ``token``."""
        return self.error_at(_start(token) + offset, message)

    def end_offset(self) -> int:
        """Just after the last character that is not blank (where "end of file" points)."""
        return len(self.text.rstrip(" \t\r\n"))

    def is_blank(self) -> bool:
        """Only whitespace and comments."""
        return _BLANK.fullmatch(self.text) is not None


def _start(token: Token) -> int:
    return token.start_pos if token.start_pos is not None else 0


def _describe(names: Iterable[str], words: dict[str, str]) -> str:
    names = set(names)
    if "ARRAY_ATTR" in names:  # an attribute starts with a name or a string
        names -= {"NAME", "STRING"}
    shown = sorted({words.get(name, name) for name in names})
    if not shown:
        return ""
    if len(shown) == 1:
        return f"; expected {shown[0]}"
    return f"; expected {', '.join(shown[:-1])} or {shown[-1]}"


def from_lark(err: LarkError, source: Source, words: dict[str, str]) -> IRParseError:
    """The :class:`IRParseError` for a lark exception (``words`` names the terminals)."""
    if isinstance(err, UnexpectedCharacters):
        return _unexpected_char(err, source, words)
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        token = err.token
        if err.expected == {"NSIR"}:
            return source.error_in(token, "the file must start with the header 'nsir 1'")
        shown = repr(token.value if len(token.value) <= 30 else token.value[:27] + "...")
        expected = err.accepts or err.expected
        return source.error_in(token, f"unexpected {shown}{_describe(expected, words)}")
    if isinstance(err, UnexpectedInput):  # the end of the file came too early
        unclosed = _unclosed_brace(source.text)
        if unclosed is not None:
            return source.error_at(unclosed, "'{' is never closed (the file ends first)")
        wanted = set(getattr(err, "accepts", None) or getattr(err, "expected", None) or ())
        return source.error_at(
            source.end_offset(), f"unexpected end of file{_describe(wanted, words)}"
        )
    return source.error_at(0, f"cannot parse: {err}")


def _unexpected_char(
    err: UnexpectedCharacters, source: Source, words: dict[str, str]
) -> IRParseError:
    offset, char = err.pos_in_stream or 0, str(err.char)
    if char == "[" and "PAYLOAD" in (err.allowed or ()):
        return _bad_brackets(source, offset)
    if char == '"':
        return source.error_at(offset, "unterminated string (missing closing '\"' on this line)")
    if char == "%" and "DEF" in (err.allowed or ()):
        return source.error_at(offset, 'malformed node name; write %name or %"any name"')
    return source.error_at(offset, f"unexpected {char!r}{_describe(err.allowed or (), words)}")


def _bad_brackets(source: Source, start: int) -> IRParseError:
    """Why an array payload starting with ``[`` at ``start`` is not a token: no ``]`` comes
    before the next character that cannot occur in an array."""
    stop = _STOP.search(source.text, start)
    if stop is None:
        return source.error_at(start, "'[' is never closed")
    line, col = source.position(start)
    return source.error_at(
        stop.start(),
        f"unexpected {stop.group()!r} inside an array ('[' at {line}:{col} is not closed)",
    )


def _unclosed_brace(text: str) -> int | None:
    """Offset of the first ``{`` without a matching ``}`` (strings and comments skipped)."""
    stack: list[int] = []
    for m in _BRACES.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif m.group() == "}" and stack:
            stack.pop()
    return stack[0] if stack else None
