"""The style-based generator G(z, c) = synthesis(mapping(z, c)) that StyleGAN (2019) and StyleGAN2
share: the official constructor arguments and attributes, and the two sub-networks built from them.

A family's `Generator` subclasses `StyleGenerator`, naming its mapping and synthesis classes. The
synthesis network is built first (it decides `num_ws`), as in the official releases, so parameter
names and their order are theirs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ganforge.ops.init_args import keeps_init_args


@keeps_init_args("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
class StyleGenerator(nn.Module):
    """G(z, c) = synthesis(mapping(z, c)) with a family's `mapping_class` and `synthesis_class`.

    The synthesis class takes (w_dim, img_resolution, img_channels, **synthesis_kwargs) and has
    `num_ws` (and `img_width`, `img_height` when its images need not be square); the mapping class
    takes (z_dim, c_dim, w_dim, num_ws, **mapping_kwargs).
    """

    mapping_class: ClassVar[type[nn.Module]]
    synthesis_class: ClassVar[type[nn.Module]]

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        synthesis_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.synthesis = self.synthesis_class(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **(synthesis_kwargs or {})
        )
        self.img_width = getattr(self.synthesis, "img_width", img_resolution)
        self.img_height = getattr(self.synthesis, "img_height", img_resolution)
        self.num_ws: int = self.synthesis.num_ws
        self.mapping = self.mapping_class(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **(mapping_kwargs or {})
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        **synthesis_kwargs: Any,
    ) -> torch.Tensor:
        """Images for latents z [N, z_dim] and labels c [N, c_dim]; `synthesis_kwargs` (noise_mode,
        force_fp32, ...) go to the synthesis network."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)
