"""nsc_runtime.atomic: the one atomic-write helper (issue 15 item 7)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nsc_runtime import format as fmt
from nsc_runtime.atomic import (
    OutputPathError,
    atomic_outputs,
    atomic_path,
    check_output_path,
    clean_stale_temps,
    write_bytes_atomic,
    write_text_atomic,
)
from nsc_runtime.synth import random_corelet


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_and_replaces_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two" and _files(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_created_file_follows_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o666 & ~umask


def test_refuses_targets_that_are_not_regular_files(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(victim)
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    cases = [
        (str(link), "is a symbolic link"),
        (str(tmp_path / "dir"), "is a folder"),
        (str(tmp_path / "fifo"), "is a FIFO"),
        (str(victim / "under"), "is under the file"),
        (str(tmp_path / "missing" / "x"), "folder"),
        (f"{tmp_path}/new/", "names a folder"),
        ("", "empty"),
    ]
    if Path("/dev/full").exists():
        cases.append(("/dev/full", "is a device"))
    for target, message in cases:
        with pytest.raises(OutputPathError, match=message):
            write_text_atomic(target, "data")
    assert victim.read_text() == "keep" and link.is_symlink()
    assert _files(tmp_path) == ["dir", "fifo", "link", "victim"]
    assert os.listdir(tmp_path / "dir") == []


def test_missing_folder_is_an_error_naming_it_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(OutputPathError, match=r"folder '.*a/b' does not exist.*mkdir -p"):
        check_output_path(target)
    assert not (tmp_path / "a").exists()
    write_text_atomic(target, "x", make_parents=True)
    assert target.read_text() == "x"


def test_transaction_writes_all_or_nothing(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_outputs() as out:
        out.write_text(tmp_path / "a.txt", "new a")
        out.path(tmp_path / "b.txt").write_text("new b")
        raise RuntimeError("the command failed after staging both")
    assert _files(tmp_path) == ["b.txt"] and (tmp_path / "b.txt").read_text() == "old"
    with atomic_outputs() as out:
        out.write_text(tmp_path / "a.txt", "new a")
        out.path(tmp_path / "b.txt").write_text("new b")
        assert not (tmp_path / "a.txt").exists()  # nothing is renamed before the end
    assert (tmp_path / "a.txt").read_text() == "new a"
    assert (tmp_path / "b.txt").read_text() == "new b"
    assert _files(tmp_path) == ["a.txt", "b.txt"]


def test_transaction_refuses_a_bad_second_target_before_writing(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="is a folder"), atomic_outputs() as out:
        out.write_text(tmp_path / "a.txt", "a")
        out.write_text(tmp_path, "b")
    assert _files(tmp_path) == []
    with pytest.raises(OutputPathError, match="two different outputs"), atomic_outputs() as out:
        out.write_text(tmp_path / "a.txt", "a")
        out.write_text(tmp_path / "." / "a.txt", "b")
    assert _files(tmp_path) == []


def test_an_oserror_while_writing_is_one_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "big.npz"
    no_space = r"cannot write '.*big.npz': No space left"
    with pytest.raises(OutputPathError, match=no_space), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")
    assert _files(tmp_path) == []
    # an OSError about another file is not blamed on the output
    with pytest.raises(FileNotFoundError), atomic_path(target):
        (tmp_path / "input.txt").read_text()
    assert _files(tmp_path) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "out.npz"
    dead = tmp_path / f".out.npz.{_dead_pid()}.0badc0de.tmp"
    alive = tmp_path / f".out.npz.{os.getppid()}.0badc0de.tmp"  # a live process: kept
    other = tmp_path / f".other.npz.{_dead_pid()}.0badc0de.tmp"  # another target: kept
    for p in (dead, alive, other):
        p.write_bytes(b"left behind")
    write_text_atomic(target, "x")
    assert not dead.exists() and alive.exists() and other.exists()
    assert clean_stale_temps(target) == []


def test_a_killed_writer_leaves_a_temp_that_the_next_write_cleans(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    code = (
        "import os, signal, sys\n"
        "from nsc_runtime.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert proc.returncode == -9
    left = [p for p in _files(tmp_path) if p.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith(".out.bin.") and not target.exists()
    write_bytes_atomic(target, b"whole")
    assert _files(tmp_path) == ["out.bin"] and target.read_bytes() == b"whole"


def test_corelet_save_uses_the_same_rules(tmp_path: Path) -> None:
    corelet = random_corelet(1, seed=3)
    link = tmp_path / "c.corelet"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputPathError, match="symbolic link"):
        fmt.save(corelet, link)
    with pytest.raises(OutputPathError, match="does not exist"):
        fmt.save(corelet, tmp_path / "no" / "c.corelet")
    fmt.save(corelet, tmp_path / "ok.corelet")
    assert fmt.load(tmp_path / "ok.corelet").n_cores == 1
    assert _files(tmp_path) == ["c.corelet", "ok.corelet"]
