"""StyleGAN2-ADA generator: mapping network z -> w, then a synthesis network of one block per
resolution (4x4 up to the image size), each with modulated convolutions, per-pixel noise and an
architecture of 'orig', 'skip' (summed ToRGB outputs) or 'resnet' (residual blocks).

Constructor arguments, attribute names and parameter/buffer names follow the official StyleGAN2-ADA
release, so its weights load with ``load_state_dict(strict=True)``. ganforge's one addition,
``synthesis_kwargs={"img_aspect": (aw, ah)}``, makes non-square images: every feature map is aw
times as wide and ah times as high as the square network's (the constant starts at 4ah x 4aw), so
`img_resolution` is the shorter side; the default (1, 1) is the official square network. Float16
blocks run in float16 on CUDA, and on any device with ``force_fp16=True`` (see
`ganforge.ops.precision`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ganforge.models.stylegan2.layers import (
    DEFAULT_FILTER,
    HOMOGENEOUS,
    Conv2dLayer,
    FullyConnectedLayer,
    MappingNetwork,
    check_architecture,
    conv_weight,
)
from ganforge.ops.bias_act import activation_gain, bias_act
from ganforge.ops.init_args import keeps_init_args, records_init_args
from ganforge.ops.modulated_conv2d import modulated_conv2d
from ganforge.ops.precision import HALF_DTYPES, block_dtype
from ganforge.ops.resolution import check_aspect, resolution_log2
from ganforge.ops.upfirdn2d import setup_filter, upsample2d

NOISE_MODES = ("random", "const", "none")


@keeps_init_args("resolution", "up", "use_noise", "activation", "conv_clamp")
class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally 2x upsampling), noise, bias and activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: Sequence[float] = DEFAULT_FILTER,
        conv_clamp: float | None = None,
        channels_last: bool = False,
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        super().__init__()
        self.shape = (resolution * img_aspect[1], resolution * img_aspect[0])  # (height, width)
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = activation_gain(activation)

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(conv_weight(out_channels, in_channels, kernel_size, channels_last))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(list(self.shape)))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = True,
        gain: float = 1,
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, *self.shape]
            noise = torch.randn(shape, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        # act(y) * g == act(g * y) for g > 0 here, so the gain and the bias join the demodulation (see
        # Conv2dLayer); in float16/bfloat16 they follow it in the official order, rounding as it does.
        half = x.dtype in HALF_DTYPES
        fold = self.activation in HOMOGENEOUS and gain > 0 and not half
        out_gain = self.act_gain * gain if fold else 1.0
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,  # the transposed-conv path is cheaper without a kernel flip
            fused_modconv=fused_modconv,
            bias=None if half else self.bias,
            gain=out_gain,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        bias = self.bias.to(x.dtype) if half else None
        return bias_act(x, bias, act=self.activation, gain=self.act_gain * gain / out_gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(conv_weight(out_channels, in_channels, kernel_size, channels_last))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        half = x.dtype in HALF_DTYPES  # the bias rides in the convolution, after it in half precision
        x = modulated_conv2d(
            x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv,
            bias=None if half else self.bias,
        )
        return bias_act(x, self.bias.to(x.dtype) if half else None, clamp=self.conv_clamp)


@keeps_init_args("in_channels", "w_dim", "resolution", "img_channels", "is_last", "architecture", "use_fp16")
class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (const or 2x upsampling conv0), conv1, ToRGB."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: Sequence[float] = DEFAULT_FILTER,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        kernel_size: int = 3,
        use_noise: bool = True,
        activation: str = "lrelu",
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        check_architecture(architecture)
        super().__init__()
        self.img_aspect = tuple(img_aspect)
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        layer_kwargs: dict[str, Any] = {
            "w_dim": w_dim,
            "resolution": resolution,
            "kernel_size": kernel_size,
            "use_noise": use_noise,
            "activation": activation,
            "conv_clamp": conv_clamp,
            "channels_last": self.channels_last,
            "img_aspect": self.img_aspect,
        }

        if in_channels == 0:
            self.const = nn.Parameter(
                torch.randn([out_channels, resolution * img_aspect[1], resolution * img_aspect[0]])
            )
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, up=2, resample_filter=resample_filter, **layer_kwargs
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(
                out_channels,
                img_channels,
                w_dim=w_dim,
                conv_clamp=conv_clamp,
                channels_last=self.channels_last,
            )
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels,
                out_channels,
                kernel_size=1,
                bias=False,
                up=2,
                resample_filter=resample_filter,
                channels_last=self.channels_last,
            )

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
        noise_mode: str = "random",
        force_fp16: bool = False,
        half_dtype: torch.dtype = torch.float16,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (features, image so far); `ws` holds this block's num_conv + num_torgb latents."""
        w_iter = iter(ws.unbind(dim=1))
        dtype = block_dtype(self.use_fp16, ws.device, force_fp32, force_fp16, half_dtype)
        half = dtype != torch.float32
        # Channels-last also for float32 CPU inference: oneDNN's forward convolutions run markedly
        # faster in it, but its weight gradients slower, which cancels the gain in training (measured).
        # Half precision keeps the official layout: the layout picks the kernel, and so the rounding.
        cpu = ws.device.type == "cpu" and not torch.is_grad_enabled() and not half
        channels_last = (self.channels_last and half) or cpu
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if fused_modconv is None:
            # On CUDA (as the official release): one grouped conv at inference, the non-fused form in
            # training. On the CPU the non-fused form measured faster in both, so it is always used.
            fused_modconv = (
                ws.device.type == "cuda"
                and not self.training
                and (dtype == torch.float32 or int(ws.shape[0]) == 1)
            )

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        else:
            half = self.resolution // 2
            expected = (self.in_channels, half * self.img_aspect[1], half * self.img_aspect[0])
            if x is None or tuple(x.shape[1:]) != expected:
                got = None if x is None else tuple(x.shape)
                raise ValueError(f"block b{self.resolution} expects features [N, *{expected}], got {got}")
            x = x.to(dtype=dtype, memory_format=memory_format)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
                x = self.conv1(
                    x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv, gain=math.sqrt(0.5)
                )
                x = y + x
            else:
                x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
                x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img + y if img is not None else y
        return x, img


@records_init_args
@keeps_init_args("w_dim", "img_resolution", "img_channels")
class SynthesisNetwork(nn.Module):
    """Maps ws [N, num_ws, w_dim] to images [N, img_channels, img_height, img_width]."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        architecture: str = "skip",
        resample_filter: Sequence[float] = DEFAULT_FILTER,
        conv_clamp: float | None = None,
        fp16_channels_last: bool = False,
        kernel_size: int = 3,
        use_noise: bool = True,
        activation: str = "lrelu",
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        log2 = resolution_log2(img_resolution)
        check_aspect(img_aspect)
        super().__init__()
        self.img_width = img_resolution * img_aspect[0]
        self.img_height = img_resolution * img_aspect[1]
        self.img_resolution_log2 = log2
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)

        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == img_resolution
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                is_last=is_last,
                architecture=architecture,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                use_fp16=res >= fp16_resolution,
                fp16_channels_last=fp16_channels_last,
                kernel_size=kernel_size,
                use_noise=use_noise,
                activation=activation,
                img_aspect=img_aspect,
            )
            # Consecutive blocks share a latent: ToRGB of one block uses the next block's conv0 w.
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
        force_fp16: bool = False,
        half_dtype: torch.dtype = torch.float16,
    ) -> torch.Tensor:
        """Images for `ws`; `force_fp32` / `force_fp16` run the use_fp16 blocks in float32 / in
        `half_dtype` on any device (by default: `half_dtype` on CUDA only)."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(
                x, img, block_ws, force_fp32=force_fp32, fused_modconv=fused_modconv, noise_mode=noise_mode,
                force_fp16=force_fp16, half_dtype=half_dtype,
            )
        return img


@records_init_args
@keeps_init_args("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
class Generator(nn.Module):
    """StyleGAN2 generator: G(z, c) = synthesis(mapping(z, c))."""

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
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs
        )
        self.img_width = self.synthesis.img_width
        self.img_height = self.synthesis.img_height
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        noise_mode: str = "random",
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
        force_fp16: bool = False,
        half_dtype: torch.dtype = torch.float16,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv,
                              force_fp16=force_fp16, half_dtype=half_dtype)
