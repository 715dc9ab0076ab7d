"""`dataset info`: what a dataset zip or folder holds, checked with the same reader training uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganforge.data.dataset import ImageDataset


@dataclass(frozen=True)
class DatasetInfo:
    """Summary of a dataset in the StyleGAN2-ADA layout."""

    path: Path
    num_images: int  # top-level images only (pyramid levels under lod*/ are not counted)
    width: int
    height: int
    channels: int
    label_kind: str  # one of ganforge.data.formats.labels.LABEL_KINDS
    label_dim: int  # number of classes, vector length, or 0 without labels
    label_names: list[str]  # from dataset.json, or empty
    class_counts: list[int]  # images per class 0..label_dim-1 for int labels, else empty
    lod_resolutions: list[int]  # [R, R/2, ..., 4] when the dataset has a pyramid, else empty

    @property
    def resolution(self) -> int | None:
        """The side of square images; None for non-square ones."""
        return self.width if self.width == self.height else None

    def lines(self) -> list[str]:
        """Human-readable description, one fact per line."""
        labels = {
            "none": "none",
            "class": f"{self.label_dim} classes (int)",
            "multi-hot": f"multi-hot, {self.label_dim} labels (0/1 vectors)",
            "continuous": f"continuous, {self.label_dim}-d float vectors",
        }[self.label_kind]
        out = [
            f"Dataset:     {self.path}",
            f"Images:      {self.num_images}",
            f"Resolution:  {self.width}x{self.height}",
            f"Channels:    {self.channels}" + (" (RGBA)" if self.channels == 4 else ""),
            f"Labels:      {labels}",
        ]
        if self.label_names:
            out.append("Label names: " + ", ".join(self.label_names))
        if self.class_counts:
            out.append("Classes:     " + ", ".join(f"{c}: {n}" for c, n in enumerate(self.class_counts)))
        if self.lod_resolutions:
            out.append("LOD levels:  " + ", ".join(str(r) for r in self.lod_resolutions))
        return out


def dataset_info(path: str | os.PathLike[str], sample: int = 16) -> DatasetInfo:
    """Describe the dataset at `path`, decoding `sample` evenly spaced images to verify their shape.

    Raises DatasetError (naming the file) for a missing path, a file that is not a dataset, an
    unreadable zip, a malformed dataset.json, labels naming missing files, or mismatched images.
    """
    path = Path(path)
    dataset = ImageDataset(path, use_labels=True)
    count = len(dataset)
    for index in np.unique(np.linspace(0, count - 1, min(sample, count)).round().astype(np.int64)):
        dataset[int(index)]  # decodes and checks the shape against the first image
    label_dim, class_counts = dataset.label_dim if dataset.has_labels else 0, []
    if dataset.label_kind == "class":
        classes = [int(dataset.get_details(i).raw_label) for i in range(count)]
        class_counts = np.bincount(classes, minlength=label_dim).tolist()
    lod_resolutions = []
    if len(dataset.available_lods) > 1:
        lod_resolutions = [dataset.resolution] + [
            _level_resolution(path, lod) for lod in dataset.available_lods[1:]
        ]
    dataset.close()
    return DatasetInfo(
        path=path,
        num_images=count,
        width=dataset.width,
        height=dataset.height,
        channels=dataset.num_channels,
        label_kind=dataset.label_kind,
        label_dim=label_dim,
        label_names=dataset.label_names,
        class_counts=class_counts,
        lod_resolutions=lod_resolutions,
    )


def _level_resolution(path: Path, lod: int) -> int:
    """Resolution of pyramid level `lod`, checked by the dataset reader against dataset.json."""
    level = ImageDataset(path, lod=lod)
    level.close()
    return level.resolution


def sample_images(path: str | os.PathLike[str], count: int = 64, seed: int = 0) -> np.ndarray:
    """Up to `count` distinct images of the dataset, chosen with np.random.RandomState(seed): uint8 NCHW."""
    dataset = ImageDataset(Path(path))
    picks = np.random.RandomState(seed).choice(len(dataset), size=min(count, len(dataset)), replace=False)
    images = np.stack([dataset[int(i)][0] for i in picks])
    dataset.close()
    return images
