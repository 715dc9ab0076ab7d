"""Tests of the StyleGAN2 layers, mapping network and generator (incl. parity with the official nets)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.models.stylegan2.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    MappingNetwork,
    normalize_2nd_moment,
)

# --- layers -------------------------------------------------------------------------------------


def test_fully_connected_equalised_lr() -> None:
    torch.manual_seed(0)
    layer = FullyConnectedLayer(6, 4, activation="lrelu", lr_multiplier=0.01, bias_init=0.5)
    assert layer.weight.std() > 20  # stored as randn / lr_multiplier
    torch.testing.assert_close(layer.bias.detach(), torch.full([4], 0.5))
    x = torch.randn(3, 6)
    pre = x @ (layer.weight * 0.01 / math.sqrt(6)).t() + layer.bias * 0.01
    torch.testing.assert_close(layer(x), F.leaky_relu(pre, 0.2) * math.sqrt(2))
    linear = FullyConnectedLayer(6, 4, bias=False)
    assert linear.bias is None
    torch.testing.assert_close(linear(x), x @ (linear.weight / math.sqrt(6)).t())


def test_conv2d_layer_gain_and_clamp() -> None:
    torch.manual_seed(0)
    layer = Conv2dLayer(3, 5, kernel_size=3, activation="lrelu", conv_clamp=0.5)
    with torch.no_grad():
        layer.bias.copy_(torch.randn(5))
    x = torch.randn(2, 3, 8, 8)
    pre = F.conv2d(x, layer.weight / math.sqrt(3 * 9), layer.bias, padding=1)
    want = (F.leaky_relu(pre, 0.2) * math.sqrt(2) * 0.7).clamp(-0.5 * 0.7, 0.5 * 0.7)
    torch.testing.assert_close(layer(x, gain=0.7), want)
    assert {k for k, _ in layer.state_dict().items()} == {"weight", "bias", "resample_filter"}
    assert layer.resample_filter.shape == (4, 4)


def test_conv2d_layer_resampling_and_frozen() -> None:
    up = Conv2dLayer(3, 4, kernel_size=1, bias=False, up=2)
    down = Conv2dLayer(3, 4, kernel_size=3, down=2, trainable=False)
    x = torch.randn(1, 3, 8, 8)
    assert up(x).shape == (1, 4, 16, 16) and down(x).shape == (1, 4, 4, 4)
    assert "weight" in dict(down.named_buffers()) and not list(down.parameters())
    assert set(up.state_dict()) == {"weight", "resample_filter"}


def test_normalize_2nd_moment() -> None:
    x = torch.randn(4, 7) * 3
    y = normalize_2nd_moment(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4), atol=1e-5, rtol=0)


# --- mapping network ----------------------------------------------------------------------------


def test_mapping_names_shapes_and_label_only() -> None:
    m = MappingNetwork(z_dim=8, c_dim=3, w_dim=6, num_ws=5, num_layers=2)
    assert set(m.state_dict()) == {
        "embed.weight",
        "embed.bias",
        "fc0.weight",
        "fc0.bias",
        "fc1.weight",
        "fc1.bias",
        "w_avg",
    }
    assert m.fc0.weight.shape == (6, 8 + 6)
    assert m(torch.randn(2, 8), torch.randn(2, 3)).shape == (2, 5, 6)
    c_only = MappingNetwork(z_dim=0, c_dim=3, w_dim=6, num_ws=None, w_avg_beta=None)
    assert c_only(None, torch.randn(2, 3)).shape == (2, 6)
    assert "w_avg" not in c_only.state_dict()
    with pytest.raises(ValueError, match="expects z"):
        m(torch.randn(2, 7), torch.randn(2, 3))


def test_mapping_w_avg_tracking_and_truncation() -> None:
    torch.manual_seed(0)
    m = MappingNetwork(z_dim=8, c_dim=0, w_dim=6, num_ws=4, num_layers=2, w_avg_beta=0.9)
    z = torch.randn(5, 8)
    m.eval()
    m(z, None)
    assert torch.all(m.w_avg == 0)  # no update in eval mode
    m.train()
    ws = m(z, None, skip_w_avg_update=True)
    assert torch.all(m.w_avg == 0)
    m(z, None)
    torch.testing.assert_close(m.w_avg, ws[:, 0].mean(0) * 0.1)
    m.eval()
    avg = m.w_avg.clone()
    full = m(z, None, truncation_psi=0.5)
    torch.testing.assert_close(full, avg + 0.5 * (ws - avg))
    cut = m(z, None, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], full[:, :2])
    torch.testing.assert_close(cut[:, 2:], ws[:, 2:])
