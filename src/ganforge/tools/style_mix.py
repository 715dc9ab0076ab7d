"""Style mixing: rows take the coarse-to-fine styles of column seeds at chosen layers.

As the official style-mixing tool: the ws of every seed come from the mapping network with
truncation; image (row, col) is synthesised from the row's ws with layers `col_styles` taken
from the column's ws. Writes `{row}-{col}.png` per pair, `{seed}-{seed}.png` per seed and a
`grid.png` whose first row shows the column seeds and first column the row seeds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ganforge.data.grid import save_image_grid
from ganforge.errors import OptionError
from ganforge.fileio import make_dirs
from ganforge.inference.runner import run_mapping, run_synthesis, seed_latents
from ganforge.tools.generate import GRID_NAME, load_generator_and_labels, require_mapping, save_png
from ganforge.tools.labels import label_rows

logger = logging.getLogger(__name__)


def mix_styles(row_ws: torch.Tensor, col_ws: torch.Tensor, col_styles: Sequence[int]) -> torch.Tensor:
    """ws [R*C, num_ws, w_dim] of every (row, col) pair, row-major: row ws with `col_styles` from col."""
    num_rows, num_cols = len(row_ws), len(col_ws)
    mixed = row_ws[:, None].repeat(1, num_cols, 1, 1)
    styles = list(col_styles)
    mixed[:, :, styles] = col_ws[None, :, styles].expand(num_rows, -1, -1, -1)
    return mixed.reshape(num_rows * num_cols, *row_ws.shape[1:])


def check_styles(col_styles: Sequence[int], num_ws: int) -> None:
    """Refuse style layer indices outside 0..num_ws-1 (OptionError naming `col_styles`)."""
    if not col_styles:
        raise OptionError("give at least one style layer, e.g. '0-6'", param="col_styles")
    bad = sorted({s for s in col_styles if not 0 <= s < num_ws})
    if bad:
        raise OptionError(
            f"layers {bad} do not exist; this network has {num_ws} style layers (0-{num_ws - 1})",
            param="col_styles",
        )


def style_mix_grid(
    network_path: str | os.PathLike[str],
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    col_styles: Sequence[int],
    outdir: str | os.PathLike[str],
    truncation_psi: float = 1.0,
    noise_mode: str = "const",
    class_idx: int | Sequence[int] | None = None,
    batch_size: int = 16,
    device: str | None = None,
    progress: bool | None = None,
    label: Sequence[float] | None = None,
) -> list[Path]:
    """Write the style-mixing images and `grid.png` to `outdir`; return the paths (grid last).

    `class_idx` selects the class of a conditional network (required there, as for generate);
    several classes (a sequence) write one such set per class to `outdir/class{k}/`. `label` is the
    label vector of a network trained on multi-hot or continuous labels (see generate).
    """
    row_seeds, col_seeds = list(row_seeds), list(col_seeds)
    for name, seeds in (("row_seeds", row_seeds), ("col_seeds", col_seeds)):
        if not seeds:
            raise OptionError("give at least one seed, e.g. '85,100'", param=name)
    G, record = load_generator_and_labels(network_path, device)
    require_mapping(G, network_path, "style-mix")
    check_styles(col_styles, G.num_ws)
    several = isinstance(class_idx, Sequence)
    classes: list[int | None] = list(dict.fromkeys(class_idx)) if several else [class_idx]
    if not classes:
        raise OptionError("give at least one class, e.g. '0-9'", param="class_idx")
    if several and G.c_dim == 0:
        raise OptionError(
            f"{network_path} is unconditional; it has no classes to mix within", param="class_idx"
        )
    rows = [label_rows(G.c_dim, record, k, label, 1) for k in classes]
    make_dirs(outdir)  # before the work: an unwritable --outdir fails at once
    paths = []
    for k, c in zip(classes, rows, strict=True):
        folder = Path(outdir) / f"class{k}" if several else Path(outdir)
        paths += _mix(G, row_seeds, col_seeds, col_styles, folder, truncation_psi, noise_mode, c, batch_size,
                      progress)
    return paths


def _mix(
    G: torch.nn.Module,
    row_seeds: list[int],
    col_seeds: list[int],
    col_styles: Sequence[int],
    outdir: Path,
    truncation_psi: float,
    noise_mode: str,
    label_row: torch.Tensor,
    batch_size: int,
    progress: bool | None,
) -> list[Path]:
    """The images and grid of one label ([1, c_dim]; see `style_mix_grid`)."""
    all_seeds = list(dict.fromkeys(row_seeds + col_seeds))
    z = seed_latents(all_seeds, G.z_dim)
    labels = label_row.expand(len(all_seeds), -1)
    ws = run_mapping(G, z, labels, truncation_psi=truncation_psi, batch_size=batch_size, progress=progress)
    w_of = dict(zip(all_seeds, ws, strict=True))

    row_ws = torch.stack([w_of[s] for s in row_seeds])
    col_ws = torch.stack([w_of[s] for s in col_seeds])
    pairs = [(r, c) for r in row_seeds for c in col_seeds]
    all_ws = torch.cat([ws, mix_styles(row_ws, col_ws, col_styles)])
    logger.info("Synthesising %d seed and %d mixed images", len(all_seeds), len(pairs))
    images = run_synthesis(
        G, all_ws, noise_mode=noise_mode, batch_size=batch_size, progress=progress
    ).numpy()
    image_of = dict(zip([(s, s) for s in all_seeds] + pairs, images, strict=True))

    make_dirs(outdir)
    paths = []
    for (row, col), image in image_of.items():
        path = outdir / f"{row}-{col}.png"
        save_png(image, path)
        paths.append(path)

    cells = [np.zeros_like(images[0])] + [image_of[(c, c)] for c in col_seeds]
    for row in row_seeds:
        cells += [image_of[(row, row)]] + [image_of[(row, col)] for col in col_seeds]
    path = outdir / GRID_NAME
    grid_images = np.stack(cells).transpose(0, 3, 1, 2)
    save_image_grid(grid_images, path, (len(col_seeds) + 1, len(row_seeds) + 1))
    paths.append(path)
    return paths
