"""Batched transformation matrices of the augmentations, one per sample: 2D affine maps of pixel
coordinates (3x3) and colour maps of homogeneous RGB (4x4), and applying the latter to images."""

from __future__ import annotations

from typing import Any

import torch


def matrix3(a: torch.Tensor, b: Any, c: Any, d: Any, e: Any, f: Any) -> torch.Tensor:
    """[N, 3, 3] affine matrices with rows [a b c], [d e f], [0 0 1]; scalars broadcast to `a`."""
    entries = [torch.as_tensor(v, dtype=a.dtype, device=a.device).expand_as(a) for v in (a, b, c, d, e, f)]
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([*entries, zero, zero, one], dim=-1).reshape(-1, 3, 3)


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """[N, 3, 3] translations by (tx, ty)."""
    return matrix3(torch.ones_like(tx), 0, tx, 0, 1, ty)


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """[N, 3, 3] scalings by (sx, sy)."""
    return matrix3(sx, 0, 0, 0, sy, 0)


def rotate2d(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """[N, 3, 3] rotations given the angles' cosines and sines."""
    return matrix3(cos, -sin, 0, sin, cos, 0)


def homogeneous3d(linear: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
    """[N, 4, 4] colour matrices from [N, 3, 3] linear parts and optional [N, 3] offsets."""
    n = linear.shape[0]
    m = torch.zeros([n, 4, 4], dtype=linear.dtype, device=linear.device)
    m[:, :3, :3] = linear
    if offset is not None:
        m[:, :3, 3] = offset
    m[:, 3, 3] = 1
    return m


def apply_colour(x: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """Apply [M, 4, 4] colour matrices to RGB images, or to the luma of 1-channel images."""
    m, channels, height, width = x.shape
    x = x.reshape(m, channels, height * width)
    if channels == 3:
        x = colour[:, :3, :3] @ x + colour[:, :3, 3:]
    else:  # a grey pixel g is (g, g, g); take the mean of the three output channels
        gain = colour[:, :3, :3].sum(dim=2).mean(dim=1)
        offset = colour[:, :3, 3].mean(dim=1)
        x = x * gain[:, None, None] + offset[:, None, None]
    return x.reshape(m, channels, height, width)
