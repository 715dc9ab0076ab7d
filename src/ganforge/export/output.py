"""Where an export goes: refuse an existing output unless forced, then publish it atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ganforge.errors import OutputError
from ganforge.fileio import atomic_dir, atomic_path


def check_free(out: str | os.PathLike[str], force: bool) -> None:
    """Refuse an `out` that exists, unless `force`."""
    if not force and (os.path.lexists(out)):
        raise OutputError(f"{out} exists; choose another output or replace it with force=True")


@contextlib.contextmanager
def export_file(out: str | os.PathLike[str], force: bool) -> Iterator[Path]:
    """A temp path that replaces file `out` once the block succeeds (an existing `out` needs `force`)."""
    check_free(out, force)
    if Path(out).is_dir():
        raise OutputError(f"{out} is a folder; give a file name to export to")
    with atomic_path(out) as tmp:
        yield tmp


@contextlib.contextmanager
def export_folder(out: str | os.PathLike[str], force: bool) -> Iterator[Path]:
    """An empty temp folder that becomes `out` once the block succeeds; an `out` replaced by `force`
    is removed only after the new one is complete."""
    check_free(out, force)
    out = Path(out)
    old = out.with_name(f".{out.name}.{os.getpid()}-replaced.tmp") if os.path.lexists(out) else None
    with atomic_dir(out.with_name(f".{out.name}.{os.getpid()}-new.tmp") if old else out) as tmp:
        yield tmp
    if old is None:
        return
    new = out.with_name(f".{out.name}.{os.getpid()}-new.tmp")
    os.replace(out, old)
    os.replace(new, out)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()
