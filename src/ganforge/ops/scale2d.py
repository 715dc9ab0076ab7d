"""Nearest-neighbour upscaling and box-filter downscaling of NCHW images by integer factors.

The resampling of StyleGAN (2019) and of progressive growing (the training fade between levels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upscaling of NCHW images by an integer factor."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Box-filter downscaling of NCHW images (mean of each factor x factor block)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)
