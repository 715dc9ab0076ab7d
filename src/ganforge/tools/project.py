"""Project images into a StyleGAN2 generator's latent space: find the w (or W+) that reproduces them.

The optimisation follows the StyleGAN2(-ADA) projector: start from the mean w of 10000 mapped
samples, add w noise that ramps down over the first 3/4 of the steps, optimise w and the
generator's per-layer noise maps with Adam under a cosine learning-rate ramp, penalise spatial
correlation in the noise maps and renormalise them after each step. The distance is LPIPS-VGG when
its weights are at hand, else a multi-scale pixel MSE (announced with a warning). The optimised
noise maps only guide the search: the results are rendered with the network's stored noise, so
`proj.png` is exactly what `ganforge generate --projected-w` draws from `projected_w.npz`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from ganforge.data.transforms import center_crop, from_pil
from ganforge.detectors.opaque import opaque_255
from ganforge.errors import MetricError, OptionError
from ganforge.fileio import atomic_open, make_dirs
from ganforge.inference.runner import class_labels, module_device, run_mapping, run_synthesis
from ganforge.progress import progress as progress_bar
from ganforge.tools.generate import image_size, load_generator_and_labels, require_mapping, save_png
from ganforge.tools.labels import label_rows
from ganforge.tools.video import write_video

logger = logging.getLogger(__name__)

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(synth, target), float [N, C, H, W] in [0, 255] -> per-image distance [N]."""

DISTANCES = ("auto", "lpips", "pixel")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
LPIPS_MAX_SIZE = 256  # larger images are area-downsampled first, as VGG was trained near 224 px


@dataclass(frozen=True)
class ProjectionConfig:
    """The projector's hyper-parameters (defaults: the StyleGAN2-ADA projector's)."""

    num_steps: int = 1000
    w_avg_samples: int = 10000
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    wplus: bool = False


@dataclass
class Projection:
    """The result of `project`: w after every step [num_steps, num_ws, w_dim] and each step's distance."""

    w_steps: torch.Tensor
    distances: list[float]

    @property
    def w(self) -> torch.Tensor:
        """The final projection, ws [1, num_ws, w_dim] (the layout of `projected_w.npz`)."""
        return self.w_steps[-1:]


def schedule(step: int, config: ProjectionConfig) -> tuple[float, float]:
    """(learning rate, w noise factor relative to w_std) at `step`: cosine lr ramps, quadratic noise decay."""
    t = step / config.num_steps
    noise = config.initial_noise_factor * max(0.0, 1.0 - t / config.noise_ramp_length) ** 2
    ramp = min(1.0, (1.0 - t) / config.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp *= min(1.0, t / config.lr_rampup_length)
    return config.initial_learning_rate * ramp, noise


def noise_regularization(noise_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Squared one-pixel autocorrelations (x and y) of each noise map, summed over a 2x pyramid to 8 px."""
    total = torch.zeros([], device=noise_maps[0].device if noise_maps else None)
    for noise in noise_maps:
        x = noise[None, None]
        while True:
            total = total + (x * torch.roll(x, shifts=1, dims=3)).mean() ** 2
            total = total + (x * torch.roll(x, shifts=1, dims=2)).mean() ** 2
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return total


def pixel_distance(synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Offline distance: mean squared error in [-1, 1] summed over a 2x average-pool pyramid down to 8 px.

    The coarse levels weigh the layout as much as the full-resolution detail, which keeps the
    search from settling for a blurred average.
    """
    x, y = synth / 127.5 - 1, target / 127.5 - 1
    total = (x - y).square().mean(dim=(1, 2, 3))
    while min(x.shape[2:]) > 8:
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        total = total + (x - y).square().mean(dim=(1, 2, 3))
    return total


class LpipsDistance(torch.nn.Module):
    """LPIPS-VGG distance on [0, 255] images, area-downsampled to 256 px first when larger."""

    def __init__(self, lpips: torch.nn.Module) -> None:
        super().__init__()
        self.lpips = lpips

    def forward(self, synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if synth.shape[2] > LPIPS_MAX_SIZE:
            size = (LPIPS_MAX_SIZE, LPIPS_MAX_SIZE)
            synth, target = F.interpolate(synth, size, mode="area"), F.interpolate(target, size, mode="area")
        return self.lpips(synth, target)


def load_distance(kind: str = "auto", detector_path: str | None = None) -> tuple[Distance, str]:
    """The projection distance and its name: "lpips" (LPIPS-VGG weights required) or "pixel".

    "auto" takes LPIPS if its weights are found or can be downloaded (an explicit `detector_path`
    must work), otherwise falls back to the pixel distance with a warning.
    """
    from ganforge.detectors import load_detector  # deferred: VGG code only when needed

    if kind not in DISTANCES:
        raise OptionError(f"{kind!r} is not one of {', '.join(DISTANCES)}", param="distance")
    if kind == "pixel":
        return pixel_distance, "pixel"
    if kind == "lpips" or detector_path is not None:
        return LpipsDistance(load_detector("lpips", detector_path)), "lpips"
    try:
        return LpipsDistance(load_detector("lpips")), "lpips"
    except MetricError as e:
        logger.warning(
            "LPIPS weights unavailable, projecting with the offline multi-scale pixel distance instead "
            "(give the folder of its weights as the detector path, or set GANFORGE_DETECTOR_DIR): %s", e
        )
        return pixel_distance, "pixel"


def w_statistics(
    G: torch.nn.Module, num_samples: int, c: torch.Tensor | None = None
) -> tuple[torch.Tensor, float]:
    """Mean w [1, w_dim] and scalar spread sqrt(E|w - w_avg|^2) of `num_samples` mapped z (RandomState(123)).

    `c` is one label row [1, c_dim] used for every sample (an empty one for unconditional G).
    """
    z = torch.from_numpy(np.random.RandomState(123).randn(num_samples, G.z_dim)).float()
    c = torch.zeros([1, G.c_dim]) if c is None else c
    w = run_mapping(G, z, c.cpu().expand(num_samples, -1), batch_size=1024, progress=False)[:, 0].double()
    w_avg = w.mean(dim=0, keepdim=True)
    w_std = float(((w - w_avg).square().sum() / num_samples).sqrt())
    return w_avg.float(), w_std


def project(
    G: torch.nn.Module,
    target: torch.Tensor,
    distance: Distance,
    config: ProjectionConfig = ProjectionConfig(),  # noqa: B008 (frozen dataclass)
    seed: int = 303,
    class_idx: int | None = None,
    progress: bool | None = None,
    on_step: Callable[[int, float], None] | None = None,
    label: Sequence[float] | None = None,
) -> Projection:
    """Optimise w (one w for all layers, or per layer with `config.wplus`) so G draws `target`.

    `target` is uint8 [C, H, W] at G's size. Runs on G's device on a private copy of G (its noise
    maps are optimised too); `seed` drives the noise-map initialisation and the w noise. RGBA images
    are compared over a white background (see ganforge.detectors.opaque). `on_step(steps_done,
    distance)` is called after every step (a progress display).
    """
    width, height = image_size(G)
    if tuple(target.shape) != (G.img_channels, height, width):
        raise ValueError(f"target must be [{G.img_channels}, {height}, {width}], got {tuple(target.shape)}")
    if config.num_steps < 1:
        raise OptionError(f"must be at least 1, not {config.num_steps}", param="num_steps")
    G = copy.deepcopy(G).eval().requires_grad_(False)
    device = module_device(G)
    c = class_labels(G.c_dim, class_idx, 1) if label is None else torch.tensor([list(label)]).float()
    w_avg, w_std = w_statistics(G, config.w_avg_samples, c)
    gen = torch.Generator(device).manual_seed(seed)

    noise_maps = [buf for name, buf in G.synthesis.named_buffers() if "noise_const" in name]
    for buf in noise_maps:
        buf.copy_(torch.randn(buf.shape, generator=gen, device=device))
        buf.requires_grad_(True)
    num_rows = G.num_ws if config.wplus else 1
    w_opt = w_avg.to(device)[:, None].repeat(1, num_rows, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt, *noise_maps], betas=(0.9, 0.999), lr=config.initial_learning_rate)
    target_images = opaque_255(target[None].to(device, torch.float32))

    w_steps = torch.zeros([config.num_steps, num_rows, G.w_dim])
    distances = []
    steps = range(config.num_steps)
    for step in progress_bar(steps, total=len(steps), desc="project", enabled=progress):
        lr, noise_factor = schedule(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        w_noise = torch.randn(w_opt.shape, generator=gen, device=device) * (w_std * noise_factor)
        ws = (w_opt + w_noise).expand(-1, G.num_ws, -1) if not config.wplus else w_opt + w_noise
        synth = (G.synthesis(ws, noise_mode="const") + 1) * 127.5
        dist = distance(opaque_255(synth), target_images).sum()
        loss = dist + noise_regularization(noise_maps) * config.regularize_noise_weight

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        w_steps[step] = w_opt.detach()[0].cpu()
        distances.append(dist.item())
        if on_step is not None:
            on_step(step + 1, distances[-1])
        logger.debug("step %d/%d: dist %.4f loss %.4f", step + 1, len(steps), distances[-1], loss.item())
        with torch.no_grad():
            for buf in noise_maps:
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()
    return Projection(w_steps.expand(-1, G.num_ws, -1).clone(), distances)


def load_target(path: str | os.PathLike[str], size: int | tuple[int, int], channels: int) -> np.ndarray:
    """Read a target image as uint8 [H, W, channels] for `size` N or (W, H): the largest centred box
    of that aspect, Lanczos-resized."""
    path = Path(path)
    try:
        with PIL.Image.open(path) as image:
            image.load()
    except FileNotFoundError as e:
        raise OptionError(f"{path} does not exist", param="target") from e
    except (PIL.UnidentifiedImageError, OSError) as e:
        raise OptionError(f"{path} is not a readable image ({e})", param="target") from e
    return fit_target(image, size, channels)


def fit_target(image: PIL.Image.Image, size: int | tuple[int, int], channels: int) -> np.ndarray:
    """A target as uint8 [H, W, channels] for `size` N or (W, H) from an image: the largest centred
    box of that aspect, Lanczos-resized."""
    return center_crop(from_pil(image.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])), size)


def progress_frames(
    G: torch.nn.Module, target: np.ndarray, w_steps: torch.Tensor, batch_size: int = 16
) -> Iterator[np.ndarray]:
    """Frames `target | projection at step i` (uint8 [H, 2W, C]) for every step's w."""
    for start in range(0, len(w_steps), batch_size):
        images = run_synthesis(G, w_steps[start : start + batch_size], noise_mode="const", progress=False)
        for image in images.numpy():
            yield np.concatenate([target, image], axis=1)


def save_projection(
    G: torch.nn.Module,
    target: np.ndarray,
    projection: Projection,
    outdir: str | os.PathLike[str],
    save_video: bool = False,
    fps: float = 10,
) -> list[Path]:
    """Write target.png, proj.png, projected_w.npz (key "w", [1, num_ws, w_dim]) and optionally proj.mp4."""
    outdir = Path(outdir)
    make_dirs(outdir)
    paths = [outdir / "target.png", outdir / "proj.png", outdir / "projected_w.npz"]
    save_png(target, paths[0])
    save_png(run_synthesis(G, projection.w, noise_mode="const", progress=False)[0].numpy(), paths[1])
    with atomic_open(paths[2]) as f:
        np.savez(f, w=projection.w.numpy().astype(np.float32))
    if save_video:
        paths.append(outdir / "proj.mp4")
        frames = progress_frames(G, target, projection.w_steps)
        write_video(frames, paths[3], fps=fps, total=len(projection.w_steps), progress=False)
    return paths


def find_targets(target: str | os.PathLike[str]) -> list[Path]:
    """The images to project: `target` itself, or the image files directly inside a folder (sorted)."""
    target = Path(target)
    if not target.exists():
        raise OptionError(f"{target} does not exist", param="target")
    if not target.is_dir():
        return [target]
    files = sorted(p for p in target.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise OptionError(
            f"the folder {target} holds no images ({', '.join(IMAGE_SUFFIXES)})", param="target"
        )
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise OptionError(
                f"{stems[path.stem].name} and {path.name} would share the output folder "
                f"{path.stem}; rename one", param="target",
            )
        stems[path.stem] = path
    return files


def project_images(
    network_path: str | os.PathLike[str],
    target: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    config: ProjectionConfig = ProjectionConfig(),  # noqa: B008 (frozen dataclass)
    seed: int = 303,
    save_video: bool = False,
    distance: str = "auto",
    detector_path: str | None = None,
    class_idx: int | Sequence[int] | None = None,
    device: str | None = None,
    progress: bool | None = None,
    label: Sequence[float] | None = None,
) -> list[Path]:
    """Project one image, or each image of a folder into `outdir/<name>/`; return the output folders.

    `class_idx` is the class of a conditional network (a sequence may hold one class only); `label`
    the label vector of one trained on multi-hot or continuous labels (see generate).
    """
    if isinstance(class_idx, Sequence):
        if len(class_idx) != 1:
            raise OptionError(
                f"a projection searches the latents of one class; give one, not {len(class_idx)}",
                param="class_idx",
            )
        class_idx = class_idx[0]
    targets = find_targets(target)
    G, record = load_generator_and_labels(network_path, device)
    require_mapping(G, network_path, "project")
    label_rows(G.c_dim, record, class_idx, label, 1)  # checks the class or label vector
    make_dirs(outdir)  # before the work: an unwritable --outdir fails at once, not after the projection
    dist_fn, dist_name = load_distance(distance, detector_path)
    if isinstance(dist_fn, torch.nn.Module):
        dist_fn.to(module_device(G))
    single = not Path(target).is_dir()
    outdirs = []
    bar_enabled = False if single else progress
    for path in progress_bar(targets, total=len(targets), desc="images", enabled=bar_enabled):
        target_uint8 = load_target(path, image_size(G), G.img_channels)
        logger.info("Projecting %s (%d steps, %s distance)", path, config.num_steps, dist_name)
        target_tensor = torch.from_numpy(target_uint8.transpose(2, 0, 1).copy())
        result = project(G, target_tensor, dist_fn, config, seed=seed, class_idx=class_idx, progress=progress,
                         label=label)
        logger.info("%s: final %s distance %.4f", path.name, dist_name, result.distances[-1])
        folder = Path(outdir) if single else Path(outdir) / path.stem
        save_projection(G, target_uint8, result, folder, save_video=save_video)
        outdirs.append(folder)
    return outdirs
