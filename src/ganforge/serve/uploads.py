"""Uploaded images for `ganforge serve`: size-capped, then decoded with the dataset tool's image reader."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import PIL.Image

from ganforge.data.formats.images import decode_image
from ganforge.errors import DatasetError, OptionError

MAX_UPLOAD_BYTES = 20 * 2**20
"""The largest upload the page accepts (20 MiB)."""

MAX_UPLOAD_PIXELS = 40_000_000
"""The most pixels an uploaded image may have (width x height), checked before it is decoded."""


def read_upload(
    path: str | os.PathLike[str], max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS
) -> np.ndarray:
    """The uploaded image at `path` as uint8 H x W x C (C in 1, 3, 4); OptionError naming the upload if it
    is too large or not an image."""
    name = Path(path).name
    size = os.path.getsize(path)
    if size > max_bytes:
        raise OptionError(
            f"image: {name} is {size / 2**20:.1f} MiB; uploads are limited to {max_bytes / 2**20:.0f} MiB"
        )
    data = Path(path).read_bytes()
    pixels = _pixel_count(data)
    if pixels is not None and pixels > max_pixels:
        raise OptionError(
            f"image: {name} has {pixels / 1e6:.0f} million pixels; uploads are limited to "
            f"{max_pixels / 1e6:.0f} million (e.g. 6000 x 6000)"
        )
    try:
        return decode_image(data, name)
    except DatasetError as e:
        raise OptionError(
            f"image: {name} is not an image ganforge can read; upload a PNG, JPEG, WebP or BMP"
        ) from e


def _pixel_count(data: bytes) -> int | None:
    """Width x height from an image file's header without decoding it; None if Pillow cannot tell."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except PIL.Image.DecompressionBombError:
        return PIL.Image.MAX_IMAGE_PIXELS * 2 + 1  # Pillow refuses past twice its limit
    except Exception:  # anything unreadable is reported by the decoder
        return None
    return width * height
