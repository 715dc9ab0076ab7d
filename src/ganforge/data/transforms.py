"""Image transforms of the dataset tool: channel conversion, resizing and cropping to N x N.

Every function takes and returns a uint8 H x W x C array and names the source item in its errors,
so a user can find the offending file. Resampling is PIL's LANCZOS, as in the official tool.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import PIL.Image

from ganforge.errors import DatasetError

Transform = Literal["none", "center-crop", "center-crop-wide"]
TRANSFORMS: tuple[str, ...] = get_args(Transform)


def normalize_channels(image: np.ndarray, name: str) -> np.ndarray:
    """A uint8 H x W x C array with C in {1, 3}: adds a missing channel axis, drops RGBA's alpha."""
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.dtype != np.uint8:
        raise DatasetError(
            f"Image '{name}' has shape {tuple(image.shape)} and dtype {image.dtype}; only 8-bit images "
            "with 1 (gray), 3 (RGB) or 4 (RGBA) channels are supported. Convert it or remove it."
        )
    return image[:, :, :3] if image.shape[2] == 4 else image


def to_pil(image: np.ndarray) -> PIL.Image.Image:
    """A PIL image (mode L or RGB) of a uint8 H x W x 1|3 array."""
    return (
        PIL.Image.fromarray(image[:, :, 0], "L") if image.shape[2] == 1 else PIL.Image.fromarray(image, "RGB")
    )


def from_pil(image: PIL.Image.Image) -> np.ndarray:
    """A uint8 H x W x C array of a PIL image in mode L or RGB."""
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert a H x W x 1|3 image to `channels` (1 or 3) through PIL's L <-> RGB conversion.

    RGB -> L uses PIL's ITU-R 601-2 luma (L = 0.299 R + 0.587 G + 0.114 B); L -> RGB repeats the gray.
    """
    if image.shape[2] == channels:
        return image
    return from_pil(to_pil(image).convert("L" if channels == 1 else "RGB"))


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with LANCZOS unless the image already has that size."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return from_pil(to_pil(image).resize((width, height), PIL.Image.LANCZOS))


def resize_square(image: np.ndarray, resolution: int, name: str) -> np.ndarray:
    """Transform 'none': a square image resized to resolution x resolution; other aspects are refused."""
    height, width = image.shape[:2]
    if width != height:
        raise DatasetError(
            f"Image '{name}' is {width}x{height}, not square; pass `transform` center-crop (or "
            "center-crop-wide) to crop it, or remove it."
        )
    return _resize(image, resolution, resolution)


def center_crop(image: np.ndarray, resolution: int) -> np.ndarray:
    """Transform 'center-crop': the largest centered square, resized to resolution x resolution."""
    height, width = image.shape[:2]
    side = min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    return _resize(image[top : top + side, left : left + side], resolution, resolution)


def center_crop_wide(image: np.ndarray, resolution: int) -> np.ndarray:
    """Transform 'center-crop-wide': the largest centered 2:1 box, resized to N x N/2, black-padded to N x N.

    This is the official tool's layout for wide subjects (e.g. cars): the content fills the middle
    half of the rows, the top and bottom quarters are black.
    """
    height, width = image.shape[:2]
    box_width = min(width, 2 * height)
    box_height = max(box_width // 2, 1)
    top, left = (height - box_height) // 2, (width - box_width) // 2
    inner_height = resolution // 2
    content = _resize(image[top : top + box_height, left : left + box_width], resolution, inner_height)
    canvas = np.zeros((resolution, resolution, image.shape[2]), dtype=np.uint8)
    pad = (resolution - inner_height) // 2
    canvas[pad : pad + inner_height] = content
    return canvas


def apply_transform(image: np.ndarray, transform: str, resolution: int, name: str) -> np.ndarray:
    """Apply transform `transform` (one of TRANSFORMS) producing a resolution x resolution image."""
    if transform == "none":
        return resize_square(image, resolution, name)
    if transform == "center-crop":
        return center_crop(image, resolution)
    if transform == "center-crop-wide":
        return center_crop_wide(image, resolution)
    raise ValueError(f"unknown transform {transform!r}")


def lod_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Levels 1..`levels` of the progressive-training pyramid of a uint8 H x W x C image.

    As in the StyleGAN (v1) dataset tool, each level averages 2 x 2 blocks of the previous level's
    *unrounded* float32 values, (a + b + c + d) * 0.25, and is stored rounded with np.rint (half to
    even) - so rounding errors do not accumulate down the pyramid.
    """
    current = image.astype(np.float32)
    result = []
    for _ in range(levels):
        current = (current[0::2, 0::2] + current[0::2, 1::2] + current[1::2, 0::2] + current[1::2, 1::2]) * (
            np.float32(0.25)
        )
        result.append(np.clip(np.rint(current), 0, 255).astype(np.uint8))
    return result
