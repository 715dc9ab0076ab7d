"""`demo:digits`: the 1,797 8 x 8 handwritten digits bundled with scikit-learn, upscaled to 32 x 32.

A dataset that is always at hand (no download), small enough to train on a laptop in minutes.
The CSV is read straight from the installed package so scikit-learn itself is never imported.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data.formats.item import SourceItem
from ganforge.errors import DatasetError

RESOLUTION = 32
_MAX_VALUE = 16  # the bundled pixels are counts 0..16 of a 4 x 4 block of the 32 x 32 original


def _digits_csv() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("demo:digits needs scikit-learn installed (pip install scikit-learn).")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DatasetError(f"demo:digits: {path} is missing from the scikit-learn installation.")
    return path


def _upscale(small: np.ndarray) -> np.ndarray:
    """One 8 x 8 uint8 digit resized to 32 x 32 x 1 with bicubic filtering."""
    big = Image.fromarray(small).resize((RESOLUTION, RESOLUTION), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.uint8)[:, :, None]


def open_digits() -> list[SourceItem]:
    """The scikit-learn digits as 32 x 32 gray items labelled 0-9."""
    path = _digits_csv()
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    if rows.ndim != 2 or rows.shape[1] != 65:
        raise DatasetError(f"demo:digits: {path} has shape {rows.shape}, expected N x 65.")
    pixels = np.rint(rows[:, :64] * (255 / _MAX_VALUE)).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8)
    return [
        SourceItem(name=f"digits[{i}]", load=partial(_upscale, small), label=int(target))
        for i, (small, target) in enumerate(zip(pixels, rows[:, 64], strict=True))
    ]
