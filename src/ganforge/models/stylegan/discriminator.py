"""StyleGAN (2019) discriminator, the original D_basic: a FromRGB layer per level of detail, blocks of
a 3x3 conv and a blurred 2x downscaling 3x3 conv down to 8x8, then at 4x4 the minibatch standard
deviation, a 3x3 conv and two dense layers. Labels condition it by projection: the last layer has
one output per label and the score is their sum weighted by the label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.models.stylegan.layers import (
    Blur,
    Conv2d,
    Dense,
    lerp_clip,
    progressive_layout,
    use_fused,
)
from ganforge.ops.init_args import keeps_init_args, records_init_args
from ganforge.ops.minibatch_std import MinibatchStdLayer
from ganforge.ops.scale2d import downscale2d


class DiscriminatorBlock(nn.Module):
    """One resolution >= 8: conv0 (3x3) then blur and conv1 (3x3, 2x downscaling), each with bias
    and activation (TF 'Conv0' and 'Conv1_down')."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        resolution: int,
        activation: str,
        use_wscale: bool,
        fused: bool,
        blur_filter: Sequence[float] | None,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        common = {"gain": math.sqrt(2), "use_wscale": use_wscale, "activation": activation}
        self.conv0 = Conv2d(in_channels, in_channels, 3, **common)
        self.blur = Blur(blur_filter) if blur_filter else None
        self.conv1 = Conv2d(in_channels, out_channels, 3, resample="down", fused=fused, **common)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        if self.blur is not None:
            x = self.blur(x)
        return self.conv1(x)


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: [minibatch std] -> conv (3x3) -> dense0 -> dense1 (one output per label, else 1)."""

    def __init__(
        self,
        in_channels: int,
        hidden_features: int,
        out_features: int,
        activation: str,
        use_wscale: bool,
        mbstd_group_size: int,
        mbstd_num_features: int,
    ) -> None:
        super().__init__()
        # As the original, group sizes 0 and 1 turn the minibatch std layer off.
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_features) if mbstd_group_size > 1 else None
        extra = mbstd_num_features if self.mbstd is not None else 0
        common = {"gain": math.sqrt(2), "use_wscale": use_wscale, "activation": activation}
        self.conv = Conv2d(in_channels + extra, in_channels, 3, **common)
        self.dense0 = Dense(in_channels * 16, hidden_features, **common)
        self.dense1 = Dense(hidden_features, out_features, gain=1, use_wscale=use_wscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.dense1(self.dense0(self.conv(x)))


@records_init_args
@keeps_init_args("c_dim", "img_resolution", "img_channels", "structure")
class Discriminator(nn.Module):
    """StyleGAN discriminator D(img, c) -> scores [N, 1].

    Blocks ``b{res}`` run from img_resolution down to 8, ``b4`` is the epilogue; ``fromrgb[lod]``
    reads the image of resolution img_resolution / 2**lod. With structure 'linear' the buffer `lod`
    fades between levels as the original: at each resolution the block output is lerped (clamped)
    towards fromrgb of the 2x box-downscaled image by lod - level. 'fixed' has only ``fromrgb[0]``
    and ignores `lod`. Defaults give the original 1024x1024 D_basic (23,087,249 parameters).
    """

    def __init__(
        self,
        c_dim: int,
        img_resolution: int,
        img_channels: int,
        fmap_base: int = 8192,
        fmap_decay: float = 1.0,
        fmap_max: int = 512,
        structure: str = "linear",
        activation: str = "lrelu",
        use_wscale: bool = True,
        mbstd_group_size: int = 4,
        mbstd_num_features: int = 1,
        fused_scale: bool | str = "auto",
        blur_filter: Sequence[float] | None = (1, 2, 1),
    ) -> None:
        super().__init__()
        log2, nf = progressive_layout(img_resolution, structure, activation, fmap_base, fmap_decay, fmap_max)
        self.img_resolution_log2 = log2
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        self.register_buffer("lod", torch.zeros([]))

        num_fromrgb = log2 - 1 if structure == "linear" else 1
        self.fromrgb = nn.ModuleList(
            Conv2d(img_channels, nf(log2 - lod - 1), 1, gain=math.sqrt(2), use_wscale=use_wscale,
                   activation=activation)
            for lod in range(num_fromrgb)
        )
        for res in self.block_resolutions:
            stage = int(math.log2(res))
            block = DiscriminatorBlock(nf(stage - 1), nf(stage - 2), res, activation=activation,
                                       use_wscale=use_wscale, fused=use_fused(fused_scale, res),
                                       blur_filter=blur_filter)
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(nf(1), nf(0), max(c_dim, 1), activation=activation,
                                        use_wscale=use_wscale, mbstd_group_size=mbstd_group_size,
                                        mbstd_num_features=mbstd_num_features)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """Scores [N, 1] for images [N, img_channels, R, R] and labels c [N, c_dim] (ignored if c_dim=0)."""
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            shape = ", ".join(map(str, expected))
            raise ValueError(f"img must have shape [N, {shape}], got {list(img.shape)}")
        img = img.to(torch.float32)
        x = self.fromrgb[0](img)
        for lod, res in enumerate(self.block_resolutions):
            x = getattr(self, f"b{res}")(x)
            if self.structure == "linear":
                img = downscale2d(img)
                x = lerp_clip(x, self.fromrgb[lod + 1](img), self.lod - lod)
        scores = self.b4(x)
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                got = None if c is None else list(c.shape)
                raise ValueError(f"c must have shape [N, {self.c_dim}], got {got}")
            scores = (scores * c.to(torch.float32)).sum(dim=1, keepdim=True)
        return scores
