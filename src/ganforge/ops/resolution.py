"""The image-resolution checks every StyleGAN network does on its `img_resolution` (and `img_aspect`)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def resolution_log2(resolution: int, minimum: int = 4) -> int:
    """log2 of a power-of-two resolution >= `minimum` (ValueError otherwise)."""
    log2 = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < minimum or 2**log2 != resolution:
        raise ValueError(f"img_resolution must be a power of two >= {minimum}, got {resolution}")
    return log2


ASPECTS = (1, 2, 4)
"""How many times wider (or higher) than the square network a non-square one may be."""


def check_aspect(img_aspect: Sequence[int]) -> None:
    """ValueError unless `img_aspect` is (width, height) multipliers, one 1 and the other 1, 2 or 4."""
    if len(img_aspect) != 2 or min(img_aspect) != 1 or max(img_aspect) not in ASPECTS:
        raise ValueError(f"img_aspect must be (1, 1), (2, 1), (4, 1), (1, 2) or (1, 4), got {img_aspect}")
