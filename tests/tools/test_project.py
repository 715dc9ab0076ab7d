"""The projector: schedule and regulariser numerics, recovery of known latents, output files, LPIPS path."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import PIL.Image
import pytest
import torch

from ganforge.compat import save_network
from ganforge.detectors.lpips import lpips_key_map
from ganforge.detectors.vgg16 import VGG16Trunk, torchvision_trunk_key_map
from ganforge.detectors.weights import KNOWN_WEIGHTS
from ganforge.errors import MetricError, OptionError
from ganforge.inference.runner import run_mapping, run_synthesis, seed_latents
from ganforge.models.stylegan2 import Generator
from ganforge.tools.generate import generate_from_projected_w, load_generator
from ganforge.tools.project import (
    LpipsDistance,
    ProjectionConfig,
    load_distance,
    load_target,
    noise_regularization,
    pixel_distance,
    project,
    project_images,
    schedule,
    w_statistics,
)


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No downloads and no real detector cache: the projector must fall back to the pixel distance."""
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("GANFORGE_DETECTOR_DIR", str(tmp_path / "detectors"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def in_range_generator(channels: int = 3) -> Generator:
    """A tiny G whose ToRGB weights are scaled so its images lie mostly in [-1, 1], as a trained G's do.

    (Untrained, its images overshoot far past the uint8 range; the clipped targets then have no
    exact preimage and the projection test would measure the clipping instead of the projector.)
    """
    torch.manual_seed(0)
    G = Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=channels,
        mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )
    with torch.no_grad():
        for name, param in G.synthesis.named_parameters():
            if "torgb.weight" in name:
                param.mul_(0.6)
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def tiny_pkl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    save_network(path, G_ema=in_range_generator())
    return path


def known_target(G: Generator, seed: int, psi: float = 0.7) -> tuple[torch.Tensor, np.ndarray]:
    """The w of `seed` truncated towards the mean w, and G's uint8 [H, W, C] image of it."""
    w_avg, _ = w_statistics(G, 10000)
    ws = w_avg[None].lerp(run_mapping(G, seed_latents([seed], G.z_dim), torch.zeros([1, 0])), psi)
    return ws, run_synthesis(G, ws)[0].numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.transpose(2, 0, 1).copy())


def read_png(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as img:
        return np.asarray(img)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    PIL.Image.fromarray(pixels).save(path)
    return path


# --- numerics -----------------------------------------------------------------------------------


def test_schedule_follows_the_official_ramps() -> None:
    config = ProjectionConfig(num_steps=100)
    assert schedule(0, config) == (0.0, 0.05)
    lr, noise = schedule(2, config)  # inside the 5% cosine ramp-up
    assert lr == pytest.approx(0.1 * 0.4)
    assert noise == pytest.approx(0.05 * (1 - 0.02 / 0.75) ** 2)
    assert schedule(50, config)[0] == pytest.approx(0.1)
    lr, noise = schedule(90, config)  # inside the 25% cosine ramp-down
    assert lr == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.4 * math.pi)))
    assert noise == 0.0
    assert schedule(75, config)[1] == 0.0


def test_noise_regularization_measures_neighbour_correlation() -> None:
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2.0 - 1  # correlation -1 both ways
    assert float(noise_regularization([checker])) == pytest.approx(2.0)  # its 8 px average is all zero
    smooth = torch.ones(4, 4)
    assert float(noise_regularization([smooth, checker])) == pytest.approx(4.0)
    white = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    assert float(noise_regularization([white])) < 2e-3


def test_pixel_distance_sums_mse_over_the_pyramid() -> None:
    a = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255
    assert torch.equal(pixel_distance(a, a), torch.zeros(2))
    shifted = a + 12.75  # 0.1 in [-1, 1] units at every scale: 32, 16 and 8 px
    torch.testing.assert_close(pixel_distance(shifted, a), torch.full([2], 3 * 0.01))


def test_lpips_distance_downsamples_large_images() -> None:
    class Recorder(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            self.shapes = (x.shape, y.shape)
            return (x - y).abs().mean(dim=(1, 2, 3))

    recorder = Recorder()
    dist = LpipsDistance(recorder)
    big = torch.full([1, 3, 512, 512], 10.0)
    assert float(dist(big, big + 2)[0]) == pytest.approx(2.0)
    assert recorder.shapes == (torch.Size([1, 3, 256, 256]),) * 2
    dist(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    assert recorder.shapes[0] == torch.Size([1, 3, 64, 64])


# --- projection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 3])
def test_projection_recovers_known_images_and_improves_with_steps(seed: int) -> None:
    G = in_range_generator()
    _, target = known_target(G, seed)
    few = project(G, chw(target), pixel_distance, ProjectionConfig(num_steps=20), progress=False)
    many = project(G, chw(target), pixel_distance, ProjectionConfig(num_steps=100), progress=False)
    psnr_few = psnr(run_synthesis(G, few.w)[0].numpy(), target)
    psnr_many = psnr(run_synthesis(G, many.w)[0].numpy(), target)
    # Measured (pixel distance, W): seed 0 31.4 dB after 20 steps, 56.3 after 100; seed 3 28.3 -> 52.8.
    assert psnr_many > 40, (psnr_few, psnr_many)
    assert psnr_many > psnr_few + 10, (psnr_few, psnr_many)
    assert many.distances[-1] < many.distances[0] / 100


def test_w_and_wplus_shapes_and_seeding() -> None:
    G = in_range_generator()
    _, target = known_target(G, 1)
    config = ProjectionConfig(num_steps=8, w_avg_samples=500)
    w_mode = project(G, chw(target), pixel_distance, config, seed=5, progress=False)
    assert w_mode.w_steps.shape == (8, G.num_ws, G.w_dim) and w_mode.w.shape == (1, G.num_ws, G.w_dim)
    assert torch.equal(w_mode.w[0], w_mode.w[0, :1].expand(G.num_ws, -1))
    assert len(w_mode.distances) == 8
    again = project(G, chw(target), pixel_distance, config, seed=5, progress=False)
    assert torch.equal(again.w_steps, w_mode.w_steps)
    other = project(G, chw(target), pixel_distance, config, seed=6, progress=False)
    assert not torch.equal(other.w, w_mode.w)
    plus_config = ProjectionConfig(num_steps=8, w_avg_samples=500, wplus=True)
    plus = project(G, chw(target), pixel_distance, plus_config, seed=5, progress=False)
    assert plus.w.shape == (1, G.num_ws, G.w_dim)
    assert not torch.equal(plus.w[0, 0], plus.w[0, -1])
    # The caller's network is left untouched (the projector optimises the noise maps of a copy).
    assert torch.equal(G.synthesis.b4.conv1.noise_const, in_range_generator().synthesis.b4.conv1.noise_const)
    with pytest.raises(ValueError, match="target must be"):
        project(G, torch.zeros(3, 8, 8, dtype=torch.uint8), pixel_distance, config)


# --- files --------------------------------------------------------------------------------------


def test_project_file_writes_outputs_matching_generate(
    tiny_pkl: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    G = load_generator(tiny_pkl, "cpu")
    ws, target = known_target(G, 2)
    target_file = write_png(tmp_path / "face.png", np.asarray(PIL.Image.fromarray(target).resize((48, 48))))
    with caplog.at_level(logging.INFO):
        folders = project_images(tiny_pkl, target_file, tmp_path / "out", ProjectionConfig(num_steps=60),
                                 save_video=True, device="cpu")
    assert "offline multi-scale pixel distance" in caplog.text
    out = tmp_path / "out"
    assert folders == [out]
    assert sorted(p.name for p in out.iterdir()) == ["proj.mp4", "proj.png", "projected_w.npz", "target.png"]
    with np.load(out / "projected_w.npz") as data:
        assert list(data.files) == ["w"]
        w = data["w"]
    assert w.shape == (1, G.num_ws, G.w_dim) and w.dtype == np.float32
    assert read_png(out / "target.png").shape == (16, 16, 3)
    assert psnr(read_png(out / "proj.png"), read_png(out / "target.png")) > 25

    rendered = generate_from_projected_w(tiny_pkl, out / "projected_w.npz", tmp_path / "gen", device="cpu")
    assert [p.name for p in rendered] == ["proj00.png"]
    assert np.array_equal(read_png(rendered[0]), read_png(out / "proj.png"))

    reader = imageio.get_reader(out / "proj.mp4")
    frames = list(reader.iter_data())
    reader.close()
    assert len(frames) == 60 and frames[0].shape == (16, 32, 3)
    assert np.abs(frames[-1][:, :16].astype(float) - read_png(out / "target.png")).mean() < 12
    assert np.abs(frames[-1][:, 16:].astype(float) - read_png(out / "proj.png")).mean() < 12


def test_project_folder_of_images(tiny_pkl: Path, tmp_path: Path) -> None:
    G = load_generator(tiny_pkl, "cpu")
    src = tmp_path / "targets"
    src.mkdir()
    for seed, name in ((4, "b.png"), (5, "a.jpg")):
        write_png(src / name, known_target(G, seed)[1])
    (src / "notes.txt").write_text("not an image")
    config = ProjectionConfig(num_steps=3, w_avg_samples=100)
    folders = project_images(tiny_pkl, src, tmp_path / "out", config, distance="pixel")
    assert [f.name for f in folders] == ["a", "b"]
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["proj.png", "projected_w.npz", "target.png"]
    write_png(src / "a.png", known_target(G, 6)[1])
    with pytest.raises(OptionError, match="a.jpg and a.png"):
        project_images(tiny_pkl, src, tmp_path / "out2", ProjectionConfig(num_steps=1))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OptionError, match="holds no images"):
        project_images(tiny_pkl, empty, tmp_path / "out3")
    with pytest.raises(OptionError, match="does not exist"):
        project_images(tiny_pkl, tmp_path / "missing.png", tmp_path / "out4")
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()


def test_load_target_crops_resizes_and_converts(tmp_path: Path) -> None:
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = [200, 100, 50]  # the centred square is one flat colour
    path = write_png(tmp_path / "wide.png", wide)
    rgb = load_target(path, 8, 3)
    assert rgb.shape == (8, 8, 3) and np.all(rgb == [200, 100, 50])
    gray = load_target(path, 4, 1)
    assert gray.shape == (4, 4, 1)
    assert abs(int(gray[0, 0, 0]) - round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)) <= 1
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(OptionError, match="bad.png is not a readable image"):
        load_target(tmp_path / "bad.png", 8, 3)


def test_projected_w_errors(tiny_pkl: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "wrong.npz", w=np.zeros([1, 3, 16], np.float32))
    with pytest.raises(OptionError, match=r"shape \[1, 3, 16\]"):
        generate_from_projected_w(tiny_pkl, tmp_path / "wrong.npz", tmp_path / "o")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(OptionError, match="no array 'w'"):
        generate_from_projected_w(tiny_pkl, tmp_path / "other.npz", tmp_path / "o")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(OptionError, match="cannot read"):
        generate_from_projected_w(tiny_pkl, tmp_path / "junk.npz", tmp_path / "o")
    assert not (tmp_path / "o").exists()


# --- distances ----------------------------------------------------------------------------------


def write_lpips_folder(folder: Path) -> Path:
    """Random VGG16-trunk and LPIPS linear weights under the published file names and key names."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    own = VGG16Trunk().state_dict()
    torch.save({k: own[v] for k, v in torchvision_trunk_key_map("").items()},
               folder / KNOWN_WEIGHTS["vgg16"].file_name)
    widths = (64, 128, 256, 512, 512)
    lins = {k: torch.rand(1, c, 1, 1) for k, c in zip(lpips_key_map(), widths, strict=True)}
    torch.save(lins, folder / KNOWN_WEIGHTS["lpips"].file_name)
    return folder


def test_load_distance_choices(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        fn, name = load_distance("auto")
    assert (fn, name) == (pixel_distance, "pixel") and "LPIPS weights unavailable" in caplog.text
    with pytest.raises(MetricError, match="No VGG16"):
        load_distance("lpips")
    with pytest.raises(MetricError):  # an explicit --detector must work: no silent fallback
        load_distance("auto", str(tmp_path / "nowhere" / "vgg.pth"))
    with pytest.raises(OptionError, match="^distance: "):
        load_distance("ssim")
    fn, name = load_distance("auto", str(write_lpips_folder(tmp_path / "det")))
    assert name == "lpips" and isinstance(fn, LpipsDistance)
    x = torch.rand(1, 3, 16, 16) * 255
    assert float(fn(x, x)[0]) == 0.0 and float(fn(x, 255 - x)[0]) > 0


def test_project_with_lpips_from_detector_folder(
    tiny_pkl: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    G = load_generator(tiny_pkl, "cpu")
    target = write_png(tmp_path / "t.png", known_target(G, 7)[1])
    det = write_lpips_folder(tmp_path / "det")
    config = ProjectionConfig(num_steps=4, w_avg_samples=100)
    with caplog.at_level(logging.INFO):
        folders = project_images(tiny_pkl, target, tmp_path / "out", config, detector_path=str(det))
    assert "(4 steps, lpips distance)" in caplog.text
    assert (folders[0] / "projected_w.npz").is_file()
