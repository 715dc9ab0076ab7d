"""Dataset sources: turn a path or `demo:` name into a sorted list of lazily decoded images.

Supported: a folder of images (recursive) or a .zip of them, with labels from dataset.json or
sub-folder names; MNIST IDX files; the CIFAR-10 python tarball; a legacy StyleGAN TFRecord
folder; and `demo:digits`. The format readers live in `ganforge.data.formats`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ganforge.data.formats.cifar import open_cifar10
from ganforge.data.formats.digits import open_digits
from ganforge.data.formats.idx import find_folder_images, is_idx_images_name, open_idx
from ganforge.data.formats.images import IMAGE_EXTENSIONS, open_image_folder, open_image_zip
from ganforge.data.formats.item import SourceItem
from ganforge.data.formats.tfrecord import open_tfrecord_folder, tfrecord_files
from ganforge.errors import DatasetError, OptionError

__all__ = ["SourceItem", "open_source"]

log = logging.getLogger(__name__)

DEMOS: dict[str, Callable[[], list[SourceItem]]] = {"digits": open_digits}
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_SUPPORTED = (
    "a folder of images, a .zip of images, an MNIST train-images-idx3-ubyte[.gz] file or its folder, "
    "cifar-10-python.tar.gz, a folder of legacy *-rNN.tfrecords, or " + ", ".join(f"demo:{d}" for d in DEMOS)
)


def _detect_format(path: Path) -> str:
    """The format name of an existing source path, from its layout and file name."""
    if path.is_dir():
        if tfrecord_files(path):
            return "tfrecord"
        return "idx" if find_folder_images(path) is not None else "folder"
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if is_idx_images_name(name):
        return "idx"
    if name.endswith(_TAR_SUFFIXES):
        return "cifar10"
    raise DatasetError(f"Cannot tell the dataset format of {path}; give {_SUPPORTED}.")


def _open_path(kind: str, path: Path, labels_from_folders: bool) -> list[SourceItem]:
    if kind == "folder":
        return open_image_folder(path, labels_from_folders)
    if kind == "zip":
        return open_image_zip(path, labels_from_folders)
    if kind == "idx":
        return open_idx(find_folder_images(path) or path)
    if kind == "tfrecord":
        return open_tfrecord_folder(path)
    return open_cifar10(path)


def open_source(spec: str | os.PathLike[str], *, labels_from_folders: bool = False) -> list[SourceItem]:
    """Items of a source in a deterministic order (sorted by name for folders/zips).

    `labels_from_folders` labels a folder or zip of images by first-level sub-folder (sorted
    names -> 0..K-1) instead of its dataset.json; other formats carry their own labels.
    """
    spec = os.fspath(spec)
    if spec.startswith("demo:"):
        kind = "demo"
        opener = DEMOS.get(spec.removeprefix("demo:"))
        if opener is None:
            available = ", ".join(f"demo:{d}" for d in DEMOS)
            raise DatasetError(f"Unknown demo dataset {spec}; available: {available}.")
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise DatasetError(f"Dataset source {spec} does not exist; give {_SUPPORTED}.")
        kind = _detect_format(path)
        opener = partial(_open_path, kind, path, labels_from_folders)
    if labels_from_folders and kind not in ("folder", "zip"):
        raise OptionError(
            f"applies to folders and zips of images, but {spec} is a {kind} source with labels of its own; "
            "leave it out.", param="labels_from_folders"
        )
    items = opener()
    if not items:
        types = ", ".join(sorted(IMAGE_EXTENSIONS))
        hint = f" (image types read: {types})" if kind in ("folder", "zip") else ""
        raise DatasetError(f"Dataset source {spec} holds no images{hint}.")
    log.info("%s: %d images from a %s source", spec, len(items), kind)
    return items
