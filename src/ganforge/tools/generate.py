"""Generate images from a network file: one PNG per seed (`seed0042.png`) and optionally a grid.

4-channel (RGBA) generators give PNGs with alpha; their grids are laid over a checkerboard.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from ganforge.compat import generator_of, load_network
from ganforge.data.grid import grid_size, save_image_grid
from ganforge.errors import NetworkFileError, OptionError
from ganforge.fileio import atomic_path, make_dirs
from ganforge.inference.onnx import OnnxGenerator, is_onnx
from ganforge.inference.runner import (
    check_class,
    class_labels,
    compile_module,
    module_device,
    pick_device,
    run_generator,
    run_synthesis,
)
from ganforge.models import dcgan, r3gan
from ganforge.tools.labels import LabelRecord, check_class_allowed, check_label_vectors, recorded_labels

logger = logging.getLogger(__name__)

GRID_NAME = "grid.png"
"""The file name of the image grid written beside the images (generate --grid, style-mix)."""

_FAMILY_NAMES: dict[type[torch.nn.Module], str] = {dcgan.Generator: "DCGAN", r3gan.Generator: "R3GAN"}
"""Display names of the generator classes that lack a mapping network."""


def load_generator(network_path: str | os.PathLike[str], device: str | None = None) -> torch.nn.Module:
    """The generator to sample from in a network file (G_ema, else G), in eval mode on `device`.

    `device=None` picks the best available device (see `pick_device`).
    """
    return prepare_generator(load_networks(network_path), network_path, device)


def load_generator_and_labels(
    network_path: str | os.PathLike[str], device: str | None = None
) -> tuple[torch.nn.Module, LabelRecord]:
    """`load_generator`, and what the file records of the labels the network was trained on."""
    nets = load_networks(network_path)
    return prepare_generator(nets, network_path, device), recorded_labels(nets)


def load_networks(network_path: str | os.PathLike[str]) -> dict[str, Any]:
    """`load_network`'s result for a network file; an ONNX graph is refused (only `generate` runs one)."""
    if is_onnx(network_path):
        raise NetworkFileError(
            f"{network_path} is an ONNX graph, which only image generation from seeds runs; give the network "
            "file it was exported from"
        )
    return load_network(network_path)


def prepare_generator(
    nets: dict[str, Any], network_path: str | os.PathLike[str], device: str | None = None
) -> torch.nn.Module:
    """`load_generator` for the networks `load_networks` already read from `network_path`."""
    G = generator_of(nets, network_path)
    if G.img_channels not in (1, 3, 4):
        raise NetworkFileError(
            f"{network_path}: the generator makes {G.img_channels}-channel images; "
            "only 1, 3 or 4 can be saved"
        )
    return G.eval().requires_grad_(False).to(pick_device(device))


def image_size(G: torch.nn.Module) -> tuple[int, int]:
    """(width, height) of G's images: `img_width` and `img_height`, or `img_resolution` squared."""
    return getattr(G, "img_width", G.img_resolution), getattr(G, "img_height", G.img_resolution)


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
    """Save a uint8 [H, W, C] image (C = 1: grayscale, 3: RGB, 4: RGBA) as PNG at `path`, atomically."""
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.shape[2]]
    picture = PIL.Image.fromarray(image[:, :, 0] if mode == "L" else image, mode)
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
    labels: Sequence[Sequence[float]] | None = None,
    label_names: Sequence[str] = (),
    compile: bool = False,
) -> list[Path]:
    """Write `outdir/seed{seed:04d}.png` for each seed (and `grid.png` if `grid`); return the paths.

    Seeds give the same latents as the official tools. Repeated seeds are generated once. Several
    classes (a conditional network's labels side by side) go to `outdir/class{k}/seed{seed:04d}.png`,
    and the grid then has one row per class and one column per seed. `labels` gives label vectors
    instead of classes (multi-hot or continuous, checked against what the file records of the
    training labels, and against `label_names` when given); several go to `outdir/label{k}/`.
    `compile` runs G through torch.compile (worth it for many images; the first batch pays for
    the compilation).
    """
    seeds = list(dict.fromkeys(seeds))
    if not seeds:
        raise OptionError("give at least one seed, e.g. '0-7'", param="seeds")
    if labels is not None and class_idx is not None:
        raise OptionError("give label vectors or a class (`class_idx`), not both", param="label")
    several = isinstance(class_idx, Sequence) or (labels is not None and len(labels) > 1)
    classes: list[int | None] = (
        list(dict.fromkeys(class_idx)) if isinstance(class_idx, Sequence) else [class_idx]
    )
    if not classes:
        raise OptionError("give at least one class, e.g. '0-9'", param="class_idx")
    onnx = is_onnx(network_path)
    G, record = (OnnxGenerator(network_path), LabelRecord()) if onnx else load_generator_and_labels(
        network_path, device)
    if onnx and noise_mode != "const":
        raise OptionError(
            f"an ONNX graph has constant noise only, not {noise_mode!r}; use 'const'", param="noise_mode"
        )
    if labels is not None:
        if onnx:
            raise OptionError("an ONNX graph runs with classes only; give the network file instead",
                              param="label")
        check_label_vectors(labels, G.c_dim, record, label_names, param="label")
        rows = [torch.tensor([list(v)] * len(seeds), dtype=torch.float32) for v in labels]
        folders, classes = [f"label{k}" for k in range(len(labels))], [None] * len(labels)
    else:
        if several and G.c_dim == 0:
            raise OptionError(f"{network_path} is unconditional; it has no classes to lay out",
                              param="class_idx")
        if G.c_dim > 0:
            check_class_allowed(record, G.c_dim)
        for k in classes:
            check_class(G.c_dim, k)
        rows = [class_labels(G.c_dim, k, len(seeds)) for k in classes]
        folders = [f"class{k}" for k in classes]
    if compile:
        if onnx:
            raise OptionError("an ONNX graph runs in onnxruntime and cannot be compiled; give the network "
                              "file instead", param="compile")
        compile_module(G, module_device(G))
    make_dirs(outdir)  # before the work: an unwritable --outdir fails at once
    count = len(seeds) * len(rows)
    logger.info("Generating %d image%s from %s", count, "" if count == 1 else "s", network_path)
    images = np.concatenate([
        G.generate(seeds, k, truncation_psi, batch_size) if isinstance(G, OnnxGenerator) else run_generator(
            G,
            c=c,
            seeds=seeds,
            batch_size=batch_size,
            truncation_psi=truncation_psi,
            noise_mode=noise_mode,
            progress=progress,
        ).numpy()
        for k, c in zip(classes, rows, strict=True)
    ])
    outdir = Path(outdir)
    names = [Path(folder) / seed_filename(s) if several else Path(seed_filename(s))
             for folder in folders for s in seeds]
    paths = []
    for name, image in zip(names, images, strict=True):
        path = outdir / name
        make_dirs(path.parent)
        save_png(image, path)
        paths.append(path)
    if grid:
        path = outdir / GRID_NAME
        layout = (len(seeds), len(rows)) if several else grid_size(len(images))
        save_image_grid(images.transpose(0, 3, 1, 2), path, layout)
        paths.append(path)
    return paths


def load_projected_w(path: str | os.PathLike[str], num_ws: int, w_dim: int) -> torch.Tensor:
    """ws [N, num_ws, w_dim] from a projector's `projected_w.npz` (key "w"), checked against the network."""
    try:
        with np.load(path) as data:
            if "w" not in data:
                names = ", ".join(data.files) or "nothing"
                raise OptionError(f"{path} holds no array 'w' (it has {names})", param="projected_w")
            ws = data["w"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise OptionError(f"cannot read {path} as an .npz file ({e})", param="projected_w") from e
    if ws.ndim != 3 or ws.shape[1:] != (num_ws, w_dim):
        raise OptionError(
            f"{path} holds w of shape {list(ws.shape)}; this network needs [N, {num_ws}, {w_dim}]",
            param="projected_w",
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
    compile: bool = False,
) -> list[Path]:
    """Render each w of a `projected_w.npz` as `outdir/proj{idx:02d}.png` (as the official tool does).

    Returns the paths written. `compile` runs G's synthesis network through torch.compile.
    """
    G = load_generator(network_path, device)
    ws = load_projected_w(projected_w, G.num_ws, G.w_dim)
    if compile:
        compile_module(G.synthesis, module_device(G))
    make_dirs(outdir)  # before the work: an unwritable --outdir fails at once
    images = run_synthesis(G, ws, noise_mode=noise_mode, batch_size=batch_size, progress=progress).numpy()
    outdir = Path(outdir)
    paths = []
    for idx, image in enumerate(images):
        path = outdir / f"proj{idx:02d}.png"
        save_png(image, path)
        paths.append(path)
    return paths
