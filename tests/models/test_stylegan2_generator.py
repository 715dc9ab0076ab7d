"""Tests of the StyleGAN2 layers, mapping network and generator (incl. parity with the official nets)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.conftest import PARITY_CONFIGS, ParityLookup

from ganforge.models.stylegan2 import Generator
from ganforge.models.stylegan2.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    MappingNetwork,
)
from ganforge.ops.normalize import normalize_2nd_moment

# --- layers -------------------------------------------------------------------------------------


def test_fully_connected_equalised_lr() -> None:
    torch.manual_seed(0)
    layer = FullyConnectedLayer(6, 4, activation="lrelu", lr_multiplier=0.01, bias_init=0.5)
    assert layer.weight.std() > 20  # stored as randn / lr_multiplier
    torch.testing.assert_close(layer.bias.detach(), torch.full([4], 0.5))
    x = torch.randn(3, 6)
    pre = x @ (layer.weight * 0.01 / math.sqrt(6)).t() + layer.bias * 0.01
    torch.testing.assert_close(layer(x), F.leaky_relu(pre, 0.2) * math.sqrt(2))
    linear = FullyConnectedLayer(6, 4)
    torch.testing.assert_close(linear(x), x @ (linear.weight / math.sqrt(6)).t() + linear.bias)


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


# --- generator: parity with the official networks ----------------------------------------------


def load_parity_generator(parity: ParityLookup, name: str) -> tuple[Generator, dict[str, np.ndarray]]:
    """Build the generator of parity config `name` and load its official weights by name."""
    config = json.loads(parity(f"{name}.json").read_text())
    with np.load(parity(f"{name}.npz")) as npz:
        data = {k: npz[k] for k in npz.files}
    G = Generator(**config["G_kwargs"]).eval()
    state = {k[2:]: torch.from_numpy(v) for k, v in data.items() if k.startswith("G/")}
    G.load_state_dict(state, strict=True)
    return G, data


@pytest.mark.parametrize("name", PARITY_CONFIGS)
def test_generator_parity_with_official(parity: ParityLookup, name: str) -> None:
    G, data = load_parity_generator(parity, name)
    z, c = torch.from_numpy(data["in/z"]), torch.from_numpy(data["in/c"])
    for i, psi in enumerate(data["in/psi"].tolist()):
        ws = G.mapping(z, c, truncation_psi=psi)
        torch.testing.assert_close(ws, torch.from_numpy(data[f"out/ws_psi{i}"]), atol=1e-4, rtol=0)
        for mode in ("const", "none"):
            want = torch.from_numpy(data[f"out/img_psi{i}_{mode}"])
            with torch.no_grad():
                for fused in (None, True, False):
                    img = G(z, c, truncation_psi=psi, noise_mode=mode, fused_modconv=fused)
                    torch.testing.assert_close(img, want, atol=1e-4, rtol=0)


def test_generator_attributes_and_num_ws(parity: ParityLookup) -> None:
    G, data = load_parity_generator(parity, "g32_skip_rgb")
    assert (G.z_dim, G.c_dim, G.w_dim, G.img_resolution, G.img_channels) == (64, 0, 64, 32, 3)
    assert G.synthesis.block_resolutions == [4, 8, 16, 32]
    # conv1 at 4x4, conv0+conv1 at each higher resolution, plus the last ToRGB.
    assert G.num_ws == G.synthesis.num_ws == G.mapping.num_ws == 1 + 2 * 3 + 1 == data["out/ws_psi0"].shape[1]
    assert [G.synthesis.b4.num_conv, G.synthesis.b8.num_conv, G.synthesis.b8.num_torgb] == [1, 2, 1]
    json.dumps(G.init_kwargs)
    rebuilt = Generator(**G.init_kwargs)
    rebuilt.load_state_dict(G.state_dict(), strict=True)


@pytest.mark.parametrize(
    ("architecture", "resolution", "num_ws"), [("orig", 8, 4), ("skip", 16, 6), ("resnet", 32, 8)]
)
def test_generator_structure(architecture: str, resolution: int, num_ws: int) -> None:
    G = Generator(
        8,
        2,
        8,
        resolution,
        3,
        synthesis_kwargs={"channel_base": 64, "channel_max": 8, "architecture": architecture},
    )
    assert G.num_ws == num_ws
    keys = set(G.state_dict())
    top = G.synthesis.block_resolutions[-1]
    assert f"synthesis.b{top}.torgb.weight" in keys
    assert ("synthesis.b8.torgb.weight" in keys) == (architecture == "skip" or resolution == 8)
    assert ("synthesis.b8.skip.weight" in keys) == (architecture == "resnet")
    assert G.synthesis.b4.const.shape == (8, 4, 4)  # min(channel_base // res, channel_max)
    assert G.synthesis.b8.conv0.weight.shape == (8, 8, 3, 3)
    img = G(torch.randn(2, 8), torch.randn(2, 2))
    assert img.shape == (2, 3, resolution, resolution) and img.dtype == torch.float32


# --- generator: behaviour -----------------------------------------------------------------------


def small_generator(seed: int = 0, architecture: str = "resnet", **synthesis: object) -> Generator:
    torch.manual_seed(seed)
    kwargs = {
        "channel_base": 128,
        "channel_max": 8,
        "architecture": architecture,
        "conv_clamp": 256,
        **synthesis,
    }
    G = Generator(8, 0, 8, 16, 3, mapping_kwargs={"num_layers": 2}, synthesis_kwargs=kwargs)
    with torch.no_grad():  # non-zero noise strengths so noise modes make a difference
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
    return G


def test_truncation_cutoff_and_w_avg_in_train_mode_only() -> None:
    G = small_generator()
    z = torch.randn(4, 8)
    G.eval()
    G(z, None, noise_mode="none")
    assert torch.all(G.mapping.w_avg == 0)
    G.train()
    G(z, None, noise_mode="none")
    assert torch.any(G.mapping.w_avg != 0)
    G.eval()
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    ws = G.mapping(z, None)
    cut = G.mapping(z, None, truncation_psi=0.0, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, :3], G.mapping.w_avg.expand(4, 3, 8))
    torch.testing.assert_close(cut[:, 3:], ws[:, 3:])
    full = G(z, None, truncation_psi=0.0, noise_mode="none")
    torch.testing.assert_close(full, full[:1].expand_as(full))  # psi=0: every z gives the mean image
    partial = G(z, None, truncation_psi=0.0, truncation_cutoff=3, noise_mode="none")
    assert not torch.allclose(partial, full)


def test_noise_modes() -> None:
    G = small_generator().eval()
    z = torch.randn(2, 8)
    with torch.no_grad():
        a, b = G(z, None), G(z, None)
        assert not torch.allclose(a, b)  # fresh random noise every call
        torch.manual_seed(5)
        c = G(z, None)
        torch.manual_seed(5)
        torch.testing.assert_close(c, G(z, None))
        torch.testing.assert_close(G(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
        assert not torch.allclose(G(z, None, noise_mode="const"), G(z, None, noise_mode="none"))
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, None, noise_mode="fixed")
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.zeros(2, G.num_ws + 1, 8))
    quiet = Generator(
        8, 0, 8, 8, 1, synthesis_kwargs={"channel_base": 64, "channel_max": 4, "use_noise": False}
    )
    assert not any("noise" in k for k in quiet.state_dict())


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_fused_and_nonfused_paths_agree(architecture: str) -> None:
    G = small_generator(architecture=architecture)
    ws = G.mapping(torch.randn(3, 8), None)
    for train in (False, True):
        G.train(train)
        fused = G.synthesis(ws, noise_mode="const", fused_modconv=True)
        unfused = G.synthesis(ws, noise_mode="const", fused_modconv=False)
        torch.testing.assert_close(fused, unfused, atol=1e-5, rtol=0)


def test_fp16_blocks_stay_float32_on_cpu() -> None:
    G = small_generator(num_fp16_res=2).eval()
    assert [G.synthesis.b8.use_fp16, G.synthesis.b16.use_fp16, G.synthesis.b4.use_fp16] == [True, True, False]
    ws = G.mapping(torch.randn(2, 8), None)
    img = G.synthesis(ws, noise_mode="const")
    assert img.dtype == torch.float32
    torch.testing.assert_close(img, G.synthesis(ws, noise_mode="const", force_fp32=True))


def test_double_backward_path_length_style() -> None:
    G = small_generator().train()
    ws = G.mapping(torch.randn(2, 8), None).detach().requires_grad_(True)
    img = G.synthesis(ws)
    (grad,) = torch.autograd.grad((img * torch.randn_like(img)).sum(), ws, create_graph=True)
    grad.square().sum().backward()
    assert G.synthesis.b16.conv0.weight.grad is not None
    assert torch.isfinite(G.synthesis.b16.conv0.weight.grad).all()
    assert G.synthesis.b8.conv1.affine.weight.grad.abs().sum() > 0
