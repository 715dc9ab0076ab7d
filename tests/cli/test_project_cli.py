"""`ganforge project` and `ganforge generate --projected-w` through click's test runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner

from ganforge.cli.main import cli
from ganforge.compat import save_network
from ganforge.errors import OptionError
from ganforge.models.stylegan2 import Generator


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("GANFORGE_DETECTOR_DIR", str(tmp_path / "detectors"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def tiny_pkl(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    G = Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    save_network(path, G_ema=G)
    return str(path)


def read_png(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as img:
        return np.asarray(img)


def test_project_then_generate_projected_w(tiny_pkl: str, tmp_path: Path) -> None:
    pixels = np.random.RandomState(0).randint(0, 256, (24, 24, 3)).astype(np.uint8)
    PIL.Image.fromarray(pixels).save(tmp_path / "t.png")
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["project", "--network", tiny_pkl, "--target", str(tmp_path / "t.png"), "--outdir", str(out),
         "--num-steps", "12", "--wplus", "--save-video", "--seed", "1", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert "Projected 1 image into" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["proj.mp4", "proj.png", "projected_w.npz", "target.png"]

    gen = tmp_path / "gen"
    projected = str(out / "projected_w.npz")
    args = ["generate", "--network", tiny_pkl, "--projected-w", projected, "--outdir", str(gen)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in gen.iterdir()] == ["proj00.png"]
    assert np.array_equal(read_png(gen / "proj00.png"), read_png(out / "proj.png"))


def test_generate_needs_exactly_one_source(tiny_pkl: str, tmp_path: Path) -> None:
    runner = CliRunner()
    np.savez(tmp_path / "w.npz", w=np.zeros([2, 1, 16], np.float32))
    base = ["generate", "--network", tiny_pkl, "--outdir", str(tmp_path / "o")]
    result = runner.invoke(cli, base)
    assert isinstance(result.exception, OptionError) and "--seeds" in str(result.exception)
    result = runner.invoke(cli, [*base, "--seeds", "1", "--projected-w", str(tmp_path / "w.npz")])
    assert isinstance(result.exception, OptionError) and "not both" in str(result.exception)
    result = runner.invoke(cli, [*base, "--projected-w", str(tmp_path / "w.npz")])
    assert isinstance(result.exception, OptionError) and "shape [2, 1, 16]" in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_project_bad_options(tiny_pkl: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["project", "--network", tiny_pkl, "--outdir", str(tmp_path / "o")]
    result = runner.invoke(cli, [*base, "--target", str(tmp_path / "none.png")])
    assert isinstance(result.exception, OptionError) and "none.png does not exist" in str(result.exception)
    result = runner.invoke(cli, [*base, "--target", str(tmp_path), "--num-steps", "0"])
    assert result.exit_code == 2 and "--num-steps" in result.output
    result = runner.invoke(cli, [*base, "--target", str(tmp_path), "--distance", "ssim"])
    assert result.exit_code == 2 and "--distance" in result.output
    assert not (tmp_path / "o").exists()
