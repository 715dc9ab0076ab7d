"""StyleGAN (2019) layers: equalised learning rate, fused resampling convs, norms, blur."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.models.stylegan.layers import Blur, Conv2d, Dense, instance_norm, use_fused


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(list(shape), generator=torch.Generator().manual_seed(seed))


def test_dense_equalised_learning_rate() -> None:
    """Initial weights ~ N(0, 1/lrmul^2); y = lrelu(x @ (W * gain * lrmul / sqrt(in)).T + b * lrmul)."""
    torch.manual_seed(0)
    layer = Dense(64, 256, gain=math.sqrt(2), lrmul=0.01, activation="lrelu")
    assert abs(float(layer.weight.detach().std()) - 100) < 3
    with torch.no_grad():
        layer.bias.copy_(randn(256, seed=1) * 100)
    x = randn(5, 64, seed=2)
    w = layer.weight * math.sqrt(2) * 0.01 / 8
    torch.testing.assert_close(layer(x), F.leaky_relu(x @ w.t() + layer.bias * 0.01, 0.2))


def test_fused_downscale_conv_equals_conv_then_box_downscale() -> None:
    torch.manual_seed(0)
    fused = Conv2d(5, 6, 3, resample="down", fused=True, activation="lrelu")
    plain = Conv2d(5, 6, 3, resample="down", fused=False, activation="lrelu")
    plain.load_state_dict(fused.state_dict())
    x = randn(2, 5, 8, 8)
    w = fused.weight * math.sqrt(2) / math.sqrt(5 * 9)
    expected = F.leaky_relu(F.avg_pool2d(F.conv2d(x, w, padding=1), 2), 0.2)
    torch.testing.assert_close(fused(x), expected)
    torch.testing.assert_close(plain(x), expected)


def test_fused_upscale_conv_equals_nearest_upscale_then_mirrored_conv() -> None:
    """The original's fused transposed conv convolves (rather than correlates) with the 3x3 kernel."""
    torch.manual_seed(0)
    fused = Conv2d(5, 6, 3, resample="up", fused=True, bias=False)
    plain = Conv2d(5, 6, 3, resample="up", fused=False, bias=False)
    x = randn(2, 5, 7, 7)
    w = fused.weight / math.sqrt(5 * 9) * math.sqrt(2)
    up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    torch.testing.assert_close(fused(x), F.conv2d(up, w.flip([2, 3]), padding=1))
    with torch.no_grad():
        plain.weight.copy_(fused.weight)
    torch.testing.assert_close(plain(x), F.conv2d(up, w, padding=1))
    assert fused(x).shape == (2, 6, 14, 14)


def test_fused_scale_auto() -> None:
    assert [use_fused("auto", r) for r in (64, 128, 1024)] == [False, True, True]
    assert use_fused(True, 8) and not use_fused(False, 1024)
    with pytest.raises(ValueError, match="fused_scale"):
        use_fused("yes", 8)


def test_instance_norm() -> None:
    x = randn(2, 3, 5, 5) * 4 + 2
    y = instance_norm(x)
    torch.testing.assert_close(y.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.square().mean(dim=(2, 3)), torch.ones(2, 3))


def test_blur_is_the_normalised_121_filter() -> None:
    x = randn(1, 2, 6, 6)
    f = torch.tensor([1.0, 2.0, 1.0])
    kernel = (torch.outer(f, f) / 16).expand(2, 1, 3, 3)
    torch.testing.assert_close(Blur([1, 2, 1])(x), F.conv2d(x, kernel, padding=1, groups=2))
    assert not Blur([1, 2, 1]).state_dict()  # a constant, not a parameter


def test_layer_argument_checks() -> None:
    with pytest.raises(ValueError, match="activation"):
        Dense(2, 2, activation="gelu")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2d(2, 2, 2)
    with pytest.raises(ValueError, match="resample"):
        Conv2d(2, 2, 3, resample="sideways")
