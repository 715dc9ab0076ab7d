"""Lay uint8 images out in a grid and save it as one PNG (for `dataset info --grid` and previews)."""

from __future__ import annotations

import math
import os

import numpy as np
import PIL.Image

from ganforge.fileio import atomic_path


def grid_size(count: int) -> tuple[int, int]:
    """(cols, rows) of the most nearly square grid holding `count` images."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return cols, max(1, math.ceil(count / cols))


def save_image_grid(images: np.ndarray, path: str | os.PathLike[str], grid: tuple[int, int]) -> None:
    """Save uint8 N x C x H x W images (C = 1 or 3) as a cols x rows PNG grid at `path`, atomically.

    Image i goes to row i // cols, column i % cols; cells without an image stay black.
    """
    cols, rows = grid
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"expected uint8 N x C x H x W images with C in (1, 3), got {images.dtype} {images.shape}"
        )
    count, channels, height, width = images.shape
    if count > cols * rows:
        raise ValueError(f"{count} images do not fit a {cols}x{rows} grid")
    canvas = np.zeros((rows * height, cols * width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        row, col = divmod(i, cols)
        canvas[row * height : (row + 1) * height, col * width : (col + 1) * width] = image.transpose(1, 2, 0)
    picture = (
        PIL.Image.fromarray(canvas[:, :, 0], "L") if channels == 1 else PIL.Image.fromarray(canvas, "RGB")
    )
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
