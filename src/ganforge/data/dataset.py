"""ImageDataset: reads a StyleGAN2-ADA style dataset (zip or folder of images) for training.

Layout: image files anywhere in the tree (``00000/img00000000.png``), taken in sorted name order
exactly like the official loader, plus an optional ``dataset.json`` holding ``{"labels": [[name,
label], ...] | null}`` and optionally ``"label_names"``. A label is an int class (one-hot encoded on
read), a multi-hot list of 0/1 ints or a list of floats. Images may be non-square (W x H, powers of
two, up to 4:1 either way) and have 1, 3 or 4 (RGBA) channels. An optional pyramid for progressive
training stores level ``k`` under ``lod{k}/`` with the same relative names, and lists the per-level
resolutions in ``dataset.json`` as ``"lod_resolutions": [R, R/2, ..., 4]``; top-level images are
level 0.

The first image of the chosen level is decoded up front to learn the image shape; every other image
is checked against it when it is read, so a bad file fails with its name, without a full scan of a
large dataset at start-up.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from ganforge.data.formats.labels import label_kind, labels_in_order
from ganforge.data.shape import nearby_sizes, size_problem, size_text
from ganforge.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
METADATA_NAME = "dataset.json"
_LOD_PREFIX = re.compile(r"lod([1-9][0-9]*)/")
_CHANNELS_BY_MODE = {"L": 1, "RGB": 3, "RGBA": 4}
_HINT = "recreate it with `ganforge dataset create`"


@dataclass(frozen=True)
class ImageDetails:
    """Where dataset item `i` comes from: raw image index, whether it is mirrored, its raw label."""

    raw_idx: int
    xflip: bool
    raw_label: np.ndarray


class _Files:
    """Read-only access to the files of a dataset folder or zip.

    A zip is opened lazily, once per process: a forked DataLoader worker must not share the
    parent's file handle (the read position is shared), and an open ZipFile cannot be pickled.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None
        if not path.exists():
            raise DatasetError(f"Dataset '{path}' does not exist; pass a dataset zip or folder.")
        if path.is_dir():
            self.is_zip = False
            self.names = sorted(
                Path(root, fname).relative_to(path).as_posix()
                for root, _dirs, files in os.walk(path)
                for fname in files
            )
        elif path.suffix.lower() == ".zip":
            self.is_zip = True
            self.names = sorted(self._zipfile().namelist())
        else:
            raise DatasetError(f"Dataset '{path}' must be a folder or a .zip file.")

    def _zipfile(self) -> zipfile.ZipFile:
        """The zip, (re)opened in the current process if needed."""
        if self._zip is None or self._zip_pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DatasetError(f"Dataset '{self.path}' is not a readable zip file ({exc}).") from exc
            self._zip_pid = os.getpid()
        return self._zip

    def read(self, name: str) -> bytes:
        """The bytes of file `name` (a '/'-separated path relative to the dataset root)."""
        try:
            if self.is_zip:
                return self._zipfile().read(name)
            return (self.path / name).read_bytes()
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            raise DatasetError(f"Cannot read '{name}' in dataset '{self.path}' ({exc}); {_HINT}.") from exc

    def close(self) -> None:
        """Close the zip handle of this process, if any."""
        if self._zip is not None and self._zip_pid == os.getpid():
            self._zip.close()
        self._zip = None
        self._zip_pid = None

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, _zip=None, _zip_pid=None)


class ImageDataset(torch.utils.data.Dataset):
    """Images (uint8, CHW) and labels (float32) of a dataset zip or folder, with official semantics.

    `max_size` keeps a seeded random subset (applied before `xflip`); `xflip` doubles the dataset
    with the second half mirrored left-right; `lod` selects a pyramid level; `resolution`, if
    given, must equal the resolution of the selected level (N for N x N, or (width, height)).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        resolution: int | tuple[int, int] | None = None,
        use_labels: bool = False,
        max_size: int | None = None,
        xflip: bool = False,
        lod: int = 0,
        random_seed: int = 0,
    ) -> None:
        path = Path(path)
        self._files = _Files(path)
        self._name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
        self._use_labels = use_labels
        self._lod = lod

        metadata = self._read_metadata()
        levels = self._find_levels()
        self._available_lods = sorted(levels)
        self._check_lod_resolutions(metadata, levels)
        if lod not in levels:
            raise DatasetError(
                f"Dataset '{path}' has no lod{lod} level (available: {self._available_lods}); "
                f"choose one of those or {_HINT} with a pyramid."
            )
        self._raw_names = levels[0]
        if lod != 0 and levels[lod] != levels[0]:
            raise DatasetError(
                f"Dataset '{path}': the files under lod{lod}/ differ from the top-level images; {_HINT}."
            )
        prefix = "" if lod == 0 else f"lod{lod}/"
        self._image_names = [prefix + name for name in self._raw_names]

        self._first_name = self._image_names[0]
        first = self._decode(self._first_name)
        self._check_power_of_two(first.shape[2], first.shape[1])
        self._image_shape = list(first.shape)
        self._check_resolution(metadata, resolution)

        self._label_kind = "none"
        self._raw_labels = self._parse_labels(metadata) if use_labels else None
        if self._raw_labels is None:
            self._raw_labels = np.zeros([len(self._raw_names), 0], dtype=np.float32)
        self._label_names = self._parse_label_names(metadata) if use_labels else []
        if self._raw_labels.dtype == np.int64:
            self._label_shape = [int(self._raw_labels.max()) + 1]
        else:
            self._label_shape = list(self._raw_labels.shape[1:])

        self._raw_idx = np.arange(len(self._raw_names), dtype=np.int64)
        if max_size is not None and self._raw_idx.size > max_size:
            np.random.RandomState(random_seed).shuffle(self._raw_idx)
            self._raw_idx = np.sort(self._raw_idx[:max_size])
        self._xflip = np.zeros(self._raw_idx.size, dtype=bool)
        if xflip:
            self._raw_idx = np.tile(self._raw_idx, 2)
            self._xflip = np.concatenate([self._xflip, np.ones_like(self._xflip)])

    # ---- reading and validating the files -------------------------------------------------

    def _where(self, name: str) -> str:
        return f"'{name}' in dataset '{self._files.path}'"

    def _read_metadata(self) -> dict[str, Any]:
        """The parsed dataset.json, or {} when there is none."""
        if METADATA_NAME not in self._files.names:
            return {}
        try:
            metadata = json.loads(self._files.read(METADATA_NAME))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{self._where(METADATA_NAME)} is not valid JSON ({exc}); {_HINT}.") from exc
        if not isinstance(metadata, dict):
            raise DatasetError(f"{self._where(METADATA_NAME)} must hold a JSON object; {_HINT}.")
        return metadata

    def _find_levels(self) -> dict[int, list[str]]:
        """Image names relative to their level folder, sorted, keyed by pyramid level."""
        levels: dict[int, list[str]] = {}
        for name in self._files.names:
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            match = _LOD_PREFIX.match(name)
            level, relative = (int(match[1]), name[match.end() :]) if match else (0, name)
            levels.setdefault(level, []).append(relative)
        if 0 not in levels:
            raise DatasetError(
                f"Dataset '{self._files.path}' holds no top-level image files "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}); {_HINT}."
            )
        return levels

    def _check_lod_resolutions(self, metadata: dict[str, Any], levels: dict[int, list[str]]) -> None:
        """If dataset.json lists lod_resolutions, the pyramid must have exactly those levels."""
        lod_resolutions = metadata.get("lod_resolutions")
        if lod_resolutions is None:
            return
        if not (
            isinstance(lod_resolutions, list)
            and all(type(r) is int and r > 0 for r in lod_resolutions)
            and sorted(levels) == list(range(len(lod_resolutions)))
        ):
            raise DatasetError(
                f"{self._where(METADATA_NAME)}: lod_resolutions {lod_resolutions!r} must be a list of "
                f"positive ints, one per level; found levels {sorted(levels)}; {_HINT}."
            )

    def _check_power_of_two(self, width: int, height: int) -> None:
        """Training needs W x H images with sides powers of two of at least 4, at most 4:1 either way."""
        if any(side < 4 or side & (side - 1) for side in (width, height)):
            sizes = nearby_sizes((width, height))
            raise DatasetError(
                f"{self._where(self._first_name)} is {width}x{height}; training needs a power of two of at "
                f"least 4 (4, 8, 16, ...): recreate it with `ganforge dataset create --resolution {sizes}`."
            )
        problem = size_problem((width, height))
        if problem is not None:
            raise DatasetError(f"{self._where(self._first_name)}: {problem}; {_HINT} and a narrower size.")

    def _check_resolution(self, metadata: dict[str, Any], resolution: int | None) -> None:
        """The selected level must match `resolution` and dataset.json's lod_resolutions."""
        size = (self._image_shape[2], self._image_shape[1])
        lod_resolutions = metadata.get("lod_resolutions")
        if lod_resolutions is not None and size != (lod_resolutions[self._lod],) * 2:
            raise DatasetError(
                f"{self._where(self._first_name)} is {size_text(size)} but dataset.json says level "
                f"{self._lod} is {lod_resolutions[self._lod]}x{lod_resolutions[self._lod]}; {_HINT}."
            )
        wanted = (resolution, resolution) if isinstance(resolution, int) else resolution
        if wanted is not None and tuple(wanted) != size:
            found, asked = (str(s[0]) if s[0] == s[1] else size_text(s) for s in (size, tuple(wanted)))
            raise DatasetError(
                f"Dataset '{self._files.path}' (level {self._lod}) has resolution {found}, "
                f"not the requested {asked}; pass resolution={found} or another dataset."
            )

    def _decode(self, name: str) -> np.ndarray:
        """Decode image `name` to a uint8 CHW array, naming the file if it cannot be used."""
        data = self._files.read(name)
        try:
            with PIL.Image.open(io.BytesIO(data)) as image:
                mode = image.mode
                array = np.array(image) if mode in _CHANNELS_BY_MODE else None
        except PIL.UnidentifiedImageError as exc:  # its message names the in-memory buffer, not the file
            raise DatasetError(f"{self._where(name)} is not an image file Pillow can read; {_HINT}.") from exc
        except Exception as exc:  # PIL raises many types for corrupt files
            raise DatasetError(f"{self._where(name)} is not a readable image ({exc}); {_HINT}.") from exc
        if array is None:
            raise DatasetError(
                f"{self._where(name)} has image mode '{mode}'; only 1-channel (L), 3-channel (RGB) and "
                f"4-channel (RGBA) 8-bit images are supported, {_HINT}."
            )
        if array.ndim == 2:
            array = array[:, :, np.newaxis]
        return array.transpose(2, 0, 1)

    def _parse_labels(self, metadata: dict[str, Any]) -> np.ndarray | None:
        """Raw labels in image order: int64 [N] classes or float32 [N, D] vectors; None if absent."""
        labels = labels_in_order(metadata.get("labels"), self._raw_names, self._where(METADATA_NAME))
        self._label_kind = label_kind(labels)
        if self._label_kind == "none":
            return None
        return np.array(labels, dtype=np.int64 if self._label_kind == "class" else np.float32)

    def _parse_label_names(self, metadata: dict[str, Any]) -> list[str]:
        """dataset.json's "label_names" (one per class or vector entry), or [] when absent."""
        names = metadata.get("label_names")
        if names is None or self._label_kind == "none":
            return []
        count = self._raw_labels.shape[1] if self._raw_labels.ndim == 2 else int(self._raw_labels.max()) + 1
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and len(names) == count):
            raise DatasetError(
                f"{self._where(METADATA_NAME)}: label_names must be a list of {count} strings, one per "
                f"label; {_HINT}."
            )
        return list(names)

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        name = self._image_names[raw_idx]
        image = self._decode(name)
        if list(image.shape) != self._image_shape:
            c, h, w = image.shape
            c0, h0, w0 = self._image_shape
            raise DatasetError(
                f"{self._where(name)} is {w}x{h} with {c} channel(s) but '{self._first_name}' is "
                f"{w0}x{h0} with {c0}; all images must share one size and channel count, {_HINT}."
            )
        return image

    # ---- the Dataset interface -----------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._raw_idx.size)

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        image = self._load_raw_image(int(self._raw_idx[idx]))
        if self._xflip[idx]:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image), self.get_label(idx)

    def get_label(self, idx: int) -> np.ndarray:
        """The float32 label of item `idx`: one-hot for int classes, zero-length without labels."""
        label = self._raw_labels[self._raw_idx[idx]]
        if label.dtype == np.int64:
            onehot = np.zeros(self._label_shape, dtype=np.float32)
            onehot[label] = 1
            return onehot
        return label.copy()

    def get_details(self, idx: int) -> ImageDetails:
        """Where item `idx` comes from (raw index, mirroring, raw label)."""
        raw_idx = int(self._raw_idx[idx])
        return ImageDetails(raw_idx, bool(self._xflip[idx]), self._raw_labels[raw_idx].copy())

    def close(self) -> None:
        """Release the zip handle held by this process (it is reopened on the next read)."""
        self._files.close()

    # ---- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Dataset name: the file or folder name without extension."""
        return self._name

    @property
    def image_shape(self) -> list[int]:
        """[channels, height, width] of every image."""
        return list(self._image_shape)

    @property
    def num_channels(self) -> int:
        return self._image_shape[0]

    @property
    def width(self) -> int:
        return self._image_shape[2]

    @property
    def height(self) -> int:
        return self._image_shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every image."""
        return self.width, self.height

    @property
    def resolution(self) -> int:
        """The side of square images; DatasetError for non-square ones (read width and height)."""
        if self.width != self.height:
            raise DatasetError(
                f"Dataset '{self._files.path}' holds {self.width}x{self.height} images, but this needs "
                "square ones; recreate it with `ganforge dataset create --resolution N`."
            )
        return self._image_shape[1]

    @property
    def lod(self) -> int:
        """The pyramid level being read (0 = full resolution)."""
        return self._lod

    @property
    def available_lods(self) -> list[int]:
        """Pyramid levels present in the dataset, always including 0."""
        return list(self._available_lods)

    @property
    def label_shape(self) -> list[int]:
        return list(self._label_shape)

    @property
    def label_dim(self) -> int:
        """Length of the label vectors the networks take (classes one-hot, or the vector length)."""
        return self._label_shape[0]

    c_dim = label_dim  # the networks' name for it

    @property
    def label_kind(self) -> str:
        """"none", "class", "multi-hot" or "continuous" (see ganforge.data.formats.labels)."""
        return self._label_kind

    @property
    def label_names(self) -> list[str]:
        """Names of the classes or vector entries from dataset.json, or [] when it gives none."""
        return list(self._label_names)

    @property
    def has_labels(self) -> bool:
        return any(x != 0 for x in self._label_shape)

    @property
    def has_onehot_labels(self) -> bool:
        return self._raw_labels.dtype == np.int64
