"""Interpolation videos: the closed spline, the grid layout, frames against direct G calls, MP4 files."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from ganforge.compat import load_network, save_network
from ganforge.errors import OptionError
from ganforge.models.stylegan2 import Generator
from ganforge.tools.generate import load_generator
from ganforge.tools.video import (
    catmull_rom_loop,
    interpolation_frames,
    make_interpolation_video,
    parse_grid,
    tile_grid,
    write_video,
)


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )


@pytest.fixture(scope="module")
def tiny_pkl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    G = tiny_generator()
    with torch.no_grad():  # a non-zero w_avg, so that truncation moves the images
        G.mapping.w_avg.copy_(torch.linspace(-1, 1, 16))
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    save_network(path, G_ema=G)
    return path


def seed_images(G: Generator, seeds: list[int], psi: float) -> np.ndarray:
    """uint8 NHWC images of `seeds`, computed directly (official latents and conversion)."""
    z = torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds])).float()
    with torch.no_grad():
        img = G(z, torch.zeros([len(seeds), G.c_dim]), truncation_psi=psi, noise_mode="const")
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


# --- pieces -------------------------------------------------------------------------------------


def test_catmull_rom_loop_hits_keys_wraps_and_is_smooth() -> None:
    keys = torch.tensor([[0.0, 1.0], [2.0, -1.0], [5.0, 0.5], [1.0, 3.0]], dtype=torch.float64)
    at_keys = catmull_rom_loop(keys, torch.arange(4.0))
    assert torch.allclose(at_keys, keys)
    wrapped = catmull_rom_loop(keys, torch.tensor([4.0, 5.25]))
    assert torch.allclose(wrapped, catmull_rom_loop(keys, torch.tensor([0.0, 1.25])))
    # Between keys 1 and 2 a Catmull-Rom segment is the cubic Hermite curve with tangents (p2-p0)/2.
    u = 0.3
    p0, p1, p2, p3 = keys
    m1, m2 = (p2 - p0) / 2, (p3 - p1) / 2
    hermite = (2 * u**3 - 3 * u**2 + 1) * p1 + (u**3 - 2 * u**2 + u) * m1 + (-2 * u**3 + 3 * u**2) * p2 \
        + (u**3 - u**2) * m2
    assert torch.allclose(catmull_rom_loop(keys, torch.tensor([1.3])), hermite[None])
    # Velocity is continuous across every key, the seam at 4 == 0 included.
    h = 1e-6
    for k in range(1, 5):
        at = catmull_rom_loop(keys, torch.tensor([float(k)], dtype=torch.float64))
        left = (at - catmull_rom_loop(keys, torch.tensor([k - h], dtype=torch.float64))) / h
        right = (catmull_rom_loop(keys, torch.tensor([k + h], dtype=torch.float64)) - at) / h
        assert torch.allclose(left, right, atol=1e-4)


def test_catmull_rom_single_and_two_keys() -> None:
    one = torch.tensor([[1.0, 2.0]])
    assert torch.allclose(catmull_rom_loop(one, torch.tensor([0.0, 0.4, 0.9])), one.expand(3, 2))
    two = torch.tensor([[0.0], [1.0]])
    mid = catmull_rom_loop(two, torch.tensor([0.5, 1.5]))
    assert torch.allclose(mid, torch.tensor([[0.5], [0.5]]))


def test_parse_grid_and_tile_grid() -> None:
    assert parse_grid("4x2") == (4, 2)
    assert parse_grid("1X3") == (1, 3)
    for bad in ("4", "4x", "0x2", "ax2", "2x2x2"):
        with pytest.raises(OptionError, match="^grid: "):
            parse_grid(bad)
    images = np.arange(6, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 3, 1), np.uint8)
    frame = tile_grid(images, cols=3, rows=2)
    assert frame.shape == (4, 9, 1)
    assert frame[::2, ::3, 0].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_write_video_roundtrip(tmp_path: Path) -> None:
    frames = [np.full((16, 32, 3), 40 * i, np.uint8) for i in range(5)]
    frames[2][:, 16:] = [200, 30, 90]
    path = tmp_path / "v.mp4"
    assert write_video(frames, path, fps=12) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    reader = imageio.get_reader(path)
    assert reader.get_meta_data()["fps"] == 12
    back = list(reader.iter_data())
    reader.close()
    assert len(back) == 5
    for a, b in zip(back, frames, strict=True):
        assert a.shape == (16, 32, 3)
        assert np.abs(a.astype(float) - b).mean() < 3
    # Gray frames come back as RGB; a failing writer leaves no file behind.
    write_video([np.full((8, 8, 1), 100, np.uint8)], tmp_path / "g.mp4")
    assert np.abs(imageio.mimread(tmp_path / "g.mp4")[0].astype(float) - 100).max() < 4
    with pytest.raises(ValueError):
        write_video([np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4, 5), np.uint8)], tmp_path / "bad.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.mp4", "v.mp4"]


# --- frames -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["z", "w"])
def test_frames_pass_through_each_cells_seeds(kind: str, tiny_pkl: Path) -> None:
    G = load_generator(tiny_pkl, "cpu")
    seeds, psi, fps = [3, 1, 4, 15, 9, 2], 0.6, 4
    frames = list(interpolation_frames(G, seeds, (3, 1), fps, kind=kind, truncation_psi=psi, batch_size=2))
    assert len(frames) == 2 * fps  # 6 seeds over 3 cells: 2 keyframes per cell
    assert frames[0].shape == (16, 48, 3)
    expected = seed_images(load_network(tiny_pkl)["G_ema"].eval(), seeds, psi)
    for j in range(2):  # frame j * fps shows keyframe j of cell i: seeds[2 * i + j]
        want = tile_grid(expected[[j, 2 + j, 4 + j]], cols=3, rows=1)
        assert max_diff(frames[j * fps], want) <= 1
    # In-between frames differ from the keyframes, and consecutive frames change little.
    assert max_diff(frames[1], frames[0]) > 5
    steps = [np.abs(frames[i + 1].astype(float) - frames[i]).mean() for i in range(len(frames) - 1)]
    seam = np.abs(frames[0].astype(float) - frames[-1]).mean()
    assert seam < 3 * np.mean(steps)


def test_z_and_w_paths_differ_between_keys(tiny_pkl: Path) -> None:
    G = load_generator(tiny_pkl, "cpu")
    z_frames = list(interpolation_frames(G, [0, 1, 2], (1, 1), 3, kind="z"))
    w_frames = list(interpolation_frames(G, [0, 1, 2], (1, 1), 3, kind="w"))
    assert max_diff(z_frames[3], w_frames[3]) <= 1
    assert max_diff(z_frames[1], w_frames[1]) > 1


# --- video files --------------------------------------------------------------------------------


def test_make_interpolation_video_file(tiny_pkl: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "lerp.mp4"
    count = make_interpolation_video(
        tiny_pkl, range(12), out, grid=(2, 2), frames_per_seed=2, kind="w", truncation_psi=0.7, fps=15,
        device="cpu",
    )
    assert count == 12 * 2 // 4
    assert [p.name for p in out.parent.iterdir()] == ["lerp.mp4"]
    reader = imageio.get_reader(out)
    frames = list(reader.iter_data())
    assert reader.get_meta_data()["fps"] == 15
    reader.close()
    assert len(frames) == 6
    assert frames[0].shape == (32, 32, 3)
    # Each decoded frame is nearest to the exact frame of its own index (H.264 is lossy).
    G = load_generator(tiny_pkl, "cpu")
    exact = np.stack(list(interpolation_frames(G, range(12), (2, 2), 2, kind="w", truncation_psi=0.7)))
    expected = seed_images(load_network(tiny_pkl)["G_ema"].eval(), [0, 3, 6, 9], 0.7)
    assert max_diff(exact[0], tile_grid(expected, cols=2, rows=2)) <= 1
    dist = np.abs(np.stack(frames)[:, None].astype(float) - exact[None]).mean(axis=(2, 3, 4))
    assert dist.argmin(axis=1).tolist() == list(range(6))
    assert np.diag(dist).max() < 15 < dist[~np.eye(6, dtype=bool)].min()


def test_video_of_conditional_gray_network(tmp_path: Path, official_cond: str) -> None:
    out = tmp_path / "c.mp4"
    count = make_interpolation_video(official_cond, [5, 6], out, grid=(2, 1), frames_per_seed=2, class_idx=3)
    assert count == 2
    frames = imageio.mimread(out)
    assert len(frames) == 2 and frames[0].shape == (16, 32, 3)
    with pytest.raises(OptionError, match="^class_idx: "):
        make_interpolation_video(official_cond, [5, 6], tmp_path / "d.mp4", grid=(2, 1), frames_per_seed=2)


def test_video_option_errors(tiny_pkl: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with pytest.raises(OptionError, match="^grid: a 4x2 grid has 8 cells but `seeds` gives only 5"):
        make_interpolation_video(tiny_pkl, range(5), out, grid=(4, 2))
    with pytest.raises(OptionError, match="^seeds: .*multiple of 4"):
        make_interpolation_video(tiny_pkl, range(6), out, grid=(2, 2))
    with pytest.raises(OptionError, match="^kind: "):
        make_interpolation_video(tiny_pkl, range(4), out, grid=(2, 2), kind="x")
    with pytest.raises(OptionError, match="^frames_per_seed: "):
        make_interpolation_video(tiny_pkl, range(4), out, grid=(2, 2), frames_per_seed=0)
    with pytest.raises(OptionError, match="^output: "):
        make_interpolation_video(tiny_pkl, range(4), tmp_path / "x.gif", grid=(2, 2))
    with pytest.raises(OptionError, match="^fps: "):
        make_interpolation_video(tiny_pkl, range(4), out, grid=(2, 2), fps=0)
    assert not list(tmp_path.iterdir())
