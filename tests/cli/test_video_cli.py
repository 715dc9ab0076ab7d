"""`ganforge video` through click's test runner on a real network file."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import pytest
import torch
from click.testing import CliRunner

from ganforge.cli.main import cli
from ganforge.compat import save_network
from ganforge.errors import OptionError
from ganforge.models.stylegan2 import Generator


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


def test_video_command_writes_mp4(tiny_pkl: str, tmp_path: Path) -> None:
    out = tmp_path / "lerp.mp4"
    result = CliRunner().invoke(
        cli,
        ["video", "--network", tiny_pkl, "--seeds", "0-7", "--grid", "4x2", "--frames-per-seed", "3",
         "--kind", "z", "--trunc", "0.7", "--output", str(out), "--fps", "24", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote 3 frames to {out}" in result.output
    reader = imageio.get_reader(out)
    frames = list(reader.iter_data())
    assert reader.get_meta_data()["fps"] == 24
    reader.close()
    assert len(frames) == 3 and frames[0].shape == (2 * 16, 4 * 16, 3)


def test_video_command_bad_options(tiny_pkl: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["video", "--network", tiny_pkl, "--output", str(tmp_path / "v.mp4")]
    result = runner.invoke(cli, [*base, "--seeds", "0-3", "--grid", "4x2"])
    assert isinstance(result.exception, OptionError) and "--seeds gives only 4 seeds" in str(result.exception)
    result = runner.invoke(cli, [*base, "--seeds", "0-3", "--grid", "four"])
    assert result.exit_code == 2 and "COLSxROWS" in result.output
    result = runner.invoke(cli, [*base, "--seeds", "0-3", "--kind", "x"])
    assert result.exit_code == 2 and "--kind" in result.output
    result = runner.invoke(cli, [*base, "--seeds", "0-3", "--frames-per-seed", "0"])
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())
