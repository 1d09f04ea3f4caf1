"""What one nsir file may ask for: the one definition of the text format's size limits.

The parser checks every array's declared type (``dtype[shape]``) against these limits before it
allocates anything, so a few hundred bytes of text (``f64[8192x8192] splat 0.5``, eight times)
cannot make it allocate gigabytes; the printer refuses to write what the parser would refuse.

- one array: at most :data:`MAX_NDIM` dimensions, :data:`MAX_ARRAY_ELEMENTS` elements and
  :data:`MAX_ARRAY_BYTES` bytes (elements times the dtype's size);
- one file: its arrays together at most :func:`file_bytes_limit` bytes, that is
  :data:`MAX_FILE_BYTES` or :data:`MAX_BYTES_PER_TEXT_BYTE` times the length of the text,
  whichever is larger.

The largest single-chip files are core-level dumps of a full 4,096-core chip: 79,616 bytes of
arrays per core (the 256 x 256 crossbar is 65,536 of them), plus at most 1,048,576 input lines
(``i32[1048576x3]``, 12 MiB, the largest array: 3,145,728 elements) and as many output lines
(8 MiB): 347,078,656 bytes in all, a third of :data:`MAX_FILE_BYTES`; the largest array is a
tenth of :data:`MAX_ARRAY_ELEMENTS`. Designs over several chips (``--chips``; a million neurons
place on 20,846 cores) declare more than 1 GiB, but their text is long too: a core whose
crossbar is not constant prints as at least 18 kB, about 4.3 bytes of arrays per byte of text,
far below :data:`MAX_BYTES_PER_TEXT_BYTE`. Only ``splat`` arrays expand further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_NDIM = 32
MAX_ARRAY_ELEMENTS = 1 << 25  # 33,554,432 (an rnn's 4,096 x 4,096 w_hh is half of it)
MAX_ARRAY_BYTES = 1 << 27  # 128 MiB: 2^24 elements of f64 or i64, 2^25 of i32
MAX_FILE_BYTES = 1 << 30  # 1 GiB of arrays per file, however short the text ...
MAX_BYTES_PER_TEXT_BYTE = 64  # ... or this many bytes of arrays per character of text


def file_bytes_limit(text_length: int) -> int:
    """The most bytes the arrays of a ``text_length``-character file may declare together."""
    return max(MAX_FILE_BYTES, MAX_BYTES_PER_TEXT_BYTE * text_length)


def array_limit_error(type_text: str, itemsize: int, shape: Sequence[int]) -> str | None:
    """Why an array of ``shape`` and ``itemsize``-byte elements (``type_text``, e.g.
    ``f64[8192x8192]``) is over the per-array limits; ``None`` if it is within them."""
    elements = math.prod(shape)
    if elements > MAX_ARRAY_ELEMENTS:
        return (
            f"{type_text} has {elements:,} elements, more than the limit of "
            f"{MAX_ARRAY_ELEMENTS:,} per array (MAX_ARRAY_ELEMENTS)"
        )
    if elements * itemsize > MAX_ARRAY_BYTES:
        return (
            f"{type_text} is {describe_bytes(elements * itemsize)}, more than the limit of "
            f"{describe_bytes(MAX_ARRAY_BYTES)} per array (MAX_ARRAY_BYTES)"
        )
    return None


def file_limit_error(total: int, text_length: int, what: str = "the arrays") -> str | None:
    """Why ``total`` bytes of arrays (``what``) are too many for a ``text_length``-character
    file; ``None`` if they are within :func:`file_bytes_limit`."""
    limit = file_bytes_limit(text_length)
    if total <= limit:
        return None
    return (
        f"{what} total {describe_bytes(total)}, more than the limit of "
        f"{describe_bytes(limit)} for a file of {text_length:,} characters (MAX_FILE_BYTES, "
        f"or MAX_BYTES_PER_TEXT_BYTE = {MAX_BYTES_PER_TEXT_BYTE} bytes per character of text)"
    )


def describe_bytes(n: int) -> str:
    """``1 GiB``, ``256 MiB``, ``1,536 bytes``: sizes as error messages show them."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size and n % size == 0:
            return f"{n // size:,} {unit}"
    return f"{n:,} bytes"
