"""Where an export goes: refuse an existing output unless forced, then publish it atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ganforge.errors import OutputError
from ganforge.fileio import atomic_dir, atomic_path, output_error, remove_stale_temps


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
    is removed only after the new one is complete (temps a killed process left are cleaned later)."""
    check_free(out, force)
    out = Path(out)
    if not os.path.lexists(out):
        with atomic_dir(out) as tmp:
            yield tmp
        return
    remove_stale_temps(out)
    new, old = (out.with_name(f".{out.name}.{os.getpid()}-{tag}.tmp") for tag in ("incoming", "replaced"))
    with atomic_dir(new) as tmp:
        yield tmp
    try:
        os.replace(out, old)
        try:
            os.replace(new, out)
        except OSError:
            os.replace(old, out)  # put the old one back
            raise
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise output_error(out, exc, folder=True) from exc
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()
