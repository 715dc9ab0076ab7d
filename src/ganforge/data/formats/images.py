"""Image files in a folder or a zip, decoded with Pillow to uint8 H x W x C (C in 1, 3, 4).

Items are sorted by relative POSIX path. Labels come from an optional dataset.json at the root
(StyleGAN2-ADA layout) or, on request, from the first-level sub-folder names.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import threading
import zipfile
import zlib
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from ganforge.data.formats.item import Label, SourceItem
from ganforge.data.formats.labels import dataset_json_labels, folder_labels
from ganforge.errors import DatasetError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
METADATA_NAME = "dataset.json"
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def is_image_name(name: str) -> bool:
    """True for an image file by extension; hidden files and macOS `__MACOSX` forks are skipped."""
    path = PurePosixPath(name)
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return False
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _to_array(img: Image.Image) -> np.ndarray:
    """Pixels as uint8 H x W x C: gray stays 1 channel, colour 3, anything with alpha 4."""
    if img.mode in _SIXTEEN_BIT_MODES:
        # 16-bit gray (v * 257 for an 8-bit value v) maps back to 8 bits with rounding.
        wide = np.asarray(img).astype(np.float64)
        return np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)[:, :, None]
    if img.mode in ("1", "L"):
        target = "L"
    elif img.mode in ("RGBA", "LA", "La", "PA", "RGBa"):
        target = "RGBA"
    elif img.mode == "P":
        target = "RGBA" if "transparency" in img.info else "RGB"
    else:
        target = "RGB"
    arr = np.asarray(img if img.mode == target else img.convert(target), dtype=np.uint8)
    return np.ascontiguousarray(arr[:, :, None] if arr.ndim == 2 else arr)


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode encoded image bytes; DatasetError naming `where` when Pillow cannot."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _to_array(img)
    except _DECODE_ERRORS as exc:
        # Pillow's "cannot identify" message names the in-memory buffer, not the file: say it plainly.
        reason = "not an image file Pillow can read" if isinstance(exc, Image.UnidentifiedImageError) else exc
        raise DatasetError(f"Cannot decode image {where}: {reason}. Replace or remove the file.") from exc


def _load_file(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"Cannot read image {path}: {exc}.") from exc
    return decode_image(data, str(path))


class ZipReader:
    """Decodes members of one zip through a handle opened lazily once per process (and per fork)."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1
        self._lock = threading.Lock()

    def load(self, member: str) -> np.ndarray:
        """Image `member` of the zip as uint8 H x W x C."""
        where = f"{member} in {self.path}"
        try:
            with self._lock:
                if self._zip is None or self._pid != os.getpid():
                    # A handle inherited through fork shares its file offset with the parent: reopen.
                    self._zip = zipfile.ZipFile(self.path)
                    self._pid = os.getpid()
                data = self._zip.read(member)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
            raise DatasetError(f"Cannot read {where}: {exc}.") from exc
        return decode_image(data, where)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])


def _labels(names: list[str], metadata: str | None, labels_from_folders: bool, where: str) -> list[Label]:
    if labels_from_folders:
        if metadata is not None:
            log.info("%s: labels taken from sub-folder names; its %s is ignored", where, METADATA_NAME)
        return folder_labels(names, where)
    if metadata is None:
        return [None] * len(names)
    return dataset_json_labels(metadata, names, f"{where}/{METADATA_NAME}")


def open_image_folder(root: Path, labels_from_folders: bool) -> list[SourceItem]:
    """Every image under `root` (recursive), sorted by relative path."""
    names = sorted(
        rel
        for path in root.rglob("*")
        if is_image_name(rel := path.relative_to(root).as_posix()) and path.is_file()
    )
    meta_path = root / METADATA_NAME
    try:
        metadata = meta_path.read_text(encoding="utf-8") if meta_path.is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Cannot read {meta_path}: {exc}.") from exc
    labels = _labels(names, metadata, labels_from_folders, str(root))
    return [
        SourceItem(name=name, load=partial(_load_file, root / name), label=label)
        for name, label in zip(names, labels, strict=True)
    ]


def open_image_zip(path: Path, labels_from_folders: bool) -> list[SourceItem]:
    """Every image in the zip at `path`, sorted by member name, with its dataset.json labels."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = sorted({m.filename for m in members if not m.is_dir() and is_image_name(m.filename)})
            has_meta = any(m.filename == METADATA_NAME for m in members)
            metadata = archive.read(METADATA_NAME).decode("utf-8") if has_meta else None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError) as exc:
        raise DatasetError(f"Cannot read zip {path}: {exc}.") from exc
    labels = _labels(names, metadata, labels_from_folders, str(path))
    reader = ZipReader(path)
    return [
        SourceItem(name=name, load=partial(reader.load, name), label=label)
        for name, label in zip(names, labels, strict=True)
    ]
