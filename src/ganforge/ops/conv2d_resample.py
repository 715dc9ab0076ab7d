"""2-D convolution fused with FIR up/downsampling, as used by every StyleGAN2 conv layer.

The result equals: upsample by `up` with filter `f` (zero insertion, filter with gain up**2), pad by
`padding`, convolve with `w`, then filter and keep every `down`-th pixel. Each case runs in the
cheapest equivalent order (1x1 convs at the low resolution, strided convs for downsampling, transposed
convs for upsampling), so no work is spent on inserted zeros or on dropped pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.ops.upfirdn2d import Padding, filter_size, parse_padding, upfirdn2d


def _conv(
    x: torch.Tensor,
    w: torch.Tensor,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    groups: int = 1,
    transpose: bool = False,
    flip_weight: bool = True,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """conv2d (correlation) or conv_transpose2d; `flip_weight=False` flips the kernel first."""
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, bias, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)


def _transpose_weight(w: torch.Tensor, groups: int) -> torch.Tensor:
    """Reorder [out, in/groups, kh, kw] conv weights into the [in, out/groups, kh, kw] transposed layout."""
    out_channels, in_per_group, kh, kw = w.shape
    if groups == 1:
        return w.transpose(0, 1)
    w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_channels // groups, kh, kw)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    groups: int = 1,
    flip_weight: bool = True,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve `x` [N, C, H, W] with `w` [O, C/groups, kh, kw], resampling with filter `f`.

    `padding` is relative to the upsampled image. `flip_weight=True` is correlation (as
    torch.nn.functional.conv2d), False a true convolution; both give the same result up to kernel
    orientation and exist so callers can pick the faster one. `bias` [O] is added to the output,
    inside the convolution when it is the last step (no extra pass over the output).
    """
    if not (isinstance(up, int) and isinstance(down, int) and up >= 1 and down >= 1):
        raise ValueError(f"up and down must be integers >= 1, got up={up}, down={down}")
    kh, kw = w.shape[2], w.shape[3]
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)

    # Widen the padding by the filter's footprint so the output size is exact after resampling.
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = (px0, px1, py0, py1)
    pointwise = kw == 1 and kh == 1

    if pointwise and down > 1 and up == 1:  # filter and decimate first, then the 1x1 conv
        x = upfirdn2d(x, f, down=down, padding=pad)
        return _conv(x, w, groups=groups, flip_weight=flip_weight, bias=bias)

    if pointwise and up > 1 and down == 1:  # 1x1 conv at the low resolution, then upsample
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return _add_bias(upfirdn2d(x, f, up=up, padding=pad, gain=up**2), bias)

    if down > 1 and up == 1:  # filter, then a strided conv computes only the kept pixels
        x = upfirdn2d(x, f, padding=pad)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight, bias=bias)

    if up > 1:  # a strided transposed conv does zero insertion and conv at once; then filter
        w = _transpose_weight(w, groups)
        px0, px1 = px0 - (kw - 1), px1 - (kw - up)
        py0, py1 = py0 - (kh - 1), py1 - (kh - up)
        # Let the transposed conv crop what it can (its padding crops symmetrically).
        cx = max(min(-px0, -px1), 0)
        cy = max(min(-py0, -py1), 0)
        x = _conv(
            x, w, stride=up, padding=(cy, cx), groups=groups, transpose=True, flip_weight=not flip_weight
        )
        rest = (px0 + cx, px1 + cx, py0 + cy, py1 + cy)
        x = upfirdn2d(x, f, padding=rest, gain=up**2)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return _add_bias(x, bias)

    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:  # plain conv
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight, bias=bias)

    x = upfirdn2d(x, None, padding=pad)  # uneven or negative padding
    return _conv(x, w, groups=groups, flip_weight=flip_weight, bias=bias)


def _add_bias(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x if bias is None else x + bias.reshape(1, -1, 1, 1)
