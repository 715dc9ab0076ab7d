"""The CIFAR-10 python tarball: pickled batches data_batch_1..5 of N x 3072 uint8 (CHW) and labels.

The batches are pickles, which can run arbitrary code when loaded; they are read with an
unpickler that only rebuilds numpy arrays (and the latin-1 bytes of batches that Python 3 re-pickled
with protocol 2) and refuses every other global.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zlib
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ganforge.data.formats.item import ImageStack, SourceItem
from ganforge.errors import DatasetError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

BATCH_NAMES = tuple(f"data_batch_{i}" for i in range(1, 6))


def _latin1_bytes(text: Any, encoding: Any) -> bytes:
    """`_codecs.encode(text, 'latin1')`: how Python 3 writes bytes into a protocol 2 pickle, and the
    only call of `_codecs.encode` allowed (text to bytes, nothing else)."""
    if not isinstance(text, str) or encoding != "latin1":
        what = f"{type(text).__name__} and {encoding!r}"
        raise pickle.UnpicklingError(f"refusing _codecs.encode of {what}: batches encode latin1 text only")
    return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals numpy needs to rebuild plain arrays."""

    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self._where} refers to {module}.{name}, which a CIFAR-10 batch never does; "
                "refusing to load it (the file may be malicious). Download the dataset again."
            ) from None


def _field(batch: dict[Any, Any], key: str) -> Any:
    """A batch entry by its bytes key (Python 2 pickles) or str key (Python 3 pickles)."""
    return batch[key.encode()] if key.encode() in batch else batch.get(key)


def _read_batch(data: bytes, where: str) -> tuple[np.ndarray, list[int]]:
    """Images (N x 32 x 32 x 3) and labels of one pickled batch."""
    try:
        batch = _ArrayUnpickler(data, where).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, struct.error, MemoryError) as exc:
        raise DatasetError(f"{where} is not a readable CIFAR-10 batch: {exc}.") from exc
    if not isinstance(batch, dict):
        raise DatasetError(f"{where} is not a CIFAR-10 batch: it holds a {type(batch).__name__}, not a dict.")
    pixels, labels = _field(batch, "data"), _field(batch, "labels")
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 2
            and pixels.shape[1] == 3 * 32 * 32):
        raise DatasetError(f"{where}: 'data' is not an N x 3072 uint8 array.")
    if not (isinstance(labels, list | np.ndarray) and len(labels) == len(pixels)
            and all(isinstance(v, int | np.integer) and 0 <= v for v in labels)):
        raise DatasetError(f"{where}: 'labels' is not a list of {len(pixels)} class indices.")
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), [int(v) for v in labels]


def read_cifar10(path: Path) -> tuple[np.ndarray, list[int], list[str]]:
    """Images (N x 32 x 32 x 3), labels and item names of the five training batches, in order."""
    found: dict[str, tuple[np.ndarray, list[int]]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                batch_name = PurePosixPath(member.name).name
                if member.isfile() and batch_name in BATCH_NAMES:
                    if batch_name in found:
                        raise DatasetError(f"{path} holds {batch_name} twice.")
                    f = tar.extractfile(member)
                    assert f is not None  # a regular file always has a reader
                    found[batch_name] = _read_batch(f.read(), f"{member.name} in {path}")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"Cannot read tarball {path}: {exc}.") from exc
    missing = [n for n in BATCH_NAMES if n not in found]
    if missing:
        raise DatasetError(
            f"{path} is not the CIFAR-10 python tarball: it lacks {', '.join(missing)} "
            "(expected cifar-10-batches-py/data_batch_1..5, as in cifar-10-python.tar.gz)."
        )
    images = np.concatenate([found[n][0] for n in BATCH_NAMES])
    labels = [label for n in BATCH_NAMES for label in found[n][1]]
    names = [f"{n}[{i}]" for n in BATCH_NAMES for i in range(len(found[n][1]))]
    return images, labels, names


def read_cifar10_images(path: Path) -> np.ndarray:
    """Just the images of the tarball, for worker processes that re-read it."""
    return read_cifar10(path)[0]


def open_cifar10(path: Path) -> list[SourceItem]:
    """Items of the CIFAR-10 python tarball: 50,000 RGB 32 x 32 images with class labels 0-9."""
    images, labels, names = read_cifar10(path)
    stack = ImageStack(path, read_cifar10_images, images)
    return [
        SourceItem(name=name, load=partial(stack.image, i), label=label)
        for i, (name, label) in enumerate(zip(names, labels, strict=True))
    ]
