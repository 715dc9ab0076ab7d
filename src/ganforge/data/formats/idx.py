"""MNIST-style IDX files: big-endian header (magic 0x0000TTDD, DD dims of uint32) then raw data.

Images are magic 0x00000803 (uint8, N x H x W), labels 0x00000801 (uint8, N); either may be gzipped.
"""

from __future__ import annotations

import gzip
import logging
import math
import struct
import zlib
from functools import partial
from pathlib import Path

import numpy as np

from ganforge.data.formats.item import ImageStack, SourceItem
from ganforge.errors import DatasetError

log = logging.getLogger(__name__)

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
FOLDER_IMAGE_NAMES = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")


def is_idx_images_name(name: str) -> bool:
    """True for an IDX image file name such as train-images-idx3-ubyte(.gz)."""
    return name.lower().removesuffix(".gz").endswith("idx3-ubyte")


def find_folder_images(folder: Path) -> Path | None:
    """The train-images IDX file of an MNIST folder, or None when it has none."""
    return next((folder / n for n in FOLDER_IMAGE_NAMES if (folder / n).is_file()), None)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array in IDX file `path`, after checking its magic number and size."""
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"Cannot read IDX file {path}: {exc}.") from exc
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != magic:
        found = f"0x{struct.unpack('>I', data[:4])[0]:08x}" if len(data) >= 4 else "nothing"
        raise DatasetError(f"{path} is not the expected IDX file: magic number 0x{magic:08x}, found {found}.")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path} is truncated inside its IDX header.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != math.prod(dims):
        raise DatasetError(
            f"{path} holds {len(data) - header} data bytes but its header says {'x'.join(map(str, dims))} "
            f"= {math.prod(dims)}; the file is truncated or corrupt, download it again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_images(path: Path) -> np.ndarray:
    """IDX images as N x H x W x 1."""
    return read_idx(path, IMAGES_MAGIC)[:, :, :, None]


def _labels_beside(images: Path) -> Path | None:
    """The labels file next to an images file: images->labels, idx3->idx1, with or without .gz."""
    stem = images.name.removesuffix(".gz").replace("images", "labels").replace("idx3", "idx1")
    return next((images.parent / n for n in (stem, stem + ".gz") if (images.parent / n).is_file()), None)


def open_idx(images_path: Path) -> list[SourceItem]:
    """Items of an IDX images file, labelled from the labels file beside it when there is one."""
    images = read_idx_images(images_path)
    labels_path = _labels_beside(images_path)
    if labels_path is None:
        log.warning("%s: no IDX labels file beside it; the images are unlabelled", images_path)
        labels: list[int | None] = [None] * len(images)
    else:
        values = read_idx(labels_path, LABELS_MAGIC)
        if len(values) != len(images):
            raise DatasetError(
                f"{labels_path} holds {len(values)} labels but {images_path} holds {len(images)} images; "
                "use the labels file of the same set."
            )
        labels = [int(v) for v in values]
    stack = ImageStack(images_path, read_idx_images, images)
    return [
        SourceItem(name=f"{images_path.name}[{i}]", load=partial(stack.image, i), label=label)
        for i, label in enumerate(labels)
    ]
