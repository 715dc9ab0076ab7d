"""Atomic writes: the destination appears whole or not at all, with ordinary permissions; an
unwritable destination is one OutputError; temps of killed writers are cleaned by the next write."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ganforge.errors import OutputError
from ganforge.fileio import atomic_dir, atomic_open, atomic_path, make_dirs


def test_file_appears_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "out.bin"
    with atomic_open(dest) as f:
        f.write(b"new")
        assert not dest.exists()
    assert dest.read_bytes() == b"new"


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(dest, "w") as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.png") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o644


def test_write_error_names_the_destination_and_cause_and_keeps_the_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(OutputError, match=r"cannot write '.*out\.txt': No space left on device; free some"):
        with atomic_open(dest, "w") as f:
            f.write("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_an_os_error_about_another_file_passes_through(tmp_path: Path) -> None:
    source = tmp_path / "missing.png"
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "out.png"):
        source.read_bytes()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_unwritable_folder_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(code, os.strerror(code), str(tmp_path / ".out.png.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=rf"cannot write '.*out\.png': {os.strerror(code)}"):
        with atomic_path(tmp_path / "out.png"):
            pass


def test_destination_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"cannot write .*: '.*file' is a file, not a folder"):
        with atomic_path(tmp_path / "file" / "sub" / "out.png"):
            pass
    with pytest.raises(OutputError, match=r"cannot create folder '.*file': '.*file' is a file, not a folder"):
        make_dirs(tmp_path / "file")


def test_destination_under_proc() -> None:
    with pytest.raises(OutputError, match=r"cannot write '/proc/ganforge-test/out.png': "):
        with atomic_path("/proc/ganforge-test/out.png"):
            pass


def test_folder_appears_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "a.png").write_bytes(b"x")
        assert not dest.exists()
    assert (dest / "a.png").read_bytes() == b"x"
    with pytest.raises(OutputError, match="No space left"), atomic_dir(tmp_path / "other") as tmp:
        (tmp / "a.png").write_bytes(b"x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp / "b.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_next_write_removes_the_temps_of_dead_writers_only(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [f".out.zip.{dead.pid}-abcd_123.tmp", ".out.zip.k2j4h5g6.tmp"]
    kept = [
        f".out.zip.{os.getpid()}-abcdefgh.tmp", ".out.zip.bak.tmp", ".other.zip.k2j4h5g6.tmp", "out.zip.x.tmp"
    ]
    for name in [*stale, *kept]:
        (tmp_path / name).write_bytes(b"half")
    (tmp_path / f".out.zip.{dead.pid}-folder00.tmp").mkdir()
    (tmp_path / f".out.zip.{dead.pid}-folder00.tmp" / "img.png").write_bytes(b"x")
    with atomic_open(tmp_path / "out.zip") as f:
        f.write(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "out.zip"])


def test_a_folder_is_listed_once_however_many_files_are_written_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = []
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        listed.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    for i in range(20):
        with atomic_open(tmp_path / f"seed{i:04d}.png") as f:
            f.write(b"x")
    assert listed == [str(tmp_path)]
