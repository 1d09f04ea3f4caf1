"""Atomic output files: the one helper every nsc writer uses (runtime, compiler and CLI).

An output is written to a temporary file next to its target, then renamed onto it, so a
failed or killed run never leaves a half-written file. The rules, the same everywhere:

- **Targets must be regular files (or not exist yet).** A directory, a symbolic link, a
  device such as ``/dev/full``, a FIFO or a path under a regular file is refused with one
  :class:`OutputPathError` naming the path; nothing is replaced.
- **Missing folders are an error** naming the folder (nsc never creates folders for an
  output path), unless a caller that owns a folder of its own passes ``make_parents=True``.
- **The created file follows the umask** (mode ``0o666 & ~umask``, like ``open(path, "w")``),
  not ``0600``.
- **Stale temporaries are cleaned.** Temporaries are named ``.NAME.<pid>.<random>.tmp``; a
  write to ``NAME`` first removes those of its earlier writers whose process no longer exists
  (a run killed by SIGKILL cannot clean up after itself).
- **Several outputs of one command are one transaction** (:func:`atomic_outputs`): all are
  renamed into place only when the whole block succeeded, none otherwise.
- Every ``OSError`` about an output path becomes one :class:`OutputPathError` line.

This module needs only the standard library and :mod:`nsc_runtime.errors`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import NscError

__all__ = [
    "OutputPathError",
    "Outputs",
    "atomic_outputs",
    "atomic_path",
    "check_output_path",
    "write_bytes_atomic",
    "write_text_atomic",
]

PathLike = str | os.PathLike[str]


class OutputPathError(NscError):
    """An output path cannot be written: not a regular file, missing folder, or an OSError."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_output_path(path: PathLike, *, make_parents: bool = False) -> Path:
    """``path`` as a :class:`Path` if nsc may write it, else one :class:`OutputPathError`.

    Accepted: a path to an existing regular file (it is replaced) or to nothing yet, in an
    existing folder (created first when ``make_parents``).
    """
    text = os.fspath(path)
    if not text:
        raise OutputPathError("output path is empty")
    target = Path(text)
    if text.endswith(os.sep):
        raise OutputPathError(f"output {text!r} names a folder; give a file name")
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise OutputPathError(_under_file_message(target)) from None
    except OSError as err:
        raise OutputPathError(f"cannot write {text!r}: {err.strerror}") from None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise OutputPathError(
                f"output {text!r} is {_kind(info.st_mode)}; nsc writes only regular files "
                "(give a file path)"
            )
        return target
    parent = target.parent
    if parent.is_dir():
        return target
    if make_parents:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise OutputPathError(_under_file_message(target)) from None
        except OSError as err:
            raise OutputPathError(f"cannot create folder {str(parent)!r}: {err.strerror}") from None
        return target
    if _file_ancestor(target) is not None:
        raise OutputPathError(_under_file_message(target))
    raise OutputPathError(
        f"output folder {str(parent)!r} does not exist (create it first: mkdir -p {parent})"
    )


def _file_ancestor(target: Path) -> Path | None:
    for ancestor in target.parents:
        with contextlib.suppress(OSError):
            if ancestor.exists():
                return None if ancestor.is_dir() else ancestor
    return None


def _under_file_message(target: Path) -> str:
    ancestor = _file_ancestor(target)
    where = f" {str(ancestor)!r}" if ancestor is not None else ""
    return f"output {str(target)!r} is under the file{where}, which is not a folder"


def _temp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]+\.tmp")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or an odd value): leave its file alone
    return True


def clean_stale_temps(target: Path) -> list[Path]:
    """Remove ``.NAME.<pid>.*.tmp`` files of ``target`` whose writer process is gone."""
    pattern = _temp_pattern(target.name)
    removed: list[Path] = []
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        stale = target.parent / entry
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(stale).st_mode):
                stale.unlink()
                removed.append(stale)
    return removed


def _create_temp(target: Path) -> Path:
    """A new empty temporary file next to ``target``, mode ``0o666 & ~umask``."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as err:
            raise OutputPathError(f"cannot write {str(target)!r}: {err.strerror}") from None
        os.close(fd)
        return tmp
    raise OutputPathError(f"cannot create a temporary file next to {str(target)!r}")


class Outputs:
    """The outputs of one command, renamed into place together (see :func:`atomic_outputs`)."""

    def __init__(self, *, make_parents: bool = False) -> None:
        self._make_parents = make_parents
        self._pending: list[tuple[Path, Path]] = []  # (temporary, target)

    def path(self, target: PathLike) -> Path:
        """A temporary path to write ``target``'s content to; checked now, renamed at the end."""
        checked = check_output_path(target, make_parents=self._make_parents)
        for _, other in self._pending:
            if os.path.abspath(other) == os.path.abspath(checked):
                raise OutputPathError(f"{str(checked)!r} is named as two different outputs")
        clean_stale_temps(checked)
        tmp = _create_temp(checked)
        self._pending.append((tmp, checked))
        return tmp

    def write_text(self, target: PathLike, text: str) -> None:
        """Stage ``text`` (UTF-8) for ``target``."""
        self.write_bytes(target, text.encode("utf-8"))

    def write_bytes(self, target: PathLike, data: bytes) -> None:
        """Stage ``data`` for ``target``."""
        tmp = self.path(target)
        try:
            tmp.write_bytes(data)
        except OSError as err:
            raise self.error_for(err) or err from None

    def error_for(self, err: OSError) -> OutputPathError | None:
        """``err`` as one :class:`OutputPathError` if it is about a staged file (or names no
        file while something is staged: a write through a file handle), else None."""
        staged = {os.fspath(tmp): target for tmp, target in self._pending}
        name = os.fspath(err.filename) if err.filename is not None else None
        target = staged.get(name) if name is not None else next(iter(staged.values()), None)
        if target is None:
            return None
        return OutputPathError(f"cannot write {str(target)!r}: {err.strerror or err}")

    def commit(self) -> None:
        """Rename every staged file onto its target (every target re-checked first). Renames
        happen in order; should one fail (the folder vanished), the earlier ones stay done."""
        for _, target in self._pending:
            check_output_path(target)
        for tmp, target in self._pending:
            try:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except OSError as err:
                raise OutputPathError(f"cannot write {str(target)!r}: {err.strerror}") from None
        self._pending.clear()

    def discard(self) -> None:
        """Remove every staged temporary file."""
        for tmp, _ in self._pending:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._pending.clear()


@contextlib.contextmanager
def atomic_outputs(*, make_parents: bool = False) -> Iterator[Outputs]:
    """All outputs of a block, or none: ``with atomic_outputs() as out: p = out.path(...)``.

    Each ``out.path(target)`` checks ``target`` at once (so a bad ``-o`` fails before any
    work) and returns a temporary path; when the block ends without an exception every file
    is renamed onto its target; otherwise every temporary is removed and no target changes.
    An ``OSError`` about a temporary path inside the block becomes an :class:`OutputPathError`.
    """
    outputs = Outputs(make_parents=make_parents)
    try:
        yield outputs
        outputs.commit()
    except OSError as err:
        mapped = outputs.error_for(err)
        if mapped is None:
            raise
        raise mapped from None
    finally:
        outputs.discard()


@contextlib.contextmanager
def atomic_path(path: PathLike, *, make_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    with atomic_outputs(make_parents=make_parents) as out:
        yield out.path(path)


def write_text_atomic(path: PathLike, text: str, *, make_parents: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_outputs(make_parents=make_parents) as out:
        out.write_text(path, text)


def write_bytes_atomic(path: PathLike, data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_outputs(make_parents=make_parents) as out:
        out.write_bytes(path, data)
