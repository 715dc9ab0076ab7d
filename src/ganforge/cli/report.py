"""The one-line summaries commands print about the files they wrote."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ganforge.tools.generate import GRID_NAME


def images_written(paths: Sequence[Path], where: str | os.PathLike[str]) -> str:
    """'Wrote 4 images and grid.png to out' (or '... and 3 grids ...'): grids are not counted as images."""
    grids = sum(path.name == GRID_NAME for path in paths)
    images = len(paths) - grids
    line = f"Wrote {images} image{'' if images == 1 else 's'}"
    if grids == 1:
        line += f" and {GRID_NAME}"
    elif grids > 1:
        line += f" and {grids} grids"
    return f"{line} to {where}"
