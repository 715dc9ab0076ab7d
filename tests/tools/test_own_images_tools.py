"""style-mix, video, project and the metrics' detector input on non-square and RGBA generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from torch import nn

from ganforge.cli.main import main
from ganforge.compat import save_network
from ganforge.data.create import write_dataset
from ganforge.data.sources import SourceItem
from ganforge.detectors.opaque import BACKGROUND
from ganforge.metrics.features import MetricOptions, dataset_features
from ganforge.models.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _tiny(path: Path, aspect: list[int], channels: int, labels: dict | None = None) -> str:
    """A tiny seeded StyleGAN2 G of 8 x aspect pixels and `channels`, saved as a checkpoint (with a
    snapshot's record of its labels when given: a conditional G)."""
    torch.manual_seed(0)
    c_dim = 0 if labels is None else len(labels["names"])
    G = Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=8, img_channels=channels,
                  mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8, "img_aspect": aspect})
    save_network(path, None if labels is None else {"labels": labels}, G_ema=G)
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    try:
        main(list(args))
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    return capsys.readouterr().out


def _open(path: Path) -> PIL.Image.Image:
    with PIL.Image.open(path) as picture:
        picture.load()
        return picture.copy()


def test_style_mix_and_video_at_16x8_rgba(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    network = _tiny(tmp_path / "g.pt", [2, 1], 4)
    _run(capsys, "style-mix", "--network", network, "--rows", "1,2", "--cols", "3", "--styles", "0-1",
         "--outdir", str(tmp_path / "mix"), "--device", "cpu")
    mixed = _open(tmp_path / "mix" / "1-3.png")
    assert (mixed.size, mixed.mode) == ((16, 8), "RGBA")
    assert _open(tmp_path / "mix" / "grid.png").size == (32, 24)
    _run(capsys, "video", "--network", network, "--seeds", "0-1", "--grid", "1x1", "--frames-per-seed", "2",
         "--output", str(tmp_path / "v.mp4"), "--device", "cpu")
    assert (tmp_path / "v.mp4").stat().st_size > 0


def test_project_an_8x32_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    network = _tiny(tmp_path / "g.pt", [1, 4], 4)
    target = np.random.RandomState(0).randint(0, 256, (40, 12, 4), dtype=np.uint8)
    PIL.Image.fromarray(target).save(tmp_path / "t.png")
    _run(capsys, "project", "--network", network, "--target", str(tmp_path / "t.png"), "--distance", "pixel",
         "--num-steps", "3", "--outdir", str(tmp_path / "out"), "--device", "cpu")
    for name in ("target.png", "proj.png"):
        picture = _open(tmp_path / "out" / name)
        assert (picture.size, picture.mode) == ((8, 32), "RGBA")


class _ChannelMeans(nn.Module):
    """A stand-in detector: the mean of each input channel, and what it was given."""

    name = "means"
    feature_dim = 3

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros([]))
        self.seen: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen.append(images)
        return {"features": images.float().mean(dim=(2, 3))}


def test_metrics_see_rgba_images_over_white(tmp_path: Path) -> None:
    rgba = np.random.RandomState(1).randint(0, 256, (8, 16, 4), dtype=np.uint8)
    write_dataset([SourceItem("a.png", lambda: rgba, None)], tmp_path / "d.zip", channels=4)
    detector = _ChannelMeans()
    opts = MetricOptions(data=tmp_path / "d.zip", detector_loader=lambda _name, _path: detector, cache=False)
    dataset_features(opts, "means", capture_all=True)
    (seen,) = detector.seen
    alpha = rgba[:, :, 3:] / 255.0
    expected = np.rint(rgba[:, :, :3] * alpha + BACKGROUND * (1 - alpha)).astype(np.uint8)
    np.testing.assert_array_equal(seen[0].numpy().transpose(1, 2, 0), expected)


def test_style_mix_project_and_video_take_label_vectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = _tiny(tmp_path / "g.pt", [1, 2], 3, {"kind": "multi-hot", "names": ["a", "b", "c"]})
    _run(capsys, "style-mix", "--network", network, "--rows", "1", "--cols", "2", "--styles", "0",
         "--label", "1,0,1", "--outdir", str(tmp_path / "mix"), "--device", "cpu")
    assert _open(tmp_path / "mix" / "1-2.png").size == (8, 16)
    PIL.Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(tmp_path / "t.png")
    _run(capsys, "project", "--network", network, "--target", str(tmp_path / "t.png"), "--distance", "pixel",
         "--num-steps", "2", "--label", "0,1,1", "--outdir", str(tmp_path / "out"), "--device", "cpu")
    assert _open(tmp_path / "out" / "proj.png").size == (8, 16)
    _run(capsys, "video", "--network", network, "--seeds", "0-1", "--frames-per-seed", "2",
         "--label", "1,1,0", "--output", str(tmp_path / "v.mp4"), "--device", "cpu")
    assert (tmp_path / "v.mp4").stat().st_size > 0
    outdir = ["--outdir", str(tmp_path / "x")]
    for command in (["style-mix", "--rows", "1", "--cols", "2", "--styles", "0", *outdir],
                    ["project", "--target", str(tmp_path / "t.png"), *outdir],
                    ["video", "--seeds", "0-1", "--output", str(tmp_path / "w.mp4")]):
        with pytest.raises(SystemExit):
            main([*command, "--network", network, "--class", "1"])
        assert "takes 3 multi-hot labels (a, b, c), not a class" in capsys.readouterr().err
