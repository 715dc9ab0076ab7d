"""R3GAN's generator and discriminator: plain ResNets of `Stage`s, conditioned through a linear
embedding of the labels (concatenated to z in G, projected onto D's features)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.models.r3gan.layers import (
    Conv,
    DiscriminativeBasis,
    Downsample,
    GenerativeBasis,
    ResidualBlock,
    Stage,
    Upsample,
    msr_init_,
)
from ganforge.ops.direct import DirectDiscriminator, DirectGenerator
from ganforge.ops.init_args import keeps_init_args, records_init_args


def check_stages(widths: Sequence[int], cardinalities: Sequence[int], blocks: Sequence[int], expansion: int,
                 img_resolution: int, c_dim: int, embed_dim: int, bf16_stages: Sequence[int]) -> None:
    """Refuse per-stage lists of different lengths, a resolution the stages do not make, widths the
    groups do not divide, a conditional network without an embedding and bf16 stages out of range."""
    if not widths or not len(widths) == len(cardinalities) == len(blocks):
        raise ValueError(
            f"widths, cardinalities and blocks need one entry per stage, got {len(widths)}, "
            f"{len(cardinalities)} and {len(blocks)}"
        )
    if img_resolution != 4 * 2 ** (len(widths) - 1):
        raise ValueError(
            f"{len(widths)} stages make {4 * 2 ** (len(widths) - 1)} px images, not img_resolution "
            f"{img_resolution}"
        )
    if min(widths) < 1 or min(cardinalities) < 1 or min(blocks) < 0:
        raise ValueError("widths and cardinalities must be positive and blocks non-negative")
    for width, groups in zip(widths, cardinalities, strict=True):
        if width * expansion % groups != 0:
            raise ValueError(f"a stage of {width} x {expansion} channels cannot split into {groups} groups")
    if c_dim > 0 and embed_dim <= 0:
        raise ValueError("a conditional R3GAN network (c_dim > 0) needs embed_dim > 0")
    if any(not -len(widths) <= i < len(widths) for i in bf16_stages):
        raise ValueError(f"bf16_stages {list(bf16_stages)} has indices outside the {len(widths)} stages")


def stage_dtypes(count: int, bf16_stages: Sequence[int]) -> list[torch.dtype]:
    """The compute dtype of each of `count` stages: bfloat16 for those listed (negative counts
    from the end), float32 for the rest."""
    chosen = {i % count for i in bf16_stages}
    return [torch.bfloat16 if i in chosen else torch.float32 for i in range(count)]


@records_init_args
@keeps_init_args("z_dim", "c_dim", "img_resolution", "img_channels")
class Generator(DirectGenerator):
    """R3GAN generator, G(z, c) -> images [N, img_channels, R, R] in about [-1, 1].

    Stage 0 is the 4x4 generative basis; each later stage upsamples 2x. Per-stage lists run from
    4x4 up to the output resolution.
    """

    family = "R3GAN"

    def __init__(
        self,
        z_dim: int,                             # Input latent (Z) dimensionality (R3GAN: NoiseDimension).
        c_dim: int,                             # Conditioning label (C) dimensionality, 0 = no labels.
        img_resolution: int,                    # Output resolution: 4 * 2 ** (stages - 1).
        widths: Sequence[int],                  # Channels per stage (WidthPerStage).
        cardinalities: Sequence[int],           # Groups of each block's KxK conv per stage.
        blocks: Sequence[int],                  # Residual blocks per stage.
        img_channels: int = 3,                  # Number of output color channels.
        expansion: int = 2,                     # Channel expansion inside a residual block.
        embed_dim: int = 0,                     # Label embedding size concatenated to z (c_dim > 0).
        kernel_size: int = 3,                   # Size of the blocks' grouped convolution.
        resample_filter: Sequence[float] = (1, 2, 1),  # Low-pass taps of the 2x upsampler.
        bf16_stages: Sequence[int] = (),        # Stages computed in bfloat16 (R3GAN: FP16Stages).
    ) -> None:
        super().__init__()
        check_stages(widths, cardinalities, blocks, expansion, img_resolution, c_dim, embed_dim, bf16_stages)
        scale = sum(blocks)
        dtypes = stage_dtypes(len(widths), bf16_stages)
        stages = []
        for i, (width, groups, count) in enumerate(zip(widths, cardinalities, blocks, strict=True)):
            first = (GenerativeBasis(z_dim + (embed_dim if c_dim else 0), width) if i == 0
                     else Upsample(widths[i - 1], width, resample_filter))
            body = [ResidualBlock(width, groups, expansion, kernel_size, scale) for _ in range(count)]
            stages.append(Stage([first, *body], dtypes[i]))
        self.stages = nn.ModuleList(stages)
        self.to_rgb = Conv(widths[-1], img_channels)
        self.embed = nn.Linear(c_dim, embed_dim, bias=False) if c_dim else None
        if self.embed is not None:
            msr_init_(self.embed.weight)

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images (float32) for standard-normal z, with the label embedding concatenated."""
        x = z
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels)], dim=1)
        for stage in self.stages:
            x = stage(x)
        return self.to_rgb(x).to(torch.float32)


@records_init_args
@keeps_init_args("c_dim", "img_resolution", "img_channels")
class Discriminator(DirectDiscriminator):
    """R3GAN discriminator, D(img, c) -> logits [N, 1] (real: high).

    Per-stage lists run from the input resolution down to 4x4 (R3GAN's order, G's reversed); the
    last stage ends in the discriminative basis. A conditional D projects its features onto a
    linear embedding of the labels.
    """

    family = "R3GAN"

    def __init__(
        self,
        c_dim: int,                             # Conditioning label (C) dimensionality, 0 = no labels.
        img_resolution: int,                    # Input resolution: 4 * 2 ** (stages - 1).
        widths: Sequence[int],                  # Channels per stage, from the image inwards.
        cardinalities: Sequence[int],           # Groups of each block's KxK conv per stage.
        blocks: Sequence[int],                  # Residual blocks per stage.
        img_channels: int = 3,                  # Number of input color channels.
        expansion: int = 2,                     # Channel expansion inside a residual block.
        embed_dim: int = 0,                     # Label embedding size = D's output features (c_dim > 0).
        kernel_size: int = 3,                   # Size of the blocks' grouped convolution.
        resample_filter: Sequence[float] = (1, 2, 1),  # Low-pass taps of the 2x downsampler.
        bf16_stages: Sequence[int] = (),        # Stages computed in bfloat16 (R3GAN: FP16Stages).
    ) -> None:
        super().__init__()
        check_stages(widths, cardinalities, blocks, expansion, img_resolution, c_dim, embed_dim, bf16_stages)
        scale = sum(blocks)
        dtypes = stage_dtypes(len(widths), bf16_stages)
        self.from_rgb = Conv(img_channels, widths[0])
        stages = []
        for i, (width, groups, count) in enumerate(zip(widths, cardinalities, blocks, strict=True)):
            body: list[nn.Module] = [ResidualBlock(width, groups, expansion, kernel_size, scale)
                                     for _ in range(count)]
            last = (DiscriminativeBasis(width, embed_dim if c_dim else 1) if i == len(widths) - 1
                    else Downsample(width, widths[i + 1], resample_filter))
            stages.append(Stage([*body, last], dtypes[i]))
        self.stages = nn.ModuleList(stages)
        self.embed = nn.Linear(c_dim, embed_dim, bias=False) if c_dim else None
        if self.embed is not None:
            msr_init_(self.embed.weight, 1 / math.sqrt(embed_dim))

    def score(self, img: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Logits (float32), projected onto the label embedding when conditional."""
        x = self.from_rgb(img.to(self.stages[0].dtype))
        for stage in self.stages:
            x = stage(x)
        x = x.to(torch.float32)
        if self.embed is not None:
            x = (x * self.embed(labels)).sum(dim=1, keepdim=True)
        return x
