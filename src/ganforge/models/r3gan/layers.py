"""R3GAN's building blocks: variance-scaled 1x1/KxK convolutions, the biased leaky ReLU, the
inverted-bottleneck residual block, interpolative 2x resampling and the generative and
discriminative 4x4 bases (Huang et al. 2024, "The GAN is dead; long live the GAN!").

Every layer computes in the dtype of its input (its weights are cast to it), so a stage whose
input is bfloat16 runs in bfloat16 while the parameters stay float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.ops.upfirdn2d import downsample2d, upsample2d

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2 / (1 + LRELU_SLOPE**2))
"""The gain that keeps the variance of a leaky ReLU's output equal to its input's (He et al.)."""


def msr_init_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Draw `weight` from N(0, (gain / sqrt(fan_in))^2), fan_in = inputs per output (per group)."""
    fan_in = weight.shape[1] * weight[0][0].numel()
    with torch.no_grad():
        return weight.normal_(0.0, gain / math.sqrt(fan_in))


def lowpass_kernel(taps: Sequence[float]) -> torch.Tensor:
    """The 2-D interpolation kernel of a 2x resampler: `taps` convolved with [1, 1], outer product,
    unit sum ([1, 2, 1] gives the 4x4 kernel of [1, 3, 3, 1] / 8 in each direction)."""
    row = torch.as_tensor(list(taps), dtype=torch.float64)
    row = F.conv1d(F.pad(row, [1, 1])[None, None], torch.ones(1, 1, 2, dtype=torch.float64))[0, 0]
    kernel = torch.outer(row, row)
    return (kernel / kernel.sum()).to(torch.float32)


class Conv(nn.Module):
    """Bias-free convolution with 'same' padding and R3GAN's variance-scaled initialisation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, groups: int = 1,
                 gain: float = 1.0) -> None:
        super().__init__()
        self.groups = groups
        self.padding = (kernel_size - 1) // 2
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size))
        msr_init_(self.weight, gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), padding=self.padding, groups=self.groups)


class BiasedLeakyReLU(nn.Module):
    """Per-channel bias, then leaky ReLU with slope 0.2 (its gain lives in the initialisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (x.ndim - 2)
        return F.leaky_relu(x + self.bias.to(x.dtype).view(shape), LRELU_SLOPE)


class ResidualBlock(nn.Module):
    """x + (1x1 expand -> act -> grouped KxK -> act -> 1x1 project) x, the last layer zero-initialised.

    `variance_scale` is the number of residual blocks in the network: the first two layers' gains
    are scaled by its -1/4th power so that the sum of all blocks keeps the signal's variance.
    """

    def __init__(self, channels: int, cardinality: int, expansion: int, kernel_size: int,
                 variance_scale: int) -> None:
        super().__init__()
        expanded = channels * expansion
        gain = LRELU_GAIN * variance_scale ** (-1 / 4)  # -1 / (2 L - 2) with L = 3 linear layers
        self.conv1 = Conv(channels, expanded, 1, gain=gain)
        self.conv2 = Conv(expanded, expanded, kernel_size, groups=cardinality, gain=gain)
        self.conv3 = Conv(expanded, channels, 1, gain=0.0)
        self.act1 = BiasedLeakyReLU(expanded)
        self.act2 = BiasedLeakyReLU(expanded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act1(self.conv1(x)))
        return x + self.conv3(self.act2(y))


class Transition(nn.Module):
    """A change of resolution between stages: 2x filtered resampling and a 1x1 conv when the width
    changes; `Upsample` (G) converts first, `Downsample` (D) resamples first, so the conv always runs
    at the lower resolution."""

    def __init__(self, in_channels: int, out_channels: int, resample_filter: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("resample_filter", lowpass_kernel(resample_filter))
        self.linear = Conv(in_channels, out_channels) if in_channels != out_channels else None

    def convert(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) if self.linear is not None else x


class Upsample(Transition):
    """G's transition between stages: 1x1 conv (when the width changes), then 2x interpolation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2d(self.convert(x), self.resample_filter)


class Downsample(Transition):
    """D's transition between stages: 2x interpolative downsampling, then 1x1 conv (width change)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convert(downsample2d(x, self.resample_filter))


class GenerativeBasis(nn.Module):
    """G's first layer: a learned 4x4 basis per channel, scaled by a linear map of the input vector."""

    def __init__(self, in_features: int, channels: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = nn.Linear(in_features, channels, bias=False)
        msr_init_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.linear(x, self.linear.weight.to(x.dtype))
        return self.basis.to(x.dtype)[None] * scale[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """D's last layer: a depthwise 4x4 convolution to one value per channel, then a linear map."""

    def __init__(self, channels: int, out_features: int) -> None:
        super().__init__()
        self.basis = nn.Conv2d(channels, channels, 4, groups=channels, bias=False)
        self.linear = nn.Linear(channels, out_features, bias=False)
        msr_init_(self.basis.weight)
        msr_init_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.basis.weight.to(x.dtype), groups=self.basis.groups)
        return F.linear(x.flatten(1), self.linear.weight.to(x.dtype))


class Stage(nn.Module):
    """A run of layers at one resolution, computed in `dtype` (float32 or bfloat16)."""

    def __init__(self, layers: list[nn.Module], dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        for layer in self.layers:
            x = layer(x)
        return x
