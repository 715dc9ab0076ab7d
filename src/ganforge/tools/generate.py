"""Generate images from a network file: one PNG per seed (`seed0042.png`) and optionally a grid."""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from ganforge.compat import generator_of, load_network
from ganforge.data.grid import grid_size, save_image_grid
from ganforge.errors import NetworkFileError, OptionError
from ganforge.fileio import atomic_path, make_dirs
from ganforge.inference.onnx import OnnxGenerator, is_onnx
from ganforge.inference.runner import check_class, pick_device, run_generator, run_synthesis
from ganforge.models import dcgan, r3gan

logger = logging.getLogger(__name__)

GRID_NAME = "grid.png"
"""The file name of the image grid written beside the images (generate --grid, style-mix)."""

_FAMILY_NAMES: dict[type[torch.nn.Module], str] = {dcgan.Generator: "DCGAN", r3gan.Generator: "R3GAN"}
"""Display names of the generator classes that lack a mapping network."""


def load_generator(network_path: str | os.PathLike[str], device: str | None = None) -> torch.nn.Module:
    """The generator to sample from in a network file (G_ema, else G), in eval mode on `device`.

    `device=None` picks the best available device (see `pick_device`).
    """
    if is_onnx(network_path):
        raise NetworkFileError(
            f"{network_path} is an ONNX graph, which only image generation from seeds runs; give the network "
            "file it was exported from"
        )
    G = generator_of(load_network(network_path), network_path)
    if G.img_channels not in (1, 3):
        raise NetworkFileError(
            f"{network_path}: the generator makes {G.img_channels}-channel images; only 1 or 3 can be saved"
        )
    return G.eval().requires_grad_(False).to(pick_device(device))


def require_mapping(G: torch.nn.Module, network_path: str | os.PathLike[str], command: str) -> None:
    """Refuse a generator without a mapping network (DCGAN): `command` works on its ws."""
    if hasattr(G, "mapping") and hasattr(G, "synthesis"):
        return
    family = _FAMILY_NAMES.get(type(G), type(G).__name__)
    raise NetworkFileError(
        f"{network_path} holds a {family} generator, which has no mapping network; `ganforge {command}` "
        "works with StyleGAN2 and StyleGAN networks only (use `ganforge generate` for this one)"
    )


def save_png(image: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Save a uint8 [H, W, C] image (C = 1: grayscale, 3: RGB) as PNG at `path`, atomically."""
    gray = image.shape[2] == 1
    picture = PIL.Image.fromarray(image[:, :, 0], "L") if gray else PIL.Image.fromarray(image, "RGB")
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")


def seed_filename(seed: int) -> str:
    """The official file name of a seed's image."""
    return f"seed{seed:04d}.png"


def generate_images(
    network_path: str | os.PathLike[str],
    seeds: Sequence[int],
    outdir: str | os.PathLike[str],
    truncation_psi: float = 1.0,
    class_idx: int | Sequence[int] | None = None,
    noise_mode: str = "const",
    grid: bool = False,
    batch_size: int = 16,
    device: str | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Write `outdir/seed{seed:04d}.png` for each seed (and `grid.png` if `grid`); return the paths.

    Seeds give the same latents as the official tools. Repeated seeds are generated once. Several
    classes (a conditional network's labels side by side) go to `outdir/class{k}/seed{seed:04d}.png`,
    and the grid then has one row per class and one column per seed.
    """
    seeds = list(dict.fromkeys(seeds))
    if not seeds:
        raise OptionError("--seeds: give at least one seed, e.g. '0-7'")
    several = isinstance(class_idx, Sequence)
    classes: list[int | None] = list(dict.fromkeys(class_idx)) if several else [class_idx]
    if not classes:
        raise OptionError("--class: give at least one class, e.g. '0-9'")
    G = OnnxGenerator(network_path) if is_onnx(network_path) else load_generator(network_path, device)
    if isinstance(G, OnnxGenerator) and noise_mode != "const":
        raise OptionError(f"noise_mode {noise_mode!r}: an ONNX graph has constant noise only; use 'const'")
    if several and G.c_dim == 0:
        raise OptionError(f"--class: {network_path} is unconditional; it has no classes to lay out")
    for k in classes:
        check_class(G.c_dim, k)
    make_dirs(outdir)  # before the work: an unwritable --outdir fails at once
    count = len(seeds) * len(classes)
    logger.info("Generating %d image%s from %s", count, "" if count == 1 else "s", network_path)
    images = np.concatenate([
        G.generate(seeds, k, truncation_psi, batch_size) if isinstance(G, OnnxGenerator) else run_generator(
            G,
            seeds=seeds,
            class_idx=k,
            batch_size=batch_size,
            truncation_psi=truncation_psi,
            noise_mode=noise_mode,
            progress=progress,
        ).numpy()
        for k in classes
    ])
    outdir = Path(outdir)
    names = [Path(f"class{k}") / seed_filename(s) if several else Path(seed_filename(s))
             for k in classes for s in seeds]
    paths = []
    for name, image in zip(names, images, strict=True):
        path = outdir / name
        make_dirs(path.parent)
        save_png(image, path)
        paths.append(path)
    if grid:
        path = outdir / GRID_NAME
        layout = (len(seeds), len(classes)) if several else grid_size(len(images))
        save_image_grid(images.transpose(0, 3, 1, 2), path, layout)
        paths.append(path)
    return paths


def load_projected_w(path: str | os.PathLike[str], num_ws: int, w_dim: int) -> torch.Tensor:
    """ws [N, num_ws, w_dim] from a projector's `projected_w.npz` (key "w"), checked against the network."""
    try:
        with np.load(path) as data:
            if "w" not in data:
                names = ", ".join(data.files) or "nothing"
                raise OptionError(f"--projected-w: {path} holds no array 'w' (it has {names})")
            ws = data["w"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise OptionError(f"--projected-w: cannot read {path} as an .npz file ({e})") from e
    if ws.ndim != 3 or ws.shape[1:] != (num_ws, w_dim):
        raise OptionError(
            f"--projected-w: {path} holds w of shape {list(ws.shape)}; "
            f"this network needs [N, {num_ws}, {w_dim}]"
        )
    return torch.from_numpy(ws.astype(np.float32))


def generate_from_projected_w(
    network_path: str | os.PathLike[str],
    projected_w: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    noise_mode: str = "const",
    batch_size: int = 16,
    device: str | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Render each w of a `projected_w.npz` as `outdir/proj{idx:02d}.png` (as the official tool does).

    Returns the paths written.
    """
    G = load_generator(network_path, device)
    ws = load_projected_w(projected_w, G.num_ws, G.w_dim)
    make_dirs(outdir)  # before the work: an unwritable --outdir fails at once
    images = run_synthesis(G, ws, noise_mode=noise_mode, batch_size=batch_size, progress=progress).numpy()
    outdir = Path(outdir)
    paths = []
    for idx, image in enumerate(images):
        path = outdir / f"proj{idx:02d}.png"
        save_png(image, path)
        paths.append(path)
    return paths
