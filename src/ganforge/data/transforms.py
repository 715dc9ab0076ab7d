"""Image transforms of the dataset tool: channel conversion, resizing, cropping and padding to W x H.

Every function takes and returns a uint8 H x W x C array (C in 1, 3, 4) and names the source item
in its errors, so a user can find the offending file. Resampling is PIL's LANCZOS, as in the
official tool (PIL resizes RGBA with premultiplied alpha, so transparent pixels do not bleed).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import PIL.Image

from ganforge.data.shape import Size, size_text
from ganforge.errors import DatasetError

Transform = Literal["none", "center-crop", "center-crop-wide", "pad"]
TRANSFORMS: tuple[str, ...] = get_args(Transform)
Colour = tuple[int, int, int, int]
BLACK: Colour = (0, 0, 0, 255)
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def normalize_channels(image: np.ndarray, name: str) -> np.ndarray:
    """A uint8 H x W x C array with C in {1, 3, 4}: adds a missing channel axis, refuses the rest."""
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.dtype != np.uint8:
        raise DatasetError(
            f"Image '{name}' has shape {tuple(image.shape)} and dtype {image.dtype}; only 8-bit images "
            "with 1 (gray), 3 (RGB) or 4 (RGBA) channels are supported. Convert it or remove it."
        )
    return image


def to_pil(image: np.ndarray) -> PIL.Image.Image:
    """A PIL image (mode L, RGB or RGBA) of a uint8 H x W x 1|3|4 array."""
    mode = _MODES[image.shape[2]]
    return PIL.Image.fromarray(image[:, :, 0] if mode == "L" else image, mode)


def from_pil(image: PIL.Image.Image) -> np.ndarray:
    """A uint8 H x W x C array of a PIL image in mode L, RGB or RGBA."""
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def composite(image: np.ndarray, background: Colour = BLACK) -> np.ndarray:
    """An RGBA image laid over an opaque `background` colour: uint8 RGB (alpha-weighted, rounded)."""
    alpha = image[:, :, 3:].astype(np.float32) / 255
    colour = np.asarray(background[:3], dtype=np.float32)
    mixed = image[:, :, :3].astype(np.float32) * alpha + colour * (1 - alpha)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def convert_channels(image: np.ndarray, channels: int, background: Colour = BLACK) -> np.ndarray:
    """Convert a H x W x 1|3|4 image to `channels` (1, 3 or 4).

    RGBA loses alpha by compositing on `background`; RGB -> L uses PIL's ITU-R 601-2 luma
    (L = 0.299 R + 0.587 G + 0.114 B); L -> RGB repeats the gray; anything -> RGBA is opaque.
    """
    if image.shape[2] == channels:
        return image
    if image.shape[2] == 4:
        image = composite(image, background)
        if channels == 3:
            return image
    return from_pil(to_pil(image).convert(_MODES[channels]))


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with LANCZOS unless the image already has that size."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return from_pil(to_pil(image).resize((width, height), PIL.Image.LANCZOS))


def resize_exact(image: np.ndarray, size: Size, name: str) -> np.ndarray:
    """Transform 'none': an image of the output's aspect ratio resized to W x H; others are refused."""
    height, width = image.shape[:2]
    if width * size[1] != height * size[0]:
        shape = "not square" if size[0] == size[1] else f"not of the aspect ratio of {size_text(size)}"
        raise DatasetError(
            f"Image '{name}' is {width}x{height}, {shape}; pass `transform` center-crop (or "
            "center-crop-wide, or pad) to crop or pad it, or remove it."
        )
    return _resize(image, *size)


def _crop_box(image: np.ndarray, aspect_w: int, aspect_h: int) -> np.ndarray:
    """The largest centered box of aspect aspect_w : aspect_h."""
    height, width = image.shape[:2]
    box_width = min(width, height * aspect_w // aspect_h)
    box_height = max(min(height, box_width * aspect_h // aspect_w), 1)
    top, left = (height - box_height) // 2, (width - box_width) // 2
    return image[top : top + box_height, left : left + box_width]


def center_crop(image: np.ndarray, size: int | Size) -> np.ndarray:
    """Transform 'center-crop': the largest centered box of the output's aspect, resized to W x H."""
    width, height = (size, size) if isinstance(size, int) else size
    return _resize(_crop_box(image, width, height), width, height)


def center_crop_wide(image: np.ndarray, size: int | Size, background: Colour = BLACK) -> np.ndarray:
    """Transform 'center-crop-wide': the largest centered box twice as wide as the output's aspect,
    resized to W x H/2 and padded with `background` to W x H.

    At N x N this is the official tool's layout for wide subjects (e.g. cars): the content fills
    the middle half of the rows, the top and bottom quarters are black.
    """
    width, height = (size, size) if isinstance(size, int) else size
    content = _resize(_crop_box(image, 2 * width, height), width, height // 2)
    return _place(content, width, height, image.shape[2], background)


def pad(image: np.ndarray, size: Size, background: Colour = BLACK) -> np.ndarray:
    """Transform 'pad' (letterbox): the whole image scaled to fit W x H, centered on `background`."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    inner_w = max(1, min(width, round(image.shape[1] * scale)))
    inner_h = max(1, min(height, round(image.shape[0] * scale)))
    return _place(_resize(image, inner_w, inner_h), width, height, image.shape[2], background)


def _place(content: np.ndarray, width: int, height: int, channels: int, background: Colour) -> np.ndarray:
    """`content` centered on a W x H canvas of `background` (its alpha only on a 4-channel canvas)."""
    fill = {1: [round(0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2])],
            3: list(background[:3]), 4: list(background)}[channels]
    canvas = np.empty((height, width, channels), dtype=np.uint8)
    canvas[:] = np.asarray(fill, dtype=np.uint8)
    top, left = (height - content.shape[0]) // 2, (width - content.shape[1]) // 2
    canvas[top : top + content.shape[0], left : left + content.shape[1]] = content
    return canvas


def apply_transform(
    image: np.ndarray, transform: str, size: int | Size, name: str, background: Colour = BLACK
) -> np.ndarray:
    """Apply transform `transform` (one of TRANSFORMS) producing a W x H image (an int N means N x N)."""
    size = (size, size) if isinstance(size, int) else size
    if transform == "none":
        return resize_exact(image, size, name)
    if transform == "center-crop":
        return center_crop(image, size)
    if transform == "center-crop-wide":
        return center_crop_wide(image, size, background)
    if transform == "pad":
        return pad(image, size, background)
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
