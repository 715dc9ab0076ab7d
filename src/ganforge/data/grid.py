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


CHECKER_SQUARE = 8
CHECKER_SHADES = (153, 102)  # light and dark gray, as image editors show transparency


def checkerboard(height: int, width: int) -> np.ndarray:
    """A uint8 H x W x 3 checkerboard of CHECKER_SQUARE-pixel gray squares."""
    rows = (np.arange(height) // CHECKER_SQUARE)[:, None]
    cols = (np.arange(width) // CHECKER_SQUARE)[None, :]
    shade = np.where((rows + cols) % 2 == 0, *CHECKER_SHADES).astype(np.uint8)
    return np.repeat(shade[:, :, None], 3, axis=2)


def on_checkerboard(images: np.ndarray) -> np.ndarray:
    """uint8 N x 4 x H x W images laid over a checkerboard: N x 3 x H x W, so alpha shows."""
    alpha = images[:, 3:].astype(np.float32) / 255
    board = checkerboard(*images.shape[2:]).transpose(2, 0, 1)[None].astype(np.float32)
    mixed = images[:, :3].astype(np.float32) * alpha + board * (1 - alpha)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def save_image_grid(images: np.ndarray, path: str | os.PathLike[str], grid: tuple[int, int]) -> None:
    """Save uint8 N x C x H x W images (C = 1, 3 or 4) as a cols x rows PNG grid at `path`, atomically.

    Image i goes to row i // cols, column i % cols; cells without an image stay black. RGBA images
    are shown over a checkerboard so their transparency is visible.
    """
    cols, rows = grid
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(
            f"expected uint8 N x C x H x W images with C in (1, 3, 4), got {images.dtype} {images.shape}"
        )
    if images.shape[1] == 4:
        images = on_checkerboard(images)
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
