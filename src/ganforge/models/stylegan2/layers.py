"""Building blocks shared by the StyleGAN2 generator and discriminator.

Equalised learning rate: weights are stored with unit-variance init (divided by the learning-rate
multiplier) and scaled at run time by 1/sqrt(fan_in) (times the multiplier), so every layer learns at
the same pace under Adam. Constructor arguments and parameter/buffer names follow the official
StyleGAN2-ADA release so its weights load by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.ops.bias_act import activation_gain, bias_act
from ganforge.ops.conv2d_resample import conv2d_resample
from ganforge.ops.init_args import keeps_init_args, records_init_args
from ganforge.ops.latents import check_latent_input, track_w_avg, truncate
from ganforge.ops.normalize import normalize_2nd_moment
from ganforge.ops.precision import HALF_DTYPES
from ganforge.ops.upfirdn2d import setup_filter

DEFAULT_FILTER = (1, 3, 3, 1)
HOMOGENEOUS = ("linear", "relu", "lrelu")  # act(g * x) == g * act(x) for g > 0
ARCHITECTURES = ("orig", "skip", "resnet")
"""The block architectures of the generator and the discriminator."""


def check_architecture(architecture: str) -> None:
    """Refuse an `architecture` that is not one of ARCHITECTURES (ValueError naming the argument)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


def conv_weight(out_channels: int, in_channels: int, kernel_size: int, channels_last: bool) -> torch.Tensor:
    """A unit-variance initial convolution weight [out, in, k, k], channels-last in memory if asked."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format)


@keeps_init_args("in_features", "out_features", "activation")
class FullyConnectedLayer(nn.Module):
    """Dense layer with equalised learning rate, bias and activation."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",
        lr_multiplier: float = 1,
        bias_init: float = 0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype)
        if self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, act={self.activation}"


@keeps_init_args("in_channels", "out_channels", "activation", "up", "down", "conv_clamp")
class Conv2dLayer(nn.Module):
    """Convolution with equalised learning rate, optional FIR up/downsampling, bias, activation, clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = DEFAULT_FILTER,
        conv_clamp: float | None = None,
        channels_last: bool = False,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = activation_gain(activation)

        weight = conv_weight(out_channels, in_channels, kernel_size, channels_last)
        bias_value = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias_value) if bias_value is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_value)

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        """Convolve, add bias, activate; `gain` scales the output and the clamp range together."""
        # act(x + b) * g == act(g * x + g * b) for g > 0 and these activations, so the gain and the
        # bias go into the (small) weights and the convolution itself: no extra passes over x. In
        # float16/bfloat16 they follow the convolution in the official order, rounding as it does.
        half = x.dtype in HALF_DTYPES
        out_gain = self.act_gain * gain if self.activation in HOMOGENEOUS and gain > 0 and not half else 1.0
        w = (self.weight * (self.weight_gain * out_gain)).to(x.dtype)
        b = None
        if self.bias is not None:
            b = self.bias.to(x.dtype) * out_gain if out_gain != 1 else self.bias.to(x.dtype)
        x = conv2d_resample(
            x,
            w,
            f=self.resample_filter,
            up=self.up,
            down=self.down,
            padding=self.padding,
            flip_weight=self.up == 1,  # the transposed-conv path is cheaper without a kernel flip
            bias=None if half else b,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b if half else None, act=self.activation, gain=self.act_gain * gain / out_gain,
                        clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"activation={self.activation}, up={self.up}, down={self.down}"
        )


@records_init_args
@keeps_init_args("z_dim", "c_dim", "w_dim", "num_ws", "num_layers", "w_avg_beta")
class MappingNetwork(nn.Module):
    """Maps latent z (and label c) to the intermediate latent w, tracking the running mean of w.

    With `num_ws` set, w is broadcast to [N, num_ws, w_dim]; `truncation_psi` pulls it towards the
    tracked mean (only the first `truncation_cutoff` entries when given). `z_dim=0` maps labels only
    (the discriminator's conditioning), `w_avg_beta=None` disables the running mean.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()

        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]

        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        skip_w_avg_update: bool = False,
    ) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            check_latent_input("z", z, self.z_dim)
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            check_latent_input("c", c, self.c_dim)
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        if x is None:
            raise ValueError("MappingNetwork with z_dim=0 and c_dim=0 has no input")

        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        tracking = self.num_ws is not None and self.w_avg_beta is not None
        if tracking and self.training and not skip_w_avg_update:
            track_w_avg(self.w_avg, x, self.w_avg_beta)

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])

        if truncation_psi != 1:
            if not tracking:
                raise ValueError("truncation needs the tracked w_avg (num_ws and w_avg_beta must be set)")
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x
