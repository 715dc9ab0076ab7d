"""FIR resampling of NCHW images: upsample (zero insertion), pad, filter, downsample.

`upfirdn2d` follows the semantics of scipy.signal.upfirdn in 2-D and of the StyleGAN2-ADA op of the
same name: (1) insert `up - 1` zeros after every pixel, (2) pad with zeros (negative = crop),
(3) convolve with the FIR filter keeping only outputs whose footprint lies inside the padded image,
(4) keep every `down`-th pixel. It is computed without the wasted work of the literal recipe: the
upsampling is a depthwise transposed convolution (no multiplications by the inserted zeros) and the
downsampling a strided convolution (no outputs computed only to be dropped). Both are ordinary
PyTorch ops, so gradients of any order and torch.compile work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

FilterLike = torch.Tensor | Sequence[float] | Sequence[Sequence[float]] | float | None
Scaling = int | Sequence[int]
Padding = int | Sequence[int]


def parse_scaling(scaling: Scaling) -> tuple[int, int]:
    """Return (sx, sy) from an int or an [x, y] pair."""
    sx, sy = (scaling, scaling) if isinstance(scaling, int) else scaling
    if sx < 1 or sy < 1:
        raise ValueError(f"scaling factors must be >= 1, got {scaling}")
    return int(sx), int(sy)


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """Return (x0, x1, y0, y1) from an int, an [x, y] pair or an [x0, x1, y0, y1] list."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """Return (width, height) of a 2-D filter, a separable 1-D filter, or the identity (None)."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2):
        raise ValueError(f"filter must be 1-D (separable) or 2-D, got shape {tuple(f.shape)}")
    return int(f.shape[-1]), int(f.shape[0])


def setup_filter(
    f: FilterLike,
    device: torch.device | str = "cpu",
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1,
    separable: bool | None = None,
) -> torch.Tensor:
    """Build a float32 FIR filter for `upfirdn2d`.

    A 1-D list of taps becomes the 2-D outer product (short filters) or stays 1-D and separable
    (8 taps or more, unless `separable` says otherwise). `normalize` scales it to unit DC gain, and
    `gain` multiplies the overall signal magnitude. `None` is the identity filter.
    """
    t = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim not in (1, 2) or t.numel() == 0:
        raise ValueError(f"filter must be a non-empty 1-D or 2-D array, got shape {tuple(t.shape)}")
    if separable is None:
        separable = t.ndim == 1 and t.numel() >= 8
    if t.ndim == 1 and not separable:
        t = torch.outer(t, t)
    if t.ndim != (1 if separable else 2):
        raise ValueError("a 2-D filter cannot be made separable")
    if normalize:
        t = t / t.sum()
    if flip_filter:
        t = t.flip(list(range(t.ndim)))
    t = t * (gain ** (t.ndim / 2))
    return t.to(device=device)


def _resample_pass(
    x: torch.Tensor,
    f: torch.Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
    flip_filter: bool,
) -> torch.Tensor:
    """One depthwise upfirdn pass with a 2-D kernel `f` [kh, kw] already scaled by the gain."""
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = pad
    channels = x.shape[1]
    kh, kw = f.shape
    # conv_transpose2d is a true convolution; conv2d is a correlation and needs the flipped kernel.
    if upx > 1 or upy > 1:
        weight = f.flip([0, 1]) if flip_filter else f
        weight = weight[None, None].expand(channels, 1, kh, kw)
        x = F.conv_transpose2d(x, weight, stride=(upy, upx), groups=channels)
        # The full convolution of the zero-stuffed image; shift it onto the requested window.
        x = F.pad(x, [px0 - (kw - 1), px1 + upx - kw, py0 - (kh - 1), py1 + upy - kh])
        if downx > 1 or downy > 1:
            x = x[:, :, ::downy, ::downx]
        return x
    weight = f if flip_filter else f.flip([0, 1])
    weight = weight[None, None].expand(channels, 1, kh, kw)
    if px0 != 0 or px1 != 0 or py0 != 0 or py1 != 0:
        x = F.pad(x, [px0, px1, py0, py1])
    return F.conv2d(x, weight, stride=(downy, downx), groups=channels)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Scaling = 1,
    down: Scaling = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images [N, C, H, W].

    `padding` is relative to the upsampled image, negative values crop. `flip_filter=False` means
    true convolution with `f`, True means correlation. `gain` scales the signal magnitude.
    """
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor, got shape {tuple(x.shape)}")
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)
    f = f.to(x.dtype)
    if f.ndim == 2:
        return _resample_pass(x, f * gain, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip_filter)
    f = f * (gain**0.5)
    x = _resample_pass(x, f[None, :], (upx, 1), (downx, 1), (px0, px1, 0, 0), flip_filter)
    return _resample_pass(x, f[:, None], (1, upy), (1, downy), (0, 0, py0, py1), flip_filter)


def filter2d(
    x: torch.Tensor, f: torch.Tensor | None, padding: Padding = 0, flip_filter: bool = False, gain: float = 1
) -> torch.Tensor:
    """Filter images with `f`, padded so the output keeps the input size (plus extra `padding`)."""
    return _sized(x, f, (1, 1), (1, 1), padding, flip_filter, gain)


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: Scaling = 2, **options: Any) -> torch.Tensor:
    """Upsample images by `up` with FIR filter `f` (options: padding, flip_filter, gain); the output
    is `up` times the input size."""
    return _sized(x, f, parse_scaling(up), (1, 1), **options)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down: Scaling = 2, **options: Any) -> torch.Tensor:
    """Downsample images by `down` with FIR filter `f` (options: padding, flip_filter, gain); the
    output is the input size over `down`."""
    return _sized(x, f, (1, 1), parse_scaling(down), **options)


def _sized(
    x: torch.Tensor, f: torch.Tensor | None, up: tuple[int, int], down: tuple[int, int],
    padding: Padding = 0, flip_filter: bool = False, gain: float = 1,
) -> torch.Tensor:
    """upfirdn2d padded so that the output is the input size * up / down (plus `padding`), with
    gain multiplied by up_x * up_y so that upsampling keeps the images' mean."""
    pad = _sized_padding(f, padding, up, down)
    return upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip_filter, gain=gain * up[0] * up[1])


def _sized_padding(
    f: torch.Tensor | None, padding: Padding, up: tuple[int, int], down: tuple[int, int]
) -> list[int]:
    """upfirdn2d's padding [x0, x1, y0, y1] for an output of the input size * up / down, plus `padding`:
    the filter's footprint beyond that size, split with the larger half first."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    (upx, upy), (downx, downy) = up, down
    return [
        px0 + (fw + upx - downx) // 2,
        px1 + (fw - upx - downx + 1) // 2,
        py0 + (fh + upy - downy) // 2,
        py1 + (fh - upy - downy + 1) // 2,
    ]
