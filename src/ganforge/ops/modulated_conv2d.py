"""Style-modulated convolution with optional weight demodulation (StyleGAN2, Karras et al. 2020).

Each sample n convolves with weight[o, i] * styles[n, i]; demodulation then rescales every output
channel by rsqrt(sum_{i,k}(weight * styles)^2 + 1e-8) so activations keep unit variance. Two
equivalent executions: "fused" builds per-sample weights and runs one grouped convolution
(groups = batch size); "non-fused" scales the activations before and after one shared convolution.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ganforge.ops.conv2d_resample import conv2d_resample


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    demodulate: bool = True,
    fused_modconv: bool = True,
    bias: torch.Tensor | None = None,
    gain: float = 1,
    **resampling: Any,
) -> torch.Tensor:
    """Modulate `weight` [O, I, kh, kw] by `styles` [N, I], convolve `x` [N, I, H, W], add `noise`.

    `noise` (broadcastable to the output) is added after demodulation, then `bias` [O], and the
    sum is multiplied by `gain`; all three ride along with the demodulation (one pass over the
    output). `resampling` (`f`, `up`, `down`, `padding`, `flip_weight`) goes to `conv2d_resample`.
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[1] != in_channels or tuple(styles.shape) != (batch_size, in_channels):
        raise ValueError(
            f"modulated_conv2d: x {tuple(x.shape)}, weight {tuple(weight.shape)} and styles "
            f"{tuple(styles.shape)} do not fit together"
        )

    # In float16, scale weight and styles to at most 1 first so the products cannot overflow;
    # demodulation removes the scale again.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (
            1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    # sum_{i,k} (weight[o,i,k] * styles[n,i])^2 computed as a [N, I] x [I, O] product, without
    # materialising the per-sample weights (the non-fused path never needs them).
    dcoefs = None
    if demodulate:
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [N, O]

    # What is added after the convolution, already multiplied by the gain.
    shift = None if noise is None else noise.to(x.dtype) * gain
    if bias is not None:
        b = (bias.to(x.dtype) * gain).reshape(1, out_channels, 1, 1)
        shift = b if shift is None else shift + b

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, in_channels, 1, 1)
        if dcoefs is None:  # gain and bias fold into the plain convolution
            x = conv2d_resample(
                x, (weight * gain).to(x.dtype), bias=None if bias is None else (bias * gain).to(x.dtype),
                **resampling,
            )
            return x if noise is None else x + noise.to(x.dtype) * gain
        x = conv2d_resample(x, weight.to(x.dtype), **resampling)
        scale = (dcoefs * gain).to(x.dtype).reshape(batch_size, out_channels, 1, 1)
        if shift is None:
            return x * scale
        if shift.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
            shift = shift.contiguous(memory_format=torch.channels_last)  # the result follows x's layout
        return torch.addcmul(shift, x, scale)

    coefs = styles.reshape(batch_size, 1, in_channels) * gain
    if dcoefs is not None:
        coefs = coefs * dcoefs.reshape(batch_size, out_channels, 1)  # [N, O, I]
    w = weight.unsqueeze(0) * coefs.unsqueeze(-1).unsqueeze(-1)  # [N, O, I, kh, kw]
    x = x.reshape(1, batch_size * in_channels, *x.shape[2:])
    w = w.reshape(batch_size * out_channels, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), groups=batch_size, **resampling)
    x = x.reshape(batch_size, out_channels, *x.shape[2:])
    return x if shift is None else x + shift
