"""Every command that writes, pointed at a destination it cannot write, prints one line naming the
destination and the cause, exits 1, and leaves no temp file behind.

The kinds of destination: under a path that is a file, under /proc, on a read-only file system and
on a full disk. The last two are simulated (tests may run as root, for whom permissions do not
stop writes): read-only by failing every create with EROFS, full by failing every write to a temp
file with ENOSPC (and, for videos, by an ffmpeg that exits as the real one does on ENOSPC).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pytest
from tests.conftest import save_tiny_stylegan2

from ganforge.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny StyleGAN2 checkpoint, a folder of images, a dataset zip and a projection target."""
    root = tmp_path_factory.mktemp("inputs")
    save_tiny_stylegan2(root / "net.pt")
    (root / "images").mkdir()
    for i in range(4):
        pixels = np.random.RandomState(i).randint(0, 256, (8, 8, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(root / "images" / f"{i}.png")
    main(["dataset", "create", "--source", str(root / "images"), "--dest", str(root / "data.zip")])
    return {
        "net": str(root / "net.pt"), "images": str(root / "images"), "data": str(root / "data.zip"),
        "target": str(root / "images" / "0.png"),
    }


COMMANDS: dict[str, Callable[[dict[str, str], Path], list[str]]] = {
    "dataset-zip": lambda i, d: ["dataset", "create", "--source", i["images"], "--dest", str(d / "ds.zip")],
    "dataset-folder": lambda i, d: ["dataset", "create", "--source", i["images"], "--dest", str(d / "ds")],
    "dataset-info-grid": lambda i, d: ["dataset", "info", i["data"], "--grid", str(d / "grid.png")],
    "generate": lambda i, d: ["generate", "--network", i["net"], "--seeds", "0-1", "--grid",
                              "--outdir", str(d / "gen"), "--device", "cpu"],
    "style-mix": lambda i, d: ["style-mix", "--network", i["net"], "--rows", "1", "--cols", "2",
                               "--styles", "0-1", "--outdir", str(d / "mix"), "--device", "cpu"],
    "video": lambda i, d: ["video", "--network", i["net"], "--seeds", "0", "--frames-per-seed", "2",
                           "--output", str(d / "v.mp4"), "--device", "cpu"],
    "project": lambda i, d: ["project", "--network", i["net"], "--target", i["target"], "--outdir",
                             str(d / "proj"), "--num-steps", "1", "--distance", "pixel", "--device", "cpu"],
    "convert": lambda i, d: ["convert", i["net"], str(d / "net.pt")],
}


class _FullDisk(io.RawIOBase):
    """A file opened for writing on a full disk: every write fails with ENOSPC."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._real.seek(offset, whence)

    def tell(self) -> int:
        return self._real.tell()

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")  # keep writers on the Python write path

    def close(self) -> None:
        self._real.close()
        super().close()


def full_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_open = builtins.open

    def open_on_full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        in_temp = isinstance(file, (str, os.PathLike)) and any(p.endswith(".tmp") for p in Path(file).parts)
        if in_temp and set(mode) & set("wax+"):  # a temp file, or a file in a temp folder
            return _FullDisk(handle)
        return handle

    monkeypatch.setattr(builtins, "open", open_on_full_disk)
    monkeypatch.setattr(io, "open", open_on_full_disk)
    ffmpeg = tmp_path / "ffmpeg"  # ffmpeg exits with the low byte of -ENOSPC when the disk is full
    ffmpeg.write_text(f"#!/bin/sh\ncat > /dev/null\nexit {256 - errno.ENOSPC}\n")
    ffmpeg.chmod(0o755)
    import imageio_ffmpeg

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(ffmpeg))


def read_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(path: Any) -> OSError:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def mkdir(self: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        if not (exist_ok and self.is_dir()):
            raise refuse(self)

    def mkstemp(*args: Any, dir: Any = None, **kwargs: Any) -> Any:  # noqa: A002 - tempfile's name
        raise refuse(dir)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(tempfile, "mkdtemp", mkstemp)


KINDS = {
    "under-a-file": ("blocker/sub", None, "is a file, not a folder"),
    "under-proc": ("/proc/ganforge-test", None, "No such file or directory"),
    "read-only": ("out", read_only, "Read-only file system"),
    "full-disk": ("out", full_disk, "No space left on device"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", COMMANDS)
def test_unwritable_destination_is_one_line(
    command: str, kind: str, inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where, simulate, cause = KINDS[kind]
    (tmp_path / "blocker").write_text("a file")
    root = Path(where) if where.startswith("/") else tmp_path / where
    argv = COMMANDS[command](inputs, root)
    capsys.readouterr()
    if simulate is not None:
        simulate(monkeypatch, tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert exit_info.value.code == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1], err
    assert f"'{root}" in errors[0] and cause in errors[0], errors[0]
    assert errors[0].startswith(("Error: cannot write '", "Error: cannot create folder '"))
    left = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("blocker", "ffmpeg")]
    assert left == [], left


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root from writing")
def test_read_only_folder_for_real(
    inputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    argv = ["generate", "--network", inputs["net"], "--seeds", "0", "--outdir", str(locked)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
    finally:
        locked.chmod(0o755)
    assert exit_info.value.code == 1
    assert f"Error: cannot write '{locked}/seed0000.png': Permission denied" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("command, work", [("generate", "Generating"), ("style-mix", "Synthesising"),
                                           ("project", "Projecting")])
def test_an_unwritable_outdir_fails_before_the_work(
    command: str, work: str, inputs: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocker").write_text("a file")
    argv = COMMANDS[command](inputs, tmp_path / "blocker")
    with caplog.at_level("INFO"), pytest.raises(SystemExit):
        main(argv)
    assert not [m for m in caplog.messages if m.startswith(work)]
