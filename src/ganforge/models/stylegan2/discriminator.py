"""StyleGAN2-ADA discriminator: residual/skip/plain blocks from the image resolution down to 8x8,
then a 4x4 epilogue with minibatch standard deviation and an optional label projection.

Constructor arguments, attribute names and parameter/buffer names follow the official StyleGAN2-ADA
release, so its weights load with ``load_state_dict(strict=True)``. ganforge's one addition,
``epilogue_kwargs={"img_aspect": (aw, ah)}``, reads non-square images: every block sees maps aw
times as wide and ah times as high as the square network's and the epilogue ends on 4ah x 4aw
(`img_resolution` is the shorter side); the default (1, 1) is the official square network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ganforge.models.stylegan2.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    MappingNetwork,
    check_architecture,
)
from ganforge.ops.init_args import keeps_init_args, records_init_args
from ganforge.ops.minibatch_std import MinibatchStdLayer
from ganforge.ops.precision import block_dtype
from ganforge.ops.resolution import check_aspect, resolution_log2
from ganforge.ops.upfirdn2d import downsample2d, setup_filter


def _check_shape(
    name: str, t: torch.Tensor, channels: int, resolution: int, aspect: Sequence[int] = (1, 1)
) -> None:
    """Raise a clear error when `t` is not [N, channels, resolution * aspect height, * aspect width]."""
    height, width = resolution * aspect[1], resolution * aspect[0]
    if t.ndim != 4 or tuple(t.shape[1:]) != (channels, height, width):
        raise ValueError(f"{name} must have shape [N, {channels}, {height}, {width}], got {list(t.shape)}")


@keeps_init_args("in_channels", "resolution", "img_channels", "first_layer_idx", "architecture", "use_fp16")
class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator: [fromrgb] -> conv0 (3x3) -> conv1 (3x3, down 2).

    'resnet' adds a 1x1 strided skip path, both branches scaled by sqrt(1/2); 'skip' feeds the
    (filtered, downsampled) image into every block through its own fromrgb.
    """

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        first_layer_idx: int,
        architecture: str = "resnet",
        activation: str = "lrelu",
        resample_filter: list[int] | None = None,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        freeze_layers: int = 0,
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        if in_channels not in (0, tmp_channels):
            raise ValueError(
                f"in_channels must be 0 (first block) or tmp_channels={tmp_channels}, got {in_channels}"
            )
        resample_filter = [1, 3, 3, 1] if resample_filter is None else list(resample_filter)
        self.img_aspect = tuple(img_aspect)
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))

        # Layers are numbered across the whole discriminator (fromrgb, conv0, conv1, skip per block);
        # Freeze-D keeps the first `freeze_layers` of them fixed.
        has_fromrgb = in_channels == 0 or architecture == "skip"
        names = ["fromrgb"] * has_fromrgb + ["conv0", "conv1"] + ["skip"] * (architecture == "resnet")
        self.num_layers = len(names)
        trainable = {name: first_layer_idx + i >= freeze_layers for i, name in enumerate(names)}
        common: dict[str, Any] = dict(channels_last=self.channels_last)

        if has_fromrgb:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       conv_clamp=conv_clamp, trainable=trainable["fromrgb"], **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 conv_clamp=conv_clamp, trainable=trainable["conv0"], **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp,
                                 trainable=trainable["conv1"], **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter, trainable=trainable["skip"], **common)

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        force_fp32: bool = False,
        force_fp16: bool = False,
        half_dtype: torch.dtype = torch.float16,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Map features `x` (None for the first block) and image `img` to half-resolution features
        and the image for the next block (None unless architecture is 'skip')."""
        ref = x if x is not None else img
        if ref is None:
            raise ValueError("DiscriminatorBlock needs features x or an image img")
        dtype = block_dtype(self.use_fp16, ref.device, force_fp32, force_fp16, half_dtype)
        fp16 = dtype != torch.float32
        # Channels-last also for float32 CPU inference: oneDNN's forward convolutions run markedly
        # faster in it, but its weight gradients slower, which cancels the gain in training (measured).
        # Half precision keeps the official layout: the layout picks the kernel, and so the rounding.
        cpu = ref.device.type == "cpu" and not torch.is_grad_enabled() and not fp16
        channels_last = (self.channels_last and fp16) or cpu
        memory_format = torch.channels_last if channels_last else torch.contiguous_format

        if x is not None:
            _check_shape("x", x, self.in_channels, self.resolution, self.img_aspect)
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0 or self.architecture == "skip":
            if img is None:
                raise ValueError(f"block b{self.resolution} needs the image input")
            _check_shape("img", img, self.img_channels, self.resolution, self.img_aspect)
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None

        if self.architecture == "resnet":
            half = math.sqrt(0.5)
            shortcut = self.skip(x, gain=half)
            x = shortcut + self.conv1(self.conv0(x), gain=half)
        else:
            x = self.conv1(self.conv0(x))
        return x, img


@keeps_init_args("in_channels", "cmap_dim", "resolution", "img_channels", "architecture")
class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: [fromrgb] -> minibatch std -> conv 3x3 -> fc -> out, then the label projection
    ``sum(out * cmap) / sqrt(cmap_dim)`` when conditional. Always float32."""

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        mbstd_group_size: int | None = 4,
        mbstd_num_channels: int = 1,
        activation: str = "lrelu",
        conv_clamp: float | None = None,
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        self.img_aspect = tuple(img_aspect)

        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = (
            MinibatchStdLayer(group_size=mbstd_group_size, num_channels=mbstd_num_channels)
            if mbstd_num_channels > 0 else None
        )
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3,
                                activation=activation, conv_clamp=conv_clamp)
        features = in_channels * resolution**2 * img_aspect[0] * img_aspect[1]
        self.fc = FullyConnectedLayer(features, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        """Scores [N, 1] from 4x4 features (plus the 4x4 image for 'skip', the mapped label if any)."""
        _check_shape("x", x, self.in_channels, self.resolution, self.img_aspect)
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            if img is None:
                raise ValueError("the skip-architecture epilogue needs the 4x4 image input")
            _check_shape("img", img, self.img_channels, self.resolution, self.img_aspect)
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))

        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)

        if self.cmap_dim > 0:
            if cmap is None or tuple(cmap.shape[1:]) != (self.cmap_dim,):
                got = None if cmap is None else list(cmap.shape)
                raise ValueError(f"cmap must have shape [N, {self.cmap_dim}], got {got}")
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


@records_init_args
@keeps_init_args("c_dim", "img_resolution", "img_channels")
class Discriminator(nn.Module):
    """StyleGAN2-ADA discriminator D(img, c) -> [N, 1] real/fake scores.

    Blocks ``b{res}`` run from `img_resolution` down to 8 with ``min(channel_base // res, channel_max)``
    channels; ``b4`` is the epilogue. With ``c_dim > 0`` a `MappingNetwork` embeds the label into a
    `cmap_dim` vector (default: the 4x4 channel count) that the final scores are projected onto.
    The `num_fp16_res` highest resolutions run in float16 on CUDA (on any device with `force_fp16`).
    """

    def __init__(
        self,
        c_dim: int,
        img_resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        cmap_dim: int | None = None,
        block_kwargs: dict[str, Any] | None = None,
        mapping_kwargs: dict[str, Any] | None = None,
        epilogue_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_architecture(architecture)
        log2 = resolution_log2(img_resolution, minimum=8)
        block_kwargs = dict(block_kwargs or {})
        mapping_kwargs = dict(mapping_kwargs or {})
        epilogue_kwargs = dict(epilogue_kwargs or {})
        aspect = tuple(epilogue_kwargs.get("img_aspect", (1, 1)))
        check_aspect(aspect)

        self.img_width, self.img_height = img_resolution * aspect[0], img_resolution * aspect[1]
        self.img_resolution_log2 = log2
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in [*self.block_resolutions, 4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        if c_dim == 0:
            cmap_dim = 0
        elif cmap_dim is None:
            cmap_dim = channels[4]
        self.cmap_dim = cmap_dim

        common: dict[str, Any] = dict(
            img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp
        )
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                in_channels=channels[res] if res < img_resolution else 0,
                tmp_channels=channels[res],
                out_channels=channels[res // 2],
                resolution=res,
                first_layer_idx=layer_idx,
                use_fp16=res >= fp16_resolution,
                img_aspect=aspect,
                **block_kwargs,
                **common,
            )
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **mapping_kwargs)
        self.b4 = DiscriminatorEpilogue(
            channels[4], cmap_dim=cmap_dim, resolution=4, **epilogue_kwargs, **common
        )

    def forward(
        self,
        img: torch.Tensor,
        c: torch.Tensor | None,
        force_fp32: bool = False,
        force_fp16: bool = False,
        half_dtype: torch.dtype = torch.float16,
    ) -> torch.Tensor:
        """Scores [N, 1] for images [N, img_channels, img_height, img_width] in [-1, 1] and labels c;
        `force_fp32` / `force_fp16` as in the generator's synthesis network."""
        x = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, force_fp32=force_fp32, force_fp16=force_fp16, half_dtype=half_dtype)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
