"""Atomic writes: the destination appears whole or not at all, with ordinary permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ganforge.fileio import atomic_open, atomic_path


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
