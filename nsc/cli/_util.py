"""Helpers shared by subcommands: output path checks, argument types, input arrays.

Outputs are written with :mod:`nsc_runtime.atomic` (the one atomic-write helper, in the
lowest layer), where a missing output folder is an error.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable

import numpy as np

from nsc_runtime import atomic, hw
from nsc_runtime.errors import NscError

from ..defaults import MAX_CHIPS_SIDE

# --------------------------------------------------------------------------------------------
# argument checks at the CLI boundary (argparse ``type=`` callables: a bad value exits 2 with
# "argument --NAME: ..." on one line, before any work)

MAX_SEED = 2**32 - 1  # numpy, METIS and CP-SAT all take it

MAX_TIME_LIMIT = 24 * 3600.0


def int_arg(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[lo, hi]``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            span = f">= {lo:,}" if hi is None else f"in {lo:,}..{hi:,}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value:,}")
        return value

    return parse


def float_arg(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= lo if lo_open else value < lo
        if not math.isfinite(value) or too_low or value > hi:
            span = f"{'>' if lo_open else '>='} {lo:g} and <= {hi:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {span}, got {text}")
        return value

    return parse


def chips_arg(text: str) -> tuple[int, int]:
    """An argparse type: ``RxC`` chips, each side in ``1..MAX_CHIPS_SIDE``."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"takes RxC such as 2x1, got {text!r}")
    rows, cols = int(match.group(1)), int(match.group(2))
    if not (1 <= rows <= MAX_CHIPS_SIDE and 1 <= cols <= MAX_CHIPS_SIDE):
        raise argparse.ArgumentTypeError(
            f"each side must be in 1..{MAX_CHIPS_SIDE} chips ({hw.CORES_PER_CHIP:,} cores "
            f"each), got {text!r}"
        )
    return rows, cols


def memory_budget() -> int:
    """Bytes a command may plan to allocate: half the machine's physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return max(total // 2, 1 << 30)


def human_bytes(n: float) -> str:
    """``n`` bytes as a short text (``1.5 GiB``)."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop always returns


def load_npy(path: str, option: str) -> np.ndarray:
    """The array of a ``.npy`` file given to ``option`` (an .npz or a pickle is an error)."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NscError(f"{option} {path!r}: no such file") from None
    except IsADirectoryError:
        raise NscError(f"{option} {path!r} is a folder, expected a .npy file") from None
    except (OSError, ValueError, EOFError) as err:
        raise NscError(f"{option} {path!r}: not a readable .npy file ({err})") from None
    if not isinstance(data, np.ndarray):
        data.close()
        raise NscError(
            f"{option} {path!r} is an .npz archive; {option} takes one array saved with "
            "numpy.save(path, x) (.npy)"
        )
    if data.dtype.kind not in "biuf":
        raise NscError(f"{option} {path!r}: expected numbers, got dtype {data.dtype}")
    return data


def check_sequences(x: np.ndarray, option: str, features: int | None = None) -> np.ndarray:
    """``x`` as a non-empty, finite (batch, steps, features) array (2-D: one sequence)."""
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise NscError(
            f"{option}: expected an array of shape (batch, steps, features), got shape {x.shape}"
        )
    if 0 in x.shape:
        raise NscError(f"{option}: empty array of shape {x.shape} (need batch, steps >= 1)")
    if features is not None and x.shape[2] != features:
        raise NscError(f"{option}: the model takes {features} features, the array has {x.shape[2]}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise NscError(f"{option}: holds NaN or infinite values")
    return x


def check_outputs(*paths: str | None) -> None:
    """Check every given output path before any work (rules: :mod:`nsc_runtime.atomic`)."""
    seen: dict[str, str] = {}
    for path in paths:
        if not path:
            continue
        atomic.check_output_path(path)
        key = os.path.abspath(path)
        if key in seen:
            raise NscError(f"{path!r} is named as two different outputs")
        seen[key] = path


def effort_arg(text: str) -> str:
    """An argparse type: the placer's effort, ``fast``, ``normal``, ``max`` or a number >= 0."""
    from nsc.place.effort import Effort

    try:
        return Effort.parse(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


EFFORT_HELP = (
    "how hard the placer tries after its first answer: fast (no CP-SAT), normal (small "
    "budgets that grow with the network; default), max, or a budget multiplier; the same "
    "answer on any machine load"
)
