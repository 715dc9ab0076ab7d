"""The unit every source reader yields, and a shared in-memory image store for single-file sources."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Label = int | list[int] | list[float] | None
"""A class index, a multi-hot 0/1 vector, a vector of numbers, or no label."""


@dataclass(frozen=True)
class SourceItem:
    """One image of a source: a name for messages, a lazy decoder and its label.

    `load()` returns uint8 H x W x C with C in {1, 3, 4} and raises DatasetError naming the
    file when the image is corrupt, so a bad file is reported when it is reached, not at listing.
    """

    name: str
    load: Callable[[], np.ndarray]
    label: Label


class ImageStack:
    """All images of a single-file source (IDX, CIFAR) kept in memory, read once per process.

    Pickling keeps only the path and the reader, so worker processes re-read the file once
    instead of receiving a copy of every image with every item.
    """

    def __init__(self, path: Path, reader: Callable[[Path], np.ndarray], images: np.ndarray | None = None):
        self._path = path
        self._reader = reader
        self._images = images
        self._lock = threading.Lock()

    def image(self, index: int) -> np.ndarray:
        """Image `index` as a fresh uint8 H x W x C array."""
        with self._lock:
            if self._images is None:
                self._images = self._reader(self._path)
            return self._images[index].copy()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self._path, "reader": self._reader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["reader"])

