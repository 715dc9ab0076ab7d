"""The image-resolution check every StyleGAN network does on its `img_resolution` argument."""

from __future__ import annotations

import math


def resolution_log2(resolution: int, minimum: int = 4) -> int:
    """log2 of a power-of-two resolution >= `minimum` (ValueError otherwise)."""
    log2 = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < minimum or 2**log2 != resolution:
        raise ValueError(f"img_resolution must be a power of two >= {minimum}, got {resolution}")
    return log2
