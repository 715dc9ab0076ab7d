"""Building blocks of the StyleGAN (2019) generator and discriminator.

Equalised learning rate as in the original release: a weight is stored with its initial scale divided
out and multiplied at run time by ``gain / sqrt(fan_in)`` (times the learning-rate multiplier), and
the activation has no gain of its own. The StyleGAN2 `FullyConnectedLayer` applies its gain after
the activation instead, so with a bias the two differ and it is not reused here.

Weights are stored in PyTorch's layout ([out, in] and [out, in, kh, kw]); the original TensorFlow
variables hold the same values as [in, out] and [kh, kw, in, out].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.ops.bias_act import bias_act
from ganforge.ops.init_args import keeps_init_args
from ganforge.ops.resolution import resolution_log2
from ganforge.ops.scale2d import downscale2d, upscale2d
from ganforge.ops.upfirdn2d import filter2d, setup_filter

ACTIVATIONS = ("lrelu", "relu")
RESAMPLES = (None, "up", "down")
STRUCTURES = ("linear", "fixed")
FUSED_AUTO_RESOLUTION = 128
"""With fused_scale='auto', resampling convolutions producing (G) or reading (D) this resolution or
more are fused into one strided convolution."""


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """Raise ValueError naming the argument when `value` is not one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def progressive_layout(
    img_resolution: int, structure: str, activation: str, fmap_base: int, fmap_decay: float, fmap_max: int
) -> tuple[int, Callable[[int], int]]:
    """(log2 of `img_resolution`, nf) for a synthesis network or discriminator, whose `structure` and
    `activation` are checked: nf(stage) = min(fmap_base / 2**(stage * fmap_decay), fmap_max) is a
    stage's channel count, as the original."""
    log2 = resolution_log2(img_resolution)
    check_choice("structure", structure, STRUCTURES)
    check_choice("activation", activation, ACTIVATIONS)

    def nf(stage: int) -> int:
        return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)

    return log2, nf


def use_fused(fused_scale: bool | str, resolution: int) -> bool:
    """Whether a resampling conv at `resolution` (the larger side) is fused ('auto': >= 128)."""
    if fused_scale == "auto":
        return resolution >= FUSED_AUTO_RESOLUTION
    if not isinstance(fused_scale, bool):
        raise ValueError(f"fused_scale must be True, False or 'auto', got {fused_scale!r}")
    return fused_scale


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each feature map of NCHW `x` to zero mean and unit mean square over H x W."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * (x.square().mean(dim=(2, 3), keepdim=True) + eps).rsqrt()


def lerp_clip(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a + (b - a) * clamp(t, 0, 1): the progressive-growing fade between two levels."""
    return a + (b - a) * t.clamp(0.0, 1.0)


class Blur(nn.Module):
    """Depthwise low-pass filter (normalised outer product of `taps`) keeping the image size."""

    def __init__(self, taps: Sequence[float]) -> None:
        super().__init__()
        filter_ = setup_filter(list(taps), device=torch.get_default_device())  # meta-device friendly
        self.register_buffer("filter", filter_, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return filter2d(x, self.filter.to(x.dtype))


def _equalized_weight(
    shape: Sequence[int], fan_in: int, gain: float, use_wscale: bool, lrmul: float
) -> tuple[nn.Parameter, float]:
    """A weight Parameter initialised as the original, and its run-time multiplier."""
    he_std = gain / math.sqrt(fan_in)
    if use_wscale:
        init_std, runtime_coef = 1.0 / lrmul, he_std * lrmul
    else:
        init_std, runtime_coef = he_std / lrmul, lrmul
    return nn.Parameter(torch.randn(list(shape)) * init_std), runtime_coef


@keeps_init_args("in_features", "out_features", "lrmul", "activation")
class Dense(nn.Module):
    """Fully connected layer with equalised learning rate, then optional bias and activation.

    Computes act(x @ (W * coef).T + b * lrmul) with coef = gain * lrmul / sqrt(in_features); the
    activation is applied without a gain ('linear', 'lrelu' with slope 0.2, or 'relu').
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        gain: float = math.sqrt(2),
        lrmul: float = 1.0,
        use_wscale: bool = True,
        bias: bool = True,
        activation: str = "linear",
    ) -> None:
        super().__init__()
        check_choice("activation", activation, ("linear", *ACTIVATIONS))
        self.weight, self.weight_coef = _equalized_weight(
            [out_features, in_features], in_features, gain, use_wscale, lrmul
        )
        self.bias = nn.Parameter(torch.zeros([out_features])) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1).matmul((self.weight * self.weight_coef).t())
        bias = self.bias * self.lrmul if self.bias is not None else None
        return bias_act(x, bias, act=self.activation, gain=1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, act={self.activation}"


@keeps_init_args("in_channels", "out_channels", "kernel_size", "activation", "resample")
class Conv2d(nn.Module):
    """Square convolution ('same' padding) with equalised learning rate, optional 2x resampling,
    then optional bias and activation (without gain).

    'up' upscales by nearest neighbour and convolves; 'down' convolves and averages 2x2 blocks.
    Fused, both become one strided (transposed) convolution whose 4x4 kernel is the 3x3 kernel
    summed over its four 1-pixel shifts, as the original does at high resolution. Fused 'down'
    equals the separate ops exactly; fused 'up' equals them with the kernel mirrored spatially.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        gain: float = math.sqrt(2),
        use_wscale: bool = True,
        bias: bool = True,
        activation: str = "linear",
        resample: str | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__()
        check_choice("activation", activation, ("linear", *ACTIVATIONS))
        check_choice("resample", resample, RESAMPLES)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.fused = fused and resample is not None
        fan_in = in_channels * kernel_size**2
        self.weight, self.weight_coef = _equalized_weight(
            [out_channels, in_channels, kernel_size, kernel_size], fan_in, gain, use_wscale, 1.0
        )
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.weight_coef).to(x.dtype)
        pad = self.kernel_size // 2
        if self.fused:
            # Sum of the kernel over its four 1-pixel shifts: [O, I, k + 1, k + 1].
            w = F.pad(w, [1, 1, 1, 1])
            w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
            if self.resample == "up":
                x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2, padding=pad)
            else:
                x = F.conv2d(x, w * 0.25, stride=2, padding=pad)
        elif self.resample == "up":
            x = F.conv2d(upscale2d(x), w, padding=pad)
        elif self.resample == "down":
            x = downscale2d(F.conv2d(x, w, padding=pad))
        else:
            x = F.conv2d(x, w, padding=pad)
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, bias, act=self.activation, gain=1)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"resample={self.resample}, fused={self.fused}, act={self.activation}"
        )
