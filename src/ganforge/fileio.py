"""Atomic file writing: readers never see a half-written file, and a crash leaves the old one.

Temp files and folders are named ``.NAME.PID-XXXXXXXX.tmp`` beside the destination NAME; those a
killed process left behind (its PID no longer running) are removed by the next process that writes
NAME.
Failing to create or write an output raises OutputError naming the destination and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ganforge.errors import OutputError

_HINTS = {
    errno.ENOSPC: "free some space or choose another destination",
    errno.EDQUOT: "free some space or choose another destination",
    errno.EROFS: "choose another destination",
    errno.EACCES: "choose a destination you may write to",
    errno.EPERM: "choose a destination you may write to",
}


def output_error(dest: str | os.PathLike[str], exc: OSError, folder: bool = False) -> OutputError:
    """One plain line for an OSError met while creating or writing file (or `folder`) `dest`."""
    dest = Path(dest)
    what = f"cannot create folder '{dest}'" if folder else f"cannot write '{dest}'"
    blocker = _file_in_the_way(dest if folder else dest.parent)
    if blocker is not None:
        return OutputError(f"{what}: '{blocker}' is a file, not a folder; choose another destination")
    cause = exc.strerror or str(exc)
    return OutputError(f"{what}: {cause}; {_HINTS.get(exc.errno or 0, 'choose another destination')}")


def make_dirs(path: str | os.PathLike[str]) -> Path:
    """Create folder `path` and its parents if missing; OutputError if that is impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(path, e, folder=True) from e
    return path


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp file path beside `dest`; on success rename it onto `dest`, on error delete it."""
    with _atomic(dest, _make_temp_file, _unlink) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temp folder beside `dest`; on success rename it to `dest` (which must not exist)."""
    with _atomic(dest, _make_temp_dir, lambda p: shutil.rmtree(p, ignore_errors=True), os.rename) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_open(dest: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temp file for writing that replaces `dest` only once it is closed successfully."""
    with atomic_path(dest) as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _atomic(
    dest: str | os.PathLike[str],
    make: Callable[[Path], Path],
    remove: Callable[[Path], None],
    publish: Callable[[Path, Path], None] = os.replace,
) -> Iterator[Path]:
    """The shared body of atomic_path / atomic_dir: make a temp, yield it, publish or remove it."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(dest)
        tmp = make(dest)
    except OSError as e:
        raise output_error(dest, e) from e
    try:
        yield tmp
        publish(tmp, dest)
    except BaseException as e:
        remove(tmp)
        if isinstance(e, OSError) and _is_about(e, tmp, dest):
            raise output_error(dest, e) from e
        raise


def _make_temp_file(dest: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(dest), suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the permissions open() would
    except BaseException:
        _unlink(tmp_path)
        raise
    return tmp_path


def _make_temp_dir(dest: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=".tmp", dir=dest.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the permissions mkdir() would
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _temp_prefix(dest: Path) -> str:
    return f".{dest.name}.{os.getpid()}-"


def remove_stale_temps(dest: str | os.PathLike[str]) -> list[Path]:
    """Delete the temps beside `dest` left by writers that are no longer running; return them.

    Temps of the older ``.NAME.XXXXXXXX.tmp`` form carry no PID and are always stale. A folder is
    listed once per process (writing N files into it must not list it N times); what a later
    killed writer leaves there is for the next process to clean.
    """
    dest = Path(dest)
    folder = os.path.abspath(dest.parent)
    with _stale_lock:
        if folder not in _stale_by_folder:
            _stale_by_folder[folder] = _find_stale_temps(folder)
        stale = _stale_by_folder[folder].pop(dest.name, [])
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink(path)
    return stale


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?[a-z0-9_]{8}\.tmp")
_stale_by_folder: dict[str, dict[str, list[Path]]] = {}
"""Folder -> destination name -> stale temps not yet removed, listed on the first write there."""
_stale_lock = threading.Lock()


def _find_stale_temps(folder: str) -> dict[str, list[Path]]:
    """The temps in `folder` whose writer is gone, by the name of the destination they were for."""
    stale: dict[str, list[Path]] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return stale
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is not None and not (match["pid"] is not None and _is_running(int(match["pid"]))):
            stale.setdefault(match["name"], []).append(Path(entry.path))
    return stale


def _is_running(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def _is_about(exc: OSError, tmp: Path, dest: Path) -> bool:
    """Whether an OSError raised while writing concerns the output (no file named, or the output's)."""
    names = [name for name in (exc.filename, exc.filename2) if name is not None]
    if not names:
        return True
    for name in names:
        path = Path(os.fsdecode(name)) if isinstance(name, (str, bytes, os.PathLike)) else None
        if path is not None and (path in (tmp, dest) or tmp in path.parents):
            return True
    return False


def _file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing ancestor of `folder` (itself included) if it is not a folder."""
    for path in (folder, *folder.parents):
        if path.exists() or path.is_symlink():
            return None if path.is_dir() else path
    return None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
