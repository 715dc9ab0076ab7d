"""`ganforge dataset create` stopped mid-write in a real process: SIGTERM leaves nothing, and the
temp file or folder a SIGKILL leaves is removed by the next run that writes the same destination."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from ganforge.cli.main import main


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Images that take seconds to write at --resolution 1024, so a signal finds the writer busy."""
    root = tmp_path_factory.mktemp("source")
    for i in range(40):
        pixels = np.random.RandomState(i).randint(0, 256, (32, 32, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(root / f"{i:02d}.png")
    return root


def start_writing(source: Path, dest: Path) -> subprocess.Popen:
    """Start `ganforge dataset create` and return once its temp output holds some data."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ganforge.cli.main", "dataset", "create", "--source", str(source),
         "--dest", str(dest), "--resolution", "1024"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        temps = list(dest.parent.glob(f".{dest.name}.*.tmp"))
        if temps and sum(p.stat().st_size for t in temps for p in [t, *t.rglob("*")] if p.is_file()) > 0:
            return process
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"the writer never got going: {process.communicate()[1].decode()}")


def beside(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir())


@pytest.mark.parametrize("name", ["ds.zip", "ds"])
def test_sigterm_mid_write_leaves_nothing(source: Path, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "out" / name
    process = start_writing(source, dest)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    assert "Traceback" not in err.decode()
    assert beside(dest) == []


@pytest.mark.parametrize("name", ["ds.zip", "ds"])
def test_the_next_write_removes_what_sigkill_left(source: Path, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "out" / name
    process = start_writing(source, dest)
    process.kill()
    process.communicate(timeout=60)
    left = beside(dest)
    assert len(left) == 1 and left[0].startswith(f".{name}.") and left[0].endswith(".tmp")
    main(["dataset", "create", "--source", str(source), "--dest", str(dest), "--max-images", "2"])
    assert beside(dest) == [name]
