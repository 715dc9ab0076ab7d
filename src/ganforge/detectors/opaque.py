"""4-channel (RGBA) images for the detectors, which know RGB only: metrics and the projector lay
every real, generated or target RGBA image over one fixed background, white, before it reaches a
detector (what the transparent parts look like on a white page). Other images pass unchanged."""

from __future__ import annotations

import torch

BACKGROUND = 255
"""The gray level (0-255) under transparent pixels when metrics composite RGBA images."""


def opaque_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW images with an alpha channel -> RGB composited on BACKGROUND (rounded); others as is."""
    if images.shape[1] != 4:
        return images
    alpha = images[:, 3:].float() / 255
    mixed = images[:, :3].float() * alpha + BACKGROUND * (1 - alpha)
    return mixed.round().clamp(0, 255).to(torch.uint8)


def opaque_float(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] with an alpha channel -> RGB composited on BACKGROUND; others as is."""
    if images.shape[1] != 4:
        return images
    alpha = (images[:, 3:] + 1) / 2
    return images[:, :3] * alpha + (BACKGROUND / 127.5 - 1) * (1 - alpha)


def opaque_255(images: torch.Tensor) -> torch.Tensor:
    """Float NCHW images in [0, 255] with an alpha channel -> RGB composited on BACKGROUND; others as is."""
    if images.shape[1] != 4:
        return images
    alpha = images[:, 3:] / 255
    return images[:, :3] * alpha + BACKGROUND * (1 - alpha)
