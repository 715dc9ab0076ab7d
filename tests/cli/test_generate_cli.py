"""`ganforge generate` and `ganforge style-mix` through click's test runner on real network files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
from click.testing import CliRunner

from ganforge.cli.generate import generate_command
from ganforge.cli.style_mix import style_mix_command
from ganforge.errors import NetworkFileError, OptionError


def test_generate_command_writes_images_and_grid(tmp_path: Path, official_rgb: str) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        generate_command,
        ["--network", official_rgb, "--seeds", "0-2,9", "--trunc", "0.7", "--grid", "--outdir", str(out),
         "--batch", "3", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    names = ["seed0000.png", "seed0001.png", "seed0002.png", "seed0009.png", "grid.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    with PIL.Image.open(out / "grid.png") as grid:
        assert grid.size == (2 * 32, 2 * 32)
    assert "Wrote 4 images and grid.png to" in result.output


def test_generate_command_matches_library_defaults(tmp_path: Path, official_rgb: str) -> None:
    """Same seed through the CLI with different batch sizes gives the same file."""
    runner = CliRunner()
    for name, batch in (("a", "1"), ("b", "2")):
        result = runner.invoke(
            generate_command,
            ["--network", official_rgb, "--seeds", "4,5", "--outdir", str(tmp_path / name), "--batch", batch],
        )
        assert result.exit_code == 0, result.output
    a = np.asarray(PIL.Image.open(tmp_path / "a" / "seed0005.png"), dtype=np.int32)
    b = np.asarray(PIL.Image.open(tmp_path / "b" / "seed0005.png"), dtype=np.int32)
    assert np.abs(a - b).max() <= 1


def test_generate_command_conditional(tmp_path: Path, official_cond: str) -> None:
    runner = CliRunner()
    args = ["--network", official_cond, "--seeds", "1", "--outdir", str(tmp_path)]
    result = runner.invoke(generate_command, args)
    assert isinstance(result.exception, OptionError) and "--class" in str(result.exception)
    result = runner.invoke(generate_command, [*args, "--class", "9"])
    assert isinstance(result.exception, OptionError) and "out of range" in str(result.exception)
    result = runner.invoke(generate_command, [*args, "--class", "4", "--noise-mode", "none"])
    assert result.exit_code == 0, result.output
    with PIL.Image.open(tmp_path / "seed0001.png") as img:
        assert (img.size, img.mode) == ((16, 16), "L")


def test_generate_command_class_grid(tmp_path: Path, official_cond: str) -> None:
    args = ["--network", official_cond, "--seeds", "1-3", "--class", "0-4", "--grid",
            "--outdir", str(tmp_path)]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 15 images and grid.png" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [*(f"class{k}" for k in range(5)), "grid.png"]
    with PIL.Image.open(tmp_path / "grid.png") as img:
        assert img.size == (3 * 16, 5 * 16)
    assert (tmp_path / "class4" / "seed0003.png").is_file()


def test_generate_command_bad_options(tmp_path: Path, official_rgb: str) -> None:
    runner = CliRunner()
    base = ["--network", official_rgb, "--outdir", str(tmp_path)]
    result = runner.invoke(generate_command, [*base, "--seeds", "3-1"])
    assert result.exit_code == 2 and "runs backwards" in result.output
    result = runner.invoke(generate_command, [*base, "--seeds", "1", "--noise-mode", "loud"])
    assert result.exit_code == 2 and "--noise-mode" in result.output
    result = runner.invoke(generate_command, [*base, "--seeds", "1", "--batch", "0"])
    assert result.exit_code == 2
    result = runner.invoke(generate_command, ["--network", official_rgb, "--seeds", "1"])
    assert result.exit_code == 2 and "--outdir" in result.output
    assert not list(tmp_path.iterdir())


def test_generate_command_missing_network(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        generate_command, ["--network", str(tmp_path / "nope.pkl"), "--seeds", "1", "--outdir", str(tmp_path)]
    )
    assert isinstance(result.exception, NetworkFileError) and "nope.pkl" in str(result.exception)


def test_generate_command_help() -> None:
    result = CliRunner().invoke(generate_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--network", "--seeds", "--trunc", "--class", "--noise-mode", "--grid", "--outdir",
                   "--batch", "--device"):
        assert option in result.output


def test_style_mix_command(tmp_path: Path, official_rgb: str) -> None:
    result = CliRunner().invoke(
        style_mix_command,
        ["--network", official_rgb, "--rows", "85,100", "--cols", "55,821", "--styles", "0-3",
         "--trunc", "0.9", "--outdir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    expected = {"85-85", "100-100", "55-55", "821-821", "85-55", "85-821", "100-55", "100-821", "grid"}
    assert {p.stem for p in tmp_path.iterdir()} == expected
    with PIL.Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (3 * 32, 3 * 32)


def test_style_mix_command_errors(tmp_path: Path, official_rgb: str) -> None:
    runner = CliRunner()
    base = ["--network", official_rgb, "--rows", "1", "--cols", "2", "--outdir", str(tmp_path)]
    result = runner.invoke(style_mix_command, [*base, "--styles", "0-99"])
    assert isinstance(result.exception, OptionError) and "--styles" in str(result.exception)
    result = runner.invoke(style_mix_command, [*base, "--styles", "x"])
    assert result.exit_code == 2 and "--styles" in result.output
    result = runner.invoke(style_mix_command, ["--network", official_rgb, "--cols", "2", "--outdir", "o"])
    assert result.exit_code == 2 and "--rows" in result.output
