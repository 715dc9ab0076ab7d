"""Pixel-norm style scaling to unit mean square, applied to latents and embedded labels by every family."""

from __future__ import annotations

import torch


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale `x` to unit mean square along `dim` (used on z and on the embedded label)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
