"""Dataset sources: turn a path or `demo:` name into a sorted list of lazily decoded images.

Supported: a folder of images (recursive) or a .zip of them, with labels from dataset.json or
sub-folder names; MNIST IDX files; the CIFAR-10 python tarball; a legacy StyleGAN TFRecord
folder; and `demo:digits`. The format readers live in `ganforge.data.formats`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ganforge.data.formats.cifar import open_cifar10
from ganforge.data.formats.digits import open_digits
from ganforge.data.formats.idx import find_folder_images, is_idx_images_name, open_idx
from ganforge.data.formats.images import open_image_folder, open_image_zip
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


def _open_path(path: Path, labels_from_folders: bool) -> tuple[str, list[SourceItem]]:
    """(format name, items) for a source on disk."""
    name = path.name.lower()
    if path.is_dir():
        if tfrecord_files(path):
            return "tfrecord", open_tfrecord_folder(path)
        images = find_folder_images(path)
        if images is not None:
            return "idx", open_idx(images)
        return "folder", open_image_folder(path, labels_from_folders)
    if name.endswith(".zip"):
        return "zip", open_image_zip(path, labels_from_folders)
    if is_idx_images_name(name):
        return "idx", open_idx(path)
    if name.endswith(_TAR_SUFFIXES):
        return "cifar10", open_cifar10(path)
    raise DatasetError(f"Cannot tell the dataset format of {path}; give {_SUPPORTED}.")


def open_source(spec: str, *, labels_from_folders: bool = False) -> list[SourceItem]:
    """Items of a source in a deterministic order (sorted by name for folders/zips).

    `labels_from_folders` labels a folder or zip of images by first-level sub-folder (sorted
    names -> 0..K-1) instead of its dataset.json; other formats carry their own labels.
    """
    if spec.startswith("demo:"):
        demo = DEMOS.get(spec.removeprefix("demo:"))
        if demo is None:
            available = ", ".join(f"demo:{d}" for d in DEMOS)
            raise DatasetError(f"Unknown demo dataset {spec}; available: {available}.")
        kind, items = "demo", demo()
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise DatasetError(f"Dataset source {spec} does not exist; give {_SUPPORTED}.")
        kind, items = _open_path(path, labels_from_folders)
    if labels_from_folders and kind not in ("folder", "zip"):
        raise OptionError(
            f"Labels from folders apply to folders and zips of images, but {spec} is a {kind} source "
            "with labels of its own; drop the option."
        )
    if not items:
        raise DatasetError(f"Dataset source {spec} holds no images; supported image types: "
                           ".jpg, .jpeg, .png, .webp, .bmp.")
    log.info("%s: %d images from a %s source", spec, len(items), kind)
    return items
