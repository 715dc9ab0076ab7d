"""DCGAN generator and discriminator: shapes, parameter counts by formula, labels, batch norm, tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.compat import load_network, registry, save_network_checkpoint
from ganforge.errors import OptionError
from ganforge.inference.runner import run_generator, seed_latents, to_uint8
from ganforge.models.dcgan import (
    Discriminator,
    Generator,
    conv_cond_concat,
    uniform_latents,
)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small_pair(
    resolution: int, c_dim: int = 0, channels: int = 3, seed: int = 0
) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    shape = {"c_dim": c_dim, "img_resolution": resolution, "img_channels": channels}
    G = Generator(z_dim=8, gf_dim=4, gfc_dim=16, **shape)
    D = Discriminator(df_dim=4, dfc_dim=16, **shape)
    return G, D


def one_hot(indices: list[int], c_dim: int) -> torch.Tensor:
    return torch.eye(c_dim)[indices]


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_unconditional_shapes(resolution: int) -> None:
    G, D = small_pair(resolution)
    img = G(torch.randn([3, 8]), None)
    assert img.shape == (3, 3, resolution, resolution)
    assert img.abs().max() < 1
    assert D(img, None).shape == (3, 1)
    assert D(img, torch.zeros([3, 0])).shape == (3, 1)  # what the tools pass for c_dim = 0


@pytest.mark.parametrize(("resolution", "channels"), [(28, 1), (32, 3)])
def test_conditional_shapes(resolution: int, channels: int) -> None:
    G, D = small_pair(resolution, c_dim=10, channels=channels)
    c = one_hot([0, 3, 9], 10)
    img = G(torch.randn([3, 8]), c)
    assert img.shape == (3, channels, resolution, resolution)
    assert img.abs().max() < 1
    assert D(img, c).shape == (3, 1)


def test_resolution_and_input_checks() -> None:
    with pytest.raises(ValueError, match="divisible by 16"):
        Generator(img_resolution=40)
    with pytest.raises(ValueError, match="divisible by 16"):
        Discriminator(img_resolution=8)
    with pytest.raises(ValueError, match="divisible by 4"):
        Generator(c_dim=10, img_resolution=30)
    G, D = small_pair(16, c_dim=2)
    with pytest.raises(ValueError, match=r"labels c of shape \[2, 2\]"):
        G(torch.randn([2, 8]), None)
    with pytest.raises(ValueError, match=r"z must have shape \[N, 8\]"):
        G(torch.randn([2, 7]), one_hot([0, 1], 2))
    with pytest.raises(ValueError, match="img must have shape"):
        D(torch.zeros([2, 3, 32, 32]), one_hot([0, 1], 2))


def test_parameter_counts_unconditional_64() -> None:
    z, gf, df, ch, k = 100, 64, 64, 3, 5 * 5
    bn = 2  # gamma and beta per channel
    expected_G = (
        (z * gf * 8 * 4 * 4 + gf * 8 * 4 * 4)  # linear z -> 4x4x512, with bias
        + bn * gf * 8
        + (gf * 8 * gf * 4 * k + gf * 4) + bn * gf * 4  # deconv 512 -> 256
        + (gf * 4 * gf * 2 * k + gf * 2) + bn * gf * 2  # deconv 256 -> 128
        + (gf * 2 * gf * k + gf) + bn * gf  # deconv 128 -> 64
        + (gf * ch * k + ch)  # deconv 64 -> 3
    )
    expected_D = (
        (ch * df * k + df)  # conv 3 -> 64, no batch norm
        + (df * df * 2 * k + df * 2) + bn * df * 2
        + (df * 2 * df * 4 * k + df * 4) + bn * df * 4
        + (df * 4 * df * 8 * k + df * 8) + bn * df * 8
        + (df * 8 * 4 * 4 + 1)  # linear 4x4x512 -> 1
    )
    assert (expected_G, expected_D) == (5_135_363, 4_316_545)  # the sums above, written out
    assert num_params(Generator()) == expected_G
    assert num_params(Discriminator()) == expected_D


def test_parameter_counts_conditional_mnist() -> None:
    """The reference's MNIST mode: 28x28x1, 10 classes; y enters every layer's input."""
    z, y, gf, df, gfc, dfc, ch, k, bn = 100, 10, 64, 64, 1024, 1024, 1, 25, 2
    expected_G = (
        ((z + y) * gfc + gfc) + bn * gfc  # linear [z, y] -> 1024, BN
        + ((gfc + y) * gf * 2 * 7 * 7 + gf * 2 * 7 * 7) + bn * gf * 2 * 7 * 7  # linear [h0, y] -> 7x7x128, BN
        + ((gf * 2 + y) * gf * 2 * k + gf * 2) + bn * gf * 2  # deconv [h1, yb] -> 14x14x128, BN
        + ((gf * 2 + y) * ch * k + ch)  # deconv [h2, yb] -> 28x28x1
    )
    expected_D = (
        ((ch + y) * (ch + y) * k + ch + y)  # conv [x, yb] -> 14x14x(1 + 10)
        + ((ch + y + y) * (df + y) * k + df + y) + bn * (df + y)  # conv [h0, yb] -> 7x7x74, BN
        + (((df + y) * 7 * 7 + y) * dfc + dfc) + bn * dfc  # linear [h1, y] -> 1024, BN
        + ((dfc + y) * 1 + 1)  # linear [h2, y] -> 1
    )
    G = Generator(z_dim=z, c_dim=y, img_resolution=28, img_channels=ch)
    D = Discriminator(c_dim=y, img_resolution=28, img_channels=ch)
    assert num_params(G) == expected_G
    assert num_params(D) == expected_D


def test_initialisation() -> None:
    torch.manual_seed(0)
    G = Generator(gf_dim=32).requires_grad_(False)
    layers = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d | nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in layers])
    gammas = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.01)
    assert float(gammas.mean()) == pytest.approx(1.0, abs=0.005)
    assert float(gammas.std()) == pytest.approx(0.02, rel=0.15)
    for name, p in G.named_parameters():
        if name.endswith("bias"):
            assert torch.all(p == 0), name


def test_conv_cond_concat() -> None:
    x = torch.randn([2, 3, 4, 5])
    c = torch.tensor([[1.0, 0.0], [0.0, 7.0]])
    out = conv_cond_concat(x, c)
    assert out.shape == (2, 5, 4, 5)
    assert torch.equal(out[:, :3], x)
    assert torch.equal(out[:, 3:], c[:, :, None, None].expand(2, 2, 4, 5))


def test_conditional_networks_use_the_label() -> None:
    G, D = small_pair(16, c_dim=4)
    G.eval(), D.eval()
    z = torch.randn([3, 8]).repeat(2, 1)
    c = one_hot([0, 1, 2, 3, 3, 0], 4)
    with torch.no_grad():
        img = G(z, c)
        logits = D(img[:1].expand(6, -1, -1, -1), c)
    assert (img[:3] - img[3:]).abs().amax(dim=(1, 2, 3)).min() > 1e-4  # same z, other class
    assert torch.unique(logits.round(decimals=6)).numel() == 4  # same image, 4 classes
    assert torch.equal(logits[0], logits[5]) and torch.equal(logits[3], logits[4])


def test_unconditional_networks_ignore_c() -> None:
    G, D = small_pair(16)
    G.eval(), D.eval()
    z = torch.randn([2, 8])
    with torch.no_grad():
        assert torch.equal(G(z, None), G(z, torch.zeros([2, 0])))


def test_batch_norm_train_versus_eval() -> None:
    G, D = small_pair(16)
    z = torch.randn([4, 8])
    with torch.no_grad():
        G.train()
        before = G.net.bn0.running_mean.clone()
        full = G(z, None)
        alone = torch.cat([G(z[:2], None), G(z[2:], None)])
        assert not torch.allclose(full, alone, atol=1e-4)  # batch statistics: samples depend on the batch
        assert not torch.equal(G.net.bn0.running_mean, before)  # and the running averages move
        G.eval()
        before = G.net.bn0.running_mean.clone()
        full = G(z, None)
        alone = torch.cat([G(z[i : i + 1], None) for i in range(4)])
        assert torch.allclose(full, alone, atol=1e-6)  # running statistics: each sample on its own
        assert torch.equal(G.net.bn0.running_mean, before)
        D.eval()
        singles = torch.cat([D(full[i : i + 1], None) for i in range(4)])
        assert torch.allclose(D(full, None), singles, atol=1e-6)


def test_truncation_refused_noise_mode_ignored() -> None:
    G, _ = small_pair(16)
    G.eval()
    z = torch.randn([2, 8])
    with pytest.raises(OptionError, match="^truncation_psi: truncation is not defined for DCGAN"):
        G(z, None, truncation_psi=0.7)
    with torch.no_grad():
        ref = G(z, None)
        for mode in ("const", "random", "none"):
            assert torch.equal(G(z, None, truncation_psi=1, truncation_cutoff=4, noise_mode=mode), ref)


def test_latents_map_to_dcgan_uniform_prior() -> None:
    z = torch.randn([200_000, 4], generator=torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 4)
    assert float(z.std()) == pytest.approx(1.0, abs=0.01)  # the tools' standard-normal latents
    u = uniform_latents(z).flatten()
    assert float(u.min()) > -1 and float(u.max()) < 1
    assert float(u.mean()) == pytest.approx(0.0, abs=0.005)
    assert float(u.var()) == pytest.approx(1 / 3, abs=0.005)
    counts = torch.histc(u, bins=10, min=-1, max=1)
    assert float((counts / u.numel() - 0.1).abs().max()) < 0.005


def test_generate_from_seeds() -> None:
    G, _ = small_pair(16, c_dim=3)
    images = run_generator(G, seeds=[0, 5], class_idx=2, device="cpu")
    assert images.dtype == torch.uint8 and images.shape == (2, 16, 16, 3)
    G.eval()
    with torch.no_grad():
        expected = to_uint8(G(seed_latents([0, 5], 8), one_hot([2, 2], 3)))
    assert torch.equal(images, expected)
    assert G.training is False


@pytest.mark.parametrize("c_dim", [0, 3])
def test_checkpoint_round_trip(tmp_path: Path, c_dim: int) -> None:
    G, D = small_pair(16, c_dim=c_dim, seed=1)
    G.train()(torch.randn([4, 8]), one_hot([0, 1, 2, 0], 3) if c_dim else None)  # move BN running stats
    path = tmp_path / "dcgan.pt"
    save_network_checkpoint(path, {"G": G, "D": D}, extra={"note": "dcgan"})
    loaded = load_network(path)
    assert registry.name_of(G) == "dcgan.Generator" and registry.name_of(D) == "dcgan.Discriminator"
    G2, D2 = loaded["G"], loaded["D"]
    assert isinstance(G2, Generator) and isinstance(D2, Discriminator) and loaded["note"] == "dcgan"
    assert G2.init_kwargs == G.init_kwargs and D2.init_kwargs == D.init_kwargs
    for a, b in ((G, G2), (D, D2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    G.eval(), D.eval()
    z, c = torch.randn([2, 8]), one_hot([1, 2], 3) if c_dim else None
    with torch.no_grad():
        assert torch.equal(G2(z, c), G(z, c))
        img = G(z, c)
        assert torch.equal(D2(img, c), D(img, c))
    assert np.isfinite(img.numpy()).all()
