"""The official calls G(z, c, truncation_psi, truncation_cutoff, noise_mode) and D(img, c) for
families whose generator draws images from z directly, without a mapping network or noise inputs
(DCGAN, R3GAN): the arguments are checked here once; a family implements `synthesize` and `score`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ganforge.errors import OptionError


def check_labels(c: torch.Tensor | None, c_dim: int, n: int, family: str) -> torch.Tensor | None:
    """c as float [n, c_dim] for a conditional network, None for an unconditional one."""
    if c_dim == 0:
        return None
    if c is None or tuple(c.shape) != (n, c_dim):
        got = None if c is None else list(c.shape)
        raise ValueError(f"a conditional {family} network needs labels c of shape [{n}, {c_dim}], got {got}")
    return c.to(torch.float32)


class DirectGenerator(nn.Module):
    """G(z, c) -> images with the official keyword arguments; subclasses set `z_dim`, `c_dim` and
    implement `synthesize(z, labels)`."""

    family: ClassVar[str]
    z_dim: int
    c_dim: int

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Images for standard-normal z [N, z_dim] and labels c [N, c_dim] (ignored when unconditional).

        There is no average latent to truncate toward and no noise input: `truncation_psi` other
        than 1 raises `OptionError`; `truncation_cutoff` and `noise_mode` are accepted and have no effect.
        """
        if truncation_psi != 1:
            raise OptionError(
                f"truncation is not defined for {self.family} (no average latent to truncate toward); "
                f"leave it at 1, not {truncation_psi:g}", param="truncation_psi"
            )
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        return self.synthesize(z.to(torch.float32), check_labels(c, self.c_dim, z.shape[0], self.family))

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images for float32 z [N, z_dim] and checked float32 labels (None when unconditional)."""
        raise NotImplementedError


class DirectDiscriminator(nn.Module):
    """D(img, c) -> logits [N, 1] (real: high); subclasses set `c_dim`, `img_channels` and
    `img_resolution` (and `img_width`, `img_height` when not square) and implement `score`."""

    family: ClassVar[str]
    c_dim: int
    img_channels: int
    img_resolution: int

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N, 1] for images [N, img_channels, H, W] in [-1, 1] and labels c [N, c_dim]."""
        height = getattr(self, "img_height", self.img_resolution)
        width = getattr(self, "img_width", self.img_resolution)
        expected = [self.img_channels, height, width]
        if img.ndim != 4 or list(img.shape[1:]) != expected:
            raise ValueError(f"img must have shape [N, *{expected}], got {list(img.shape)}")
        return self.score(img, check_labels(c, self.c_dim, img.shape[0], self.family))

    def score(self, img: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Logits for checked images and float32 labels (None when unconditional)."""
        raise NotImplementedError
