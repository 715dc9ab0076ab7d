"""The dataset tool's writer: source items -> a StyleGAN2-ADA dataset zip or folder.

Layout (readable by the official loader): PNGs named by output index, 1000 per sub-folder
(``00000/img00000000.png`` ... ``00001/img00001000.png``), and ``dataset.json`` holding
``{"labels": [[name, label], ...]}`` or ``{"labels": null}`` (a label is a class int, a multi-hot
list of 0/1 ints or a list of floats), plus ``"label_names"`` when the labels have names. With
``lods=True`` the pyramid for progressive (StyleGAN v1) training is added: level k under
``lod{k}/`` with the same names, and ``"lod_resolutions": [R, R/2, ..., 4]`` in dataset.json;
level 0 stays at the top level.

Writing is atomic: everything goes to a temp file or folder beside `dest`, which is renamed
onto `dest` only when complete; on any error or interrupt nothing is left behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.data.formats.csv_labels import read_csv_labels
from ganforge.data.formats.labels import label_kind
from ganforge.data.shape import Size, check_image_size, parse_colour, parse_size, size_text
from ganforge.data.sources import SourceItem, open_source
from ganforge.data.transforms import (
    BLACK,
    TRANSFORMS,
    Colour,
    apply_transform,
    convert_channels,
    lod_pyramid,
    normalize_channels,
    to_pil,
)
from ganforge.errors import DatasetError, OptionError
from ganforge.fileio import atomic_dir, atomic_path
from ganforge.progress import progress

log = logging.getLogger(__name__)

IMAGES_PER_FOLDER = 1000
METADATA_NAME = "dataset.json"


@dataclass(frozen=True)
class CreateReport:
    """What `create_dataset` wrote."""

    dest: Path
    written: int
    skipped: int
    width: int
    height: int
    channels: int
    num_classes: int | None = None  # class count for int labels, None otherwise
    label_dim: int | None = None  # vector length for multi-hot or continuous labels, None otherwise
    label_kind: str = "none"  # one of ganforge.data.formats.labels.LABEL_KINDS
    lod_resolutions: list[int] = field(default_factory=list)
    skipped_names: list[str] = field(default_factory=list)

    @property
    def resolution(self) -> int | None:
        """The side of square images; None for non-square ones (see width and height)."""
        return self.width if self.width == self.height else None

    def summary(self) -> str:
        """One line for the CLI."""
        labels = "no labels"
        if self.num_classes is not None:
            labels = f"{self.num_classes} classes"
        elif self.label_dim is not None:
            labels = f"{self.label_dim}-d {self.label_kind} labels"
        lods = f", lods {self.lod_resolutions}" if self.lod_resolutions else ""
        return (
            f"Wrote {self.written} images ({self.width}x{self.height}, {self.channels} channel(s), "
            f"{labels}{lods}) to {self.dest}"
        )


def image_name(index: int) -> str:
    """The official relative name of output image `index`: '00001/img00001000.png'."""
    return f"{index // IMAGES_PER_FOLDER:05d}/img{index:08d}.png"


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 H x W x 1|3|4 image (mode L, RGB or RGBA)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


class _ZipSink:
    """Adds files to an open zip (stored, not deflated: PNGs are compressed already)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def add(self, name: str, data: bytes) -> None:
        self._archive.writestr(name, data)


class _FolderSink:
    """Writes files under a folder."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def add(self, name: str, data: bytes) -> None:
        path = self._root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _refuse_existing(dest: Path) -> None:
    if dest.exists() or dest.is_symlink():
        raise DatasetError(f"Destination '{dest}' already exists; choose another `dest` or remove it first.")


@contextlib.contextmanager
def _open_sink(dest: Path) -> Iterator[_ZipSink | _FolderSink]:
    """A sink writing into a temp zip or folder beside `dest`, renamed onto `dest` on success only."""
    if dest.suffix.lower() == ".zip":
        with atomic_path(dest) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
                yield _ZipSink(archive)
            _refuse_existing(dest)
        return
    with atomic_dir(dest) as tmp:
        yield _FolderSink(tmp)
        _refuse_existing(dest)


@dataclass(frozen=True)
class WriteOptions:
    """How `write_dataset` picks and shapes images, checked when made (so a bad one fails before any
    reading).

    `resolution` is N (N x N), 'WxH' or (width, height); None keeps the source's size. `transform`
    (one of TRANSFORMS) says how images reach it. Items are taken in order, or permuted with
    np.random.RandomState(shuffle_seed) when a seed is given; then up to `max_images` readable images
    are written (with `skip_bad`, items whose load() raises DatasetError are skipped and counted
    instead of aborting). `channels` 1, 3 or 4 converts every image; `lods` adds the StyleGAN 1
    pyramid. `background` fills padding and lies under RGBA images converted to fewer channels.
    """

    resolution: int | str | Size | None = None
    transform: str = "none"
    max_images: int | None = None
    shuffle_seed: int | None = None
    channels: int | None = None
    lods: bool = False
    skip_bad: bool = False
    background: str | Colour = BLACK

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            choices = ", ".join(TRANSFORMS)
            raise OptionError(f"must be one of {choices}, not '{self.transform}'.", param="transform")
        if self.transform != "none" and self.resolution is None:
            raise OptionError(f"{self.transform} needs `resolution` N (the output size).", param="transform")
        size = self.size  # parse_size refuses a bad resolution
        if self.channels not in (None, 1, 3, 4):
            raise OptionError(
                f"must be 1 (gray), 3 (RGB) or 4 (RGBA), not {self.channels}.", param="channels"
            )
        if self.max_images is not None and self.max_images < 1:
            raise OptionError(f"must be at least 1, not {self.max_images}.", param="max_images")
        if self.lods and size is not None and size[0] != size[1]:
            raise OptionError(
                f"the StyleGAN 1 pyramid needs square images, not {size_text(size)}.", param="lods"
            )
        _ = self.colour  # parse_colour refuses a bad background

    @property
    def size(self) -> Size | None:
        """The output size (width, height), or None to keep the source's."""
        return None if self.resolution is None else parse_size(self.resolution)

    @property
    def colour(self) -> Colour:
        """`background` as an RGBA colour."""
        return parse_colour(self.background) if isinstance(self.background, str) else self.background


class _Labels:
    """Collects the labels of written images and checks they are all of one kind."""

    def __init__(self, names: list[str] | None = None) -> None:
        self.entries: list[list[Any]] = []
        self.names = names
        self._first: tuple[str, Any] | None = None

    def _kind(self, label: Any) -> tuple[str, int]:
        if label is None:
            return "none", 0
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            return "class", 0
        return "vector", len(label)

    def add(self, out_name: str, item: SourceItem) -> None:
        label = item.label
        if self._first is None:
            self._first = (item.name, label)
        elif self._kind(label) != self._kind(self._first[1]):
            first_name, first_label = self._first
            raise DatasetError(
                f"Image '{item.name}' has label {label!r} but '{first_name}' has {first_label!r}; "
                "every image needs a label of one kind (all class ints, all vectors of one length, or none). "
                "Fix the source's dataset.json."
            )
        if label is None:
            return
        if isinstance(label, (int, np.integer)):
            value: Any = int(label)
            if value < 0:
                raise DatasetError(f"Image '{item.name}' has negative class label {value}; fix the source.")
        else:
            value = [x.item() if isinstance(x, np.generic) else x for x in label]
        self.entries.append([out_name, value])

    def kind(self) -> str:
        return label_kind([value for _name, value in self.entries])

    def metadata(self) -> dict[str, Any]:
        """dataset.json's "labels" (multi-hot vectors stay ints, others become floats) and "label_names"."""
        if not self.entries:
            return {"labels": None}
        if self.kind() == "continuous":
            self.entries = [[name, [float(x) for x in value]] for name, value in self.entries]
        if self.names is None:
            return {"labels": self.entries}
        return {"labels": self.entries, "label_names": self.names}

    def num_classes(self) -> int | None:
        if not self.entries or not isinstance(self.entries[0][1], int):
            return None
        return max(value for _name, value in self.entries) + 1

    def label_dim(self) -> int | None:
        if not self.entries or isinstance(self.entries[0][1], int):
            return None
        return len(self.entries[0][1])


class _Shaper:
    """Turns raw source images into output images.

    What the options leave open (size, channel count) is taken from the first image, and every
    later image must then match it; an RGBA source without `channels` becomes RGB.
    """

    def __init__(self, size: Size | None, transform: str, channels: int | None, background: Colour) -> None:
        self.size = size
        self.transform = transform
        self.channels = channels
        self.background = background
        self._size_from_first = size is None
        self._channels_from_first = channels is None
        self._first: tuple[str, tuple[int, int]] | None = None

    def __call__(self, raw: np.ndarray, name: str) -> np.ndarray:
        image = normalize_channels(raw, name)
        height, width = image.shape[:2]
        if self._first is None:
            self._adopt_first(image, name)
        elif self._size_from_first and (width, height) != self._first[1]:
            first_name, (first_w, first_h) = self._first
            raise DatasetError(
                f"Image '{name}' is {width}x{height} but the first image '{first_name}' is "
                f"{first_w}x{first_h}; pass `resolution` N (or WxH) to resize every image."
            )
        elif self._channels_from_first and min(image.shape[2], 3) != self.channels:
            raise DatasetError(
                f"Image '{name}' has {image.shape[2]} channel(s) but the first image '{self._first[0]}' "
                f"has {self.channels}; pass `channels` 1, 3 or 4 to convert every image."
            )
        image = convert_channels(image, self.channels, self.background)
        return apply_transform(image, self.transform, self.size, name, self.background)

    def _adopt_first(self, image: np.ndarray, name: str) -> None:
        height, width = image.shape[:2]
        self._first = (name, (width, height))
        if self.size is None:
            check_image_size((width, height), f"Image '{name}'")
            self.size = (width, height)
        if self.channels is None:
            self.channels = min(image.shape[2], 3)


def write_dataset(
    items: Sequence[SourceItem],
    dest: str | os.PathLike[str],
    *,
    label_names: list[str] | None = None,
    source_name: str = "source",
    **options: Any,
) -> CreateReport:
    """Write `items` as a dataset at `dest` (a .zip file or a folder); see the module docstring.

    `options` are the fields of `WriteOptions` (resolution, transform, max_images, shuffle_seed,
    channels, lods, skip_bad, background), which says what each does.
    """
    dest = Path(dest)
    opts = WriteOptions(**options)
    _refuse_existing(dest)
    if not items:
        raise DatasetError(
            f"{source_name} holds no images; point `source` at a folder, zip or file with images."
        )
    order = np.arange(len(items))
    if opts.shuffle_seed is not None:
        order = np.random.RandomState(opts.shuffle_seed).permutation(len(items))
    limit = len(items) if opts.max_images is None else min(opts.max_images, len(items))

    shaper = _Shaper(opts.size, opts.transform, opts.channels, opts.colour)
    labels = _Labels(label_names)
    skipped: list[str] = []
    written = 0
    lod_resolutions: list[int] = []
    with _open_sink(dest) as sink:
        for index in progress(order, total=len(order), desc="Writing dataset"):
            if written == limit:
                break
            item = items[int(index)]
            try:
                raw = item.load()
            except DatasetError as exc:
                if not opts.skip_bad:
                    raise
                log.warning("Skipping unreadable image: %s", exc)
                skipped.append(item.name)
                continue
            image = shaper(raw, item.name)
            name = image_name(written)
            labels.add(name, item)
            sink.add(name, encode_png(image))
            if opts.lods:
                if shaper.size[0] != shaper.size[1]:
                    raise DatasetError(
                        f"Image '{item.name}' is {size_text(shaper.size)}; the StyleGAN 1 pyramid (lods) "
                        "needs square images: pass a square resolution or drop lods."
                    )
                levels = lod_pyramid(image, shaper.size[0].bit_length() - 3)
                for level, lod_image in enumerate(levels, start=1):
                    sink.add(f"lod{level}/{name}", encode_png(lod_image))
            written += 1
        if written == 0:
            raise DatasetError(
                f"No readable images in {source_name}: all {len(skipped)} were skipped as unreadable."
            )
        metadata = labels.metadata()
        if opts.lods:
            lod_resolutions = [shaper.size[0] >> level for level in range(shaper.size[0].bit_length() - 2)]
            metadata["lod_resolutions"] = lod_resolutions
        sink.add(METADATA_NAME, json.dumps(metadata).encode())
    return CreateReport(
        dest=dest,
        written=written,
        skipped=len(skipped),
        width=shaper.size[0],
        height=shaper.size[1],
        channels=shaper.channels,
        num_classes=labels.num_classes(),
        label_dim=labels.label_dim(),
        label_kind=labels.kind(),
        lod_resolutions=lod_resolutions,
        skipped_names=skipped,
    )


def create_dataset(
    source: str,
    dest: str | os.PathLike[str],
    *,
    labels_from_folders: bool = False,
    labels_from: str | os.PathLike[str] | None = None,
    **options: Any,
) -> CreateReport:
    """Read source `source` (see ganforge.data.sources.open_source) and write it as a dataset at `dest`.

    `labels_from` names a CSV file (see ganforge.data.formats.csv_labels) whose label vectors
    and label names replace the source's labels; `options` are those of `write_dataset`.
    """
    WriteOptions(**options)  # refuses a bad option before the source is read
    if labels_from is not None and labels_from_folders:
        raise OptionError("chooses the labels, as `labels_from_folders` does; pass one of them.",
                          param="labels_from")
    _refuse_existing(Path(dest))
    items = open_source(source, labels_from_folders=labels_from_folders)
    label_names = None
    if labels_from is not None:
        table = read_csv_labels(labels_from, [item.name for item in items])
        items = [replace(item, label=label) for item, label in zip(items, table.labels, strict=True)]
        label_names = table.names
    return write_dataset(items, dest, label_names=label_names, source_name=f"Source '{source}'", **options)
