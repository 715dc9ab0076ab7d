"""`ganforge dataset create|info` through click, and once through the real console entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner

from ganforge.cli.dataset import dataset
from ganforge.errors import DatasetError


def _image_folder(root: Path, count: int = 3, size: int = 8) -> Path:
    """A folder source: count RGB PNGs in two class sub-folders, plus one corrupt file if asked."""
    for i in range(count):
        sub = root / ("a" if i % 2 == 0 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = np.random.RandomState(i).randint(0, 256, (size, size, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(sub / f"{i}.png")
    return root


def test_create_and_info_round_trip(tmp_path: Path) -> None:
    src = _image_folder(tmp_path / "src", count=5, size=16)
    runner = CliRunner()
    dest = tmp_path / "ds.zip"
    result = runner.invoke(
        dataset,
        [
            "create",
            "--source",
            str(src),
            "--dest",
            str(dest),
            "--resolution",
            "8",
            "--labels-from-folders",
            "--channels",
            "1",
            "--max-images",
            "4",
            "--shuffle-seed",
            "3",
            "--lods",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Wrote 4 images (8x8, 1 channel(s), 2 classes, lods [8, 4]) to {dest}"

    grid = tmp_path / "grid.png"
    result = runner.invoke(dataset, ["info", str(dest), "--grid", str(grid)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Images:      4" in lines and "Resolution:  8x8" in lines and "Channels:    1" in lines
    assert "Labels:      2 classes (int)" in lines and "LOD levels:  8, 4" in lines
    assert any(line.startswith("Classes:     0: ") for line in lines)
    assert lines[-1] == f"Grid of 4 images written to {grid}"
    with PIL.Image.open(grid) as picture:
        assert picture.size == (16, 16) and picture.mode == "L"


def test_create_reports_skipped_images(tmp_path: Path) -> None:
    src = _image_folder(tmp_path / "src", count=2)
    (src / "a" / "zz.png").write_bytes(b"not a png")
    result = CliRunner().invoke(
        dataset, ["create", "--source", str(src), "--dest", str(tmp_path / "out"), "--skip-bad"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "skipped 1 unreadable images"
    assert (tmp_path / "out" / "dataset.json").is_file()


def test_create_errors_are_ganforge_errors(tmp_path: Path) -> None:
    src = _image_folder(tmp_path / "src", count=1)
    (tmp_path / "taken.zip").write_bytes(b"x")
    result = CliRunner().invoke(
        dataset, ["create", "--source", str(src), "--dest", str(tmp_path / "taken.zip")]
    )
    assert isinstance(result.exception, DatasetError) and "taken.zip" in str(result.exception)
    result = CliRunner().invoke(
        dataset, ["create", "--source", str(src), "--dest", str(tmp_path / "x"), "--transform", "stretch"]
    )
    assert result.exit_code == 2 and "stretch" in result.output


def test_every_option_has_help() -> None:
    commands = dataset.commands
    assert sorted(commands) == ["create", "info"]
    for command in commands.values():
        assert command.help
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{command.name} {param.name} has no help"


def test_console_entry_point(tmp_path: Path) -> None:
    from ganforge.cli.main import cli

    if "dataset" not in cli.commands:
        pytest.skip("the dataset command is not registered in ganforge.cli.main yet")
    src = _image_folder(tmp_path / "src", count=2)
    entry = [sys.executable, "-m", "ganforge.cli.main", "dataset"]
    done = subprocess.run(
        [*entry, "create", "--source", str(src), "--dest", str(tmp_path / "d.zip")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Wrote 2 images (8x8, 3 channel(s)")
    done = subprocess.run(
        [*entry, "create", "--source", str(src), "--dest", str(tmp_path / "d.zip")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: Destination") and "Traceback" not in done.stderr
    done = subprocess.run([*entry, "info", str(tmp_path / "d.zip")], capture_output=True, text=True)
    assert done.returncode == 0 and "Images:      2" in done.stdout
