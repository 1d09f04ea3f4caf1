"""Array literals of the nsir text format: ``DTYPE[SHAPE] PAYLOAD``, e.g. ``i32[2x3] splat 0``.

The type names the element type (``i8 i16 i32 i64 u8 bool f32 f64``) and the shape (dimensions
joined by ``x``; ``[]`` is a 0-d array). The payload is one of

- ``splat V``: every element is ``V``;
- the values, nested as the shape like ``numpy.ndarray.tolist``: ``[[1, 2], [3, 4]]``; a 0-d
  array is a bare ``V``; integers are decimal, floats use Python's shortest round-trip
  ``repr`` (``1e-300``, ``-0.0``, ``5e-324``, ``inf``, ``-inf``, ``nan``), booleans are
  ``true`` / ``false``;
- ``hex`` rows, bool arrays only: the last axis is packed 4 elements per hex digit, first
  element in the most significant bit, zero padded on the right; a ``bool[8]`` is
  ``hex "a5"``, a ``bool[2x8]`` is ``hex ["a5", "00"]``.

The canonical form (what :func:`format_array` prints) is ``splat`` when the array has at least
two elements and all are bit-for-bit equal, else ``hex`` for bool arrays with at least one
dimension and one element, else the values. Arrays of more than 16 elements span several lines:
one innermost row per line (hex: one hex row per line; 1-D values: 16 per line).

Parsing has two paths that accept exactly the same texts: a fast path (one regular expression
built for the shape validates the whole payload, then ``numpy.fromstring`` or a vectorised hex
decoder converts it), and a token-by-token path that runs only when the fast path rejects the
text (or the array has more than 4 dimensions) and says where and why it is wrong.
"""

from __future__ import annotations

import functools
import math
import re
import sys

import numpy as np

from ..ir.nodes import NUMPY_DTYPES
from .limits import MAX_ARRAY_ELEMENTS, MAX_NDIM, array_limit_error

DTYPE_NAMES: dict[np.dtype, str] = {np.dtype(t): name for name, t in NUMPY_DTYPES.items()}
INLINE_MAX = 16  # arrays with at most this many elements print on one line
VALUES_PER_LINE = 16  # long 1-D arrays print this many values per line
_FAST_NDIM = 4  # the fast-path pattern doubles in size per dimension
# A plain counted repeat keeps a backtracking frame per element (about 1 kB: 200 MB for 262,144
# floats); a possessive one (Python 3.11+) keeps none, and there is nothing to backtrack into
# (an atom ends where a separator starts).
_POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""

_TYPE = re.compile(r"([a-z][a-z0-9]*)\[([^\]]*)\]")
_PREFIX = re.compile(r"(splat|hex)(?![A-Za-z0-9_])[ \t\r\n]*")
_WS = r"[ \t\r\n]*"
_INT = r"-?[0-9]+"
_FLOAT = r"-?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|inf)|nan"
_ATOM_PATTERNS = {"int": _INT, "float": _FLOAT, "bool": "true|false"}
_ATOM_RES = {kind: re.compile(pattern) for kind, pattern in _ATOM_PATTERNS.items()}
_TOKEN = re.compile(r'[ \t\r\n]+|[\[\],]|"[^"\n]*"?|[^ \t\r\n\[\],"]+')
_NOT_HEX = re.compile(r"[^0-9a-fA-F]")
_TO_SPACES = str.maketrans("[],", "   ")
_HEX_ONLY = str.maketrans("", "", '[]," \t\r\n')
_NIBBLE = np.zeros(256, np.uint8)
for _digit in "0123456789abcdefABCDEF":
    _NIBBLE[ord(_digit)] = int(_digit, 16)
_BIT_SHIFTS = np.array([3, 2, 1, 0], np.uint8)
_I64 = np.iinfo(np.int64)
_SMALL_INT = 1 << 12  # integers in [-4096, 4096) print by table lookup (10x faster than str)
_SMALL_INT_STRINGS = np.array([str(i) for i in range(-_SMALL_INT, _SMALL_INT)], dtype=object)


class ArraySyntaxError(Exception):
    """A malformed array literal; ``offset`` counts characters from the start of the text."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset, self.message = offset, message


# ---------------------------------------------------------------------------------------------
# printing


def format_array(arr: np.ndarray, indent: str) -> str:
    """``dtype[shape] payload`` in canonical form; continuation lines start with ``indent``."""
    dtype = DTYPE_NAMES[arr.dtype]
    head = f"{dtype}[{'x'.join(map(str, arr.shape))}]"
    if arr.ndim > MAX_NDIM:
        raise ValueError(f"{head} has {arr.ndim} dimensions; nsir arrays have at most {MAX_NDIM}")
    problem = array_limit_error(head, arr.dtype.itemsize, arr.shape)
    if problem is not None:
        raise ValueError(problem)
    return f"{head} {_format_payload(arr, indent)}"


def _format_payload(arr: np.ndarray, indent: str) -> str:
    flat = arr.reshape(-1)
    if flat.size >= 2 and _all_equal(flat):
        return f"splat {_value_strings(flat[:1])[0]}"
    multiline = flat.size > INLINE_MAX
    if arr.dtype == np.bool_ and arr.ndim >= 1 and flat.size:
        rows = [f'"{row}"' for row in _hex_rows(arr)]
        return "hex " + _nest(rows, arr.shape[:-1], indent, multiline)
    values = _value_strings(flat)
    if not multiline or arr.ndim == 0:
        return _nest(values, arr.shape, indent, multiline=False)
    if arr.ndim == 1:
        lines = [
            ", ".join(values[i : i + VALUES_PER_LINE])
            for i in range(0, len(values), VALUES_PER_LINE)
        ]
        return _nest(lines, (len(lines),), indent, multiline=True)
    rows = _nest_inline(values, arr.shape[-1:])  # one string per innermost row
    return _nest(rows, arr.shape[:-1], indent, multiline=True)


def _all_equal(flat: np.ndarray) -> bool:
    if flat.dtype.kind == "f":  # bit for bit: -0.0 is not 0.0
        flat = flat.view(f"u{flat.dtype.itemsize}")
    return bool((flat == flat[0]).all())


def _value_strings(flat: np.ndarray) -> list[str]:
    if flat.dtype == np.bool_:
        return ["true" if v else "false" for v in flat.tolist()]
    if flat.dtype.kind == "f":
        return list(map(repr, flat.astype(np.float64).tolist()))
    if flat.size > 64 and flat.min() >= -_SMALL_INT and flat.max() < _SMALL_INT:
        strings: list[str] = _SMALL_INT_STRINGS[flat.astype(np.int64) + _SMALL_INT].tolist()
        return strings
    return list(map(str, flat.tolist()))


def _hex_rows(arr: np.ndarray) -> list[str]:
    n = arr.shape[-1]
    packed = np.packbits(arr.reshape(-1, n), axis=1)  # MSB first, zero padded
    text = packed.tobytes().hex()
    width, digits = 2 * packed.shape[1], -(-n // 4)
    return [text[i : i + digits] for i in range(0, len(text), width)]


def _nest_inline(items: list[str], shape: tuple[int, ...]) -> list[str]:
    """Group ``items`` into bracketed lists of ``shape`` (``[[1, 2], [3, 4]]``), one line
    each; ``items`` may hold several such arrays, one after the other."""
    for axis in reversed(range(len(shape))):
        n = shape[axis]
        if n == 0:  # no items to count: the shape says how many empty lists
            items = ["[]"] * math.prod(shape[:axis])
        else:
            items = ["[" + ", ".join(items[i : i + n]) + "]" for i in range(0, len(items), n)]
    return items


def _nest(items: list[str], shape: tuple[int, ...], indent: str, multiline: bool) -> str:
    """Nest ``items`` (one per element of ``shape``) in brackets, inline or one per line."""
    if not multiline:
        return _nest_inline(items, shape)[0]
    for axis in reversed(range(len(shape))):
        n = shape[axis]
        inner = indent + "  " * (axis + 1)
        close = indent + "  " * axis
        sep = ",\n" + inner
        items = [
            f"[\n{inner}{sep.join(items[i : i + n])}\n{close}]" for i in range(0, len(items), n)
        ]
    return items[0]


# ---------------------------------------------------------------------------------------------
# parsing


@functools.lru_cache(maxsize=1024)
def parse_type(text: str) -> tuple[str, tuple[int, ...]]:
    """``"i32[2x3]"`` -> ``("i32", (2, 3))``."""
    m = _TYPE.fullmatch(text)
    if m is None:
        raise ArraySyntaxError(0, f"malformed array type {text!r}; expected e.g. i32[4x4]")
    dtype, dims = m.group(1), m.group(2)
    if dtype not in NUMPY_DTYPES:
        raise ArraySyntaxError(
            0, f"unknown dtype {dtype!r}; expected one of {', '.join(NUMPY_DTYPES)}"
        )
    if not dims:
        return dtype, ()
    shape, offset = [], m.start(2)
    for part in dims.split("x"):
        if not part.isascii() or not part.isdigit():
            raise ArraySyntaxError(
                offset, f"bad dimension {part!r} in shape [{dims}]; write e.g. [256x4]"
            )
        if len(part) > 10 or int(part) > MAX_ARRAY_ELEMENTS:
            raise ArraySyntaxError(
                offset,
                f"dimension {part[:20]} is too large (an array has at most "
                f"{MAX_ARRAY_ELEMENTS:,} elements)",
            )
        shape.append(int(part))
        offset += len(part) + 1
    if len(shape) > MAX_NDIM:
        raise ArraySyntaxError(m.start(2), f"arrays have at most {MAX_NDIM} dimensions")
    return dtype, tuple(shape)


def parse_payload(dtype: str, shape: tuple[int, ...], payload: str) -> np.ndarray:
    """The array that ``payload`` (everything after the type) denotes; an array over the
    per-array limits (:mod:`nsc.text.limits`) is refused before it is allocated."""
    type_text = f"{dtype}[{'x'.join(map(str, shape))}]"
    problem = array_limit_error(type_text, np.dtype(NUMPY_DTYPES[dtype]).itemsize, shape)
    if problem is not None:
        raise ArraySyntaxError(0, problem)
    m = _PREFIX.match(payload)
    form = m.group(1) if m else None
    if form == "hex" and dtype != "bool":
        raise ArraySyntaxError(0, f"hex rows are for bool arrays only; write {dtype} values")
    if form == "hex" and not shape:
        raise ArraySyntaxError(0, "a 0-d bool array is written true or false, not hex")
    start = m.end() if m else 0
    try:
        return _parse_body(form, dtype, shape, payload[start:])
    except ArraySyntaxError as err:
        raise ArraySyntaxError(start + err.offset, err.message) from None


@functools.cache
def _kind(dtype: str) -> str:
    return {"b": "bool", "f": "float"}.get(np.dtype(NUMPY_DTYPES[dtype]).kind, "int")


def _parse_body(form: str | None, dtype: str, shape: tuple[int, ...], body: str) -> np.ndarray:
    np_dtype = NUMPY_DTYPES[dtype]
    if form == "splat":
        value = _single_atom(dtype, body)
        try:
            return np.full(shape, value, np_dtype)
        except MemoryError:
            raise ArraySyntaxError(0, "array too large for memory") from None
    if not shape:
        return np.array(_single_atom(dtype, body), np_dtype)
    hex_rows = form == "hex"
    fast = _parse_fast(dtype, shape, body, hex_rows=hex_rows)
    if fast is not None:
        return fast
    return _parse_slow(dtype, shape, body, hex_rows=hex_rows)


def _single_atom(dtype: str, body: str) -> int | float | bool:
    token = body.rstrip(" \t\r\n")
    if _ATOM_RES[_kind(dtype)].fullmatch(token):  # the usual case: one well-formed value
        return _atom(dtype, 0, token)
    reader = _Reader(body)
    offset, token = reader.take()
    value = _atom(dtype, offset, token)
    reader.expect_end()
    return value


@functools.lru_cache(maxsize=256)
def _fast_pattern(kind: str, shape: tuple[int, ...], hex_digits: int) -> re.Pattern[str]:
    atoms = {**_ATOM_PATTERNS, "hex": f'"[0-9a-fA-F]{{{hex_digits}}}"'}
    atom = f"(?:{atoms[kind]})"

    def level(dims: tuple[int, ...]) -> str:
        if not dims:
            return atom
        if dims[0] == 0:
            return rf"\[{_WS}\]"
        inner = level(dims[1:])
        more = f"(?:{_WS},{_WS}{inner}){{{dims[0] - 1}}}{_POSSESSIVE}" if dims[0] > 1 else ""
        return rf"\[{_WS}{inner}{more}{_WS}\]"

    return re.compile(level(shape))


def _parse_fast(
    dtype: str, shape: tuple[int, ...], body: str, *, hex_rows: bool
) -> np.ndarray | None:
    """Decode a well-formed payload with one regex match and numpy; ``None`` if in doubt."""
    atom_shape = shape[:-1] if hex_rows else shape
    if len(atom_shape) > _FAST_NDIM:
        return None
    kind = "hex" if hex_rows else _kind(dtype)
    digits = -(-shape[-1] // 4)
    if _fast_pattern(kind, atom_shape, digits).fullmatch(body) is None:
        return None
    np_dtype = NUMPY_DTYPES[dtype]
    if math.prod(shape) == 0:
        return np.zeros(shape, np_dtype)
    if kind == "hex":
        return _decode_hex(body.translate(_HEX_ONLY), shape)
    text = body.translate(_TO_SPACES)
    if kind == "bool":
        return (np.array(text.split()) == "true").reshape(shape)
    if kind == "float":
        return _floats(np.fromstring(text, dtype=np.float64, sep=" "), text, np_dtype, shape)
    values = np.fromstring(text, dtype=np.int64, sep=" ")  # saturates at the int64 ends
    info = np.iinfo(np_dtype)
    lo, hi = max(info.min, _I64.min + 1), min(info.max, _I64.max - 1)
    if values.size != math.prod(shape) or values.min() < lo or values.max() > hi:
        return None  # out of range (or maybe beyond int64): the exact path says where
    return values.astype(np_dtype, copy=False).reshape(shape)


def _floats(
    values: np.ndarray, text: str, np_dtype: type, shape: tuple[int, ...]
) -> np.ndarray | None:
    """``values`` as ``np_dtype``; ``None`` if a literal other than ``inf`` overflowed."""
    if values.size != math.prod(shape):
        return None
    with np.errstate(over="ignore"):
        narrowed: np.ndarray = values.astype(np_dtype, copy=False)
    if np.count_nonzero(np.isinf(narrowed)) != text.count("inf"):
        return None
    return narrowed.reshape(shape)


def _decode_hex(digits: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """Rows of hex digits (concatenated) to bits; ``None`` if a padding bit is set."""
    n = shape[-1]
    per_row = -(-n // 4)
    bits: np.ndarray
    if per_row % 2 == 0:  # whole bytes per row: let bytes.fromhex do the work
        packed = np.frombuffer(bytes.fromhex(digits), np.uint8)
        bits = np.unpackbits(packed.reshape(-1, per_row // 2), axis=1)
    else:
        nibbles = _NIBBLE[np.frombuffer(digits.encode("ascii"), np.uint8)]
        bits = ((nibbles.reshape(-1, per_row, 1) >> _BIT_SHIFTS) & 1).reshape(-1, 4 * per_row)
    if bits[:, n:].any():
        return None
    if bits.shape[1] == n:  # no padding columns: the 0/1 bytes are the bools, no copy
        return bits.view(np.bool_).reshape(shape)
    return bits[:, :n].astype(np.bool_).reshape(shape)


class _Reader:
    """The payload as tokens (brackets, commas, strings, words) with their offsets, read
    lazily with one token of lookahead (a token list would cost ~150 bytes per value)."""

    def __init__(self, text: str) -> None:
        self.tokens = (
            (m.start(), m.group()) for m in _TOKEN.finditer(text) if m.group()[0] not in " \t\r\n"
        )
        self.end = len(text)
        self.next: tuple[int, str] | None = next(self.tokens, None)

    def peek(self) -> str:
        return self.next[1] if self.next is not None else ""

    def take(self) -> tuple[int, str]:
        if self.next is None:
            return self.end, ""
        token, self.next = self.next, next(self.tokens, None)
        return token

    def expect_end(self) -> None:
        if self.next is not None:
            offset, token = self.next
            raise ArraySyntaxError(offset, f"unexpected {token!r} after the array")


def _found(token: str) -> str:
    return repr(token) if token else "the end of the array"


def _parse_slow(dtype: str, shape: tuple[int, ...], body: str, *, hex_rows: bool) -> np.ndarray:
    """Decode token by token; the first problem raises with its offset and a clear message."""
    reader = _Reader(body)
    atom_shape = shape[:-1] if hex_rows else shape
    values: list[int | float | bool] = []
    rows: list[np.ndarray] = []
    type_text = f"{dtype}[{'x'.join(map(str, shape))}]"

    def level(axis: int) -> None:
        offset, token = reader.take()
        if axis == len(atom_shape):
            if hex_rows:
                rows.append(_hex_atom(offset, token, shape[-1]))
            else:
                values.append(_atom(dtype, offset, token))
            return
        if token != "[":
            raise ArraySyntaxError(offset, f"expected '[', found {_found(token)}")
        n, count = atom_shape[axis], 0
        if reader.peek() == "]":
            offset, token = reader.take()
        while token != "]":
            if count == n:
                offset, token = reader.take()
                if not token:
                    raise ArraySyntaxError(offset, "expected ']', found the end of the array")
                raise ArraySyntaxError(
                    offset, f"too many elements: axis {axis} of {type_text} has length {n}"
                )
            level(axis + 1)
            count += 1
            offset, token = reader.take()
            if token not in (",", "]"):
                raise ArraySyntaxError(offset, f"expected ',' or ']', found {_found(token)}")
        if count != n:
            raise ArraySyntaxError(
                offset, f"too few elements: found {count}, axis {axis} of {type_text} has {n}"
            )

    level(0)
    reader.expect_end()
    if hex_rows:
        return np.array(rows, np.bool_).reshape(shape)
    return np.array(values, NUMPY_DTYPES[dtype]).reshape(shape)


def _atom(dtype: str, offset: int, token: str) -> int | float | bool:
    kind = _kind(dtype)
    if _ATOM_RES[kind].fullmatch(token) is None:
        raise ArraySyntaxError(offset, f"expected a value of type {dtype}, found {_found(token)}")
    if kind == "bool":
        return token == "true"
    if kind == "float":
        value = float(token)
        with np.errstate(over="ignore"):
            narrowed = NUMPY_DTYPES[dtype](value)
        if np.isinf(narrowed) and "inf" not in token:
            raise ArraySyntaxError(offset, f"{token} is out of range for {dtype}")
        return value
    info = np.iinfo(NUMPY_DTYPES[dtype])
    if len(token) > 24 or not info.min <= int(token) <= info.max:
        raise ArraySyntaxError(
            offset, f"{token[:30]} is out of range for {dtype} [{info.min}, {info.max}]"
        )
    return int(token)


def _hex_atom(offset: int, token: str, n: int) -> np.ndarray:
    if not token.startswith('"'):
        raise ArraySyntaxError(offset, f'expected a hex row like "0f", found {_found(token)}')
    if len(token) < 2 or not token.endswith('"'):
        raise ArraySyntaxError(offset, "unterminated hex row (missing closing '\"')")
    digits = token[1:-1]
    bad = _NOT_HEX.search(digits)
    if bad:
        raise ArraySyntaxError(offset + 1 + bad.start(), f"bad hex digit {bad.group()!r}")
    want = -(-n // 4)
    if len(digits) != want:
        raise ArraySyntaxError(
            offset, f"hex row has {len(digits)} digits; {n} columns need {want} (4 per digit)"
        )
    if not digits:
        return np.zeros(0, np.bool_)
    if n % 4 and int(digits[-1], 16) & ((1 << (4 - n % 4)) - 1):
        raise ArraySyntaxError(
            offset + len(digits),
            f"hex row sets padding bits beyond column {n} (the last digit's low "
            f"{4 - n % 4} bits must be 0)",
        )
    bits = _decode_hex(digits, (1, n))
    assert bits is not None
    return bits[0]
