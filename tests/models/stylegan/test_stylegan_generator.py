"""StyleGAN (2019) generator: shapes, published size, progressive fade-in, truncation, style mixing,
noise, gradients, checkpoints and the generate / style-mix tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from tests.models.stylegan.helpers import set_lod, tiny_discriminator, tiny_generator

from ganforge.compat import load_network, save_network_checkpoint
from ganforge.inference.runner import run_generator, run_mapping, run_synthesis, seed_latents
from ganforge.models.stylegan import Discriminator, Generator, SynthesisNetwork
from ganforge.ops.scale2d import upscale2d
from ganforge.tools.generate import generate_images
from ganforge.tools.style_mix import mix_styles, style_mix_grid


def latents(n: int, seed: int = 1, dim: int = 8) -> torch.Tensor:
    return torch.randn([n, dim], generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("resolution", [4, 8, 32])
@pytest.mark.parametrize("c_dim", [0, 3])
def test_shapes(resolution: int, c_dim: int) -> None:
    G = tiny_generator(resolution, c_dim=c_dim).eval()
    c = torch.eye(max(c_dim, 1))[[0, 1, 2, 0], :c_dim] if c_dim else torch.zeros([4, 0])
    ws = G.mapping(latents(4), c)
    img = G(latents(4), c, noise_mode="const")
    num_ws = 2 * int(np.log2(resolution)) - 2
    assert G.num_ws == G.synthesis.num_ws == num_ws
    assert ws.shape == (4, num_ws, 8)
    assert img.shape == (4, 3, resolution, resolution)
    assert torch.isfinite(img).all()
    assert (img[0] - img[1]).abs().max() > 1e-3  # different latents, different images


def test_parameter_count_of_the_published_1024_generator() -> None:
    """26,219,627 trainable parameters: the paper's "26.2M trainable parameters" (Karras et al. 2019,
    sec. 2), here exact from the variable shapes of G_style in NVlabs/stylegan
    training/networks_stylegan.py at resolution 1024 with default arguments: G_mapping 8 x 262,656
    (Dense 512x512 + bias) = 2,101,248; G_synthesis 24,118,379 (e.g. 4x4/Const 8,192 + 512 + 512 +
    StyleMod 525,312 = 534,528; 4x4/Conv 2,885,632; ToRGB_lod0 51). The noise inputs, lod and
    dlatent_avg are not trainable and are buffers here."""
    with torch.device("meta"):
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3)
    assert G.num_ws == 18
    assert sum(p.numel() for p in G.mapping.parameters()) == 2_101_248
    assert sum(p.numel() for p in G.synthesis.b4.conv0.parameters()) == 534_528
    assert sum(p.numel() for p in G.synthesis.b4.conv1.parameters()) == 2_885_632
    assert sum(p.numel() for p in G.synthesis.torgb[0].parameters()) == 51
    assert sum(p.numel() for p in G.synthesis.parameters()) == 24_118_379
    assert sum(p.numel() for p in G.parameters()) == 26_219_627
    # Fused resampling where the original's 'auto' uses it: at 128x128 and above.
    assert not G.synthesis.b64.conv0.conv.fused and G.synthesis.b128.conv0.conv.fused


@pytest.mark.parametrize("k", [0, 1])
def test_fade_in_between_levels(k: int) -> None:
    """At lod = k + f the image is (1 - f) * level k + f * level k + 1, each level its ToRGB image
    nearest-upscaled to 16x16 (level k: 16 / 2**k pixels, so constant on 2**k blocks)."""
    G = tiny_generator(16).eval()
    ws = G.mapping(latents(2), None)

    def image(lod: float) -> torch.Tensor:
        set_lod(G, lod)
        return G.synthesis(ws, noise_mode="const")

    def level(lod: int) -> torch.Tensor:
        """The ToRGB image of level `lod`, computed block by block."""
        x = None
        for idx, res in enumerate(G.synthesis.block_resolutions[: len(G.synthesis.block_resolutions) - lod]):
            x = getattr(G.synthesis, f"b{res}")(x, ws[:, 2 * idx : 2 * idx + 2], "const")
        return G.synthesis.torgb[lod](x)

    with torch.no_grad():
        low, high = image(k), image(k + 1)
        torch.testing.assert_close(low, upscale2d(level(k), 2**k))
        torch.testing.assert_close(high, upscale2d(level(k + 1), 2 ** (k + 1)))
        assert (low - high).abs().max() > 1e-2
        torch.testing.assert_close(image(k + 0.5), (low + high) / 2)
        torch.testing.assert_close(image(k + 0.25), 0.75 * low + 0.25 * high)
        torch.testing.assert_close(image(2), image(7))  # beyond the 4x4 level: the 4x4 image


def fixed_from_linear(G: Generator, resolution: int) -> Generator:
    """A 'fixed' generator of `resolution` holding G's weights (G's ToRGB for that level)."""
    lod = int(np.log2(G.img_resolution // resolution))
    fixed = Generator(z_dim=8, c_dim=G.c_dim, w_dim=8, img_resolution=resolution, img_channels=3,
                      mapping_kwargs={"num_layers": 2, "layer_features": 8},
                      synthesis_kwargs={"fmap_base": 64, "fmap_max": 8, "structure": "fixed"})
    state = G.state_dict()
    state = {key: state[key.replace("torgb.0.", f"torgb.{lod}.")] for key in fixed.state_dict()}
    fixed.load_state_dict(state)
    return fixed.eval()


def test_fixed_structure_matches_linear_at_integer_lod() -> None:
    G = tiny_generator(16).eval()
    z = latents(3)
    with torch.no_grad():
        same = fixed_from_linear(G, 16)
        assert len(same.synthesis.torgb) == 1
        torch.testing.assert_close(same(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
        set_lod(G, 1)
        set_lod(same, 1)  # 'fixed' ignores lod
        torch.testing.assert_close(same(z, None, noise_mode="const"), G.synthesis.torgb[0](
            G.synthesis.b16(G.synthesis.b8(G.synthesis.b4(None, G.mapping(z, None)[:, :2], "const"),
                            G.mapping(z, None)[:, 2:4], "const"), G.mapping(z, None)[:, 4:], "const")))
        half = fixed_from_linear(G, 8)
        ws = G.mapping(z, None)
        torch.testing.assert_close(G.synthesis(ws, noise_mode="const"),
                                   upscale2d(half.synthesis(ws[:, :4], noise_mode="const")))


def test_truncation() -> None:
    G = tiny_generator(32).eval()  # 8 style layers
    z = latents(5)
    w_avg = G.mapping.w_avg
    ws = G.mapping(z, None)
    torch.testing.assert_close(G.mapping(z, None, truncation_psi=0), w_avg.expand(5, 8, 8))
    cut = G.mapping(z, None, truncation_psi=0.7, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, :3], w_avg + 0.7 * (ws[:, :3] - w_avg))
    torch.testing.assert_close(cut[:, 3:], ws[:, 3:])
    # The generator forwards truncation to the mapping: psi=0 gives one image for every z.
    img = G(z, None, truncation_psi=0, noise_mode="const")
    torch.testing.assert_close(img, img[:1].expand_as(img))


def test_w_avg_tracks_the_batch_mean_only_in_training() -> None:
    G = tiny_generator(8)
    z = latents(6)
    before = G.mapping.w_avg.clone()
    G.eval()
    ws = G.mapping(z, None)
    torch.testing.assert_close(G.mapping.w_avg, before)
    G.train()
    G.mapping(z, None, skip_w_avg_update=True)
    torch.testing.assert_close(G.mapping.w_avg, before)
    G.mapping(z, None)
    torch.testing.assert_close(G.mapping.w_avg, 0.995 * before + 0.005 * ws[:, 0].mean(dim=0))


def mixing_cutoff(ws: torch.Tensor, mixed: torch.Tensor) -> int:
    """The first layer taken from the second latent; checks that layers from there on hold one
    other w per sample (and that layers before it are unchanged)."""
    same = (mixed == ws).all(dim=2).all(dim=0)
    cutoff = int(same.logical_not().nonzero()[0]) if not same.all() else ws.shape[1]
    assert same[:cutoff].all() and not same[cutoff:].any()
    torch.testing.assert_close(mixed[:, cutoff:], mixed[:, cutoff:cutoff + 1].expand_as(mixed[:, cutoff:]))
    return cutoff


@pytest.mark.parametrize(("lod", "layers"), [(0.0, 8), (1.5, 6)])
def test_style_mixing_replaces_only_layers_after_the_cutoff(lod: float, layers: int) -> None:
    """Cutoffs are in [1, layers) with layers = num_ws - 2 * floor(lod), or `layers` (no mixing of the
    layers in use) with probability 1 - style_mixing_prob; layers beyond it always change."""
    G = tiny_generator(32, style_mixing_prob=0.5).train()
    set_lod(G, lod)
    ws = G.mapping(latents(3, seed=1000), None)  # a seed the mixing generators below do not use
    cutoffs = []
    for seed in range(40):
        mixed = G.mix_styles(ws, None, generator=torch.Generator().manual_seed(seed))
        cutoffs.append(mixing_cutoff(ws, mixed))
    assert set(cutoffs) <= set(range(1, layers + 1))
    assert layers in cutoffs and len(set(cutoffs)) > 2
    assert G.mix_styles(ws, None, generator=torch.Generator().manual_seed(3)).equal(
        G.mix_styles(ws, None, generator=torch.Generator().manual_seed(3)))


def test_forward_mixes_styles_only_in_training() -> None:
    G = tiny_generator(16, style_mixing_prob=1.0)
    z = latents(2)
    G.eval()
    plain = G(z, None, noise_mode="const")
    G.train()
    g1 = G(z, None, noise_mode="const", generator=torch.Generator().manual_seed(0))
    g2 = G(z, None, noise_mode="const", generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(g1, g2)
    assert (g1 - plain).abs().max() > 1e-3
    G_nomix = tiny_generator(16, style_mixing_prob=0.0).train()
    torch.testing.assert_close(G_nomix(z, None, noise_mode="const"), plain)


def test_noise_modes() -> None:
    G = tiny_generator(8).eval()
    z = latents(2)
    const = G(z, None, noise_mode="const")
    torch.testing.assert_close(G(z, None, noise_mode="const"), const)
    assert (G(z, None, noise_mode="random") - G(z, None, noise_mode="random")).abs().max() > 1e-3
    none = G(z, None, noise_mode="none")
    assert (none - const).abs().max() > 1e-3
    with torch.no_grad():
        for name, param in G.named_parameters():
            if name.endswith("noise_weight"):
                param.zero_()
    torch.testing.assert_close(G(z, None, noise_mode="random"), none)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, None, noise_mode="fixed")


def test_labels_condition_the_generator() -> None:
    G = tiny_generator(8, c_dim=3).eval()
    z = latents(1).expand(3, 8)
    img = G(z, torch.eye(3), noise_mode="const")
    assert (img[0] - img[1]).abs().max() > 1e-3 and (img[1] - img[2]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="c of shape"):
        G(z, None)


def test_gradients_reach_every_parameter_in_use_and_double_backward_works() -> None:
    G = tiny_generator(16, c_dim=2).train()
    set_lod(G, 0.5)  # levels 0 and 1 in use; ToRGB of level 2 gets no gradient
    c = torch.eye(2)[[0, 1]]
    img = G(latents(2), c, generator=torch.Generator().manual_seed(0))
    img.square().mean().backward()
    for name, param in G.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert (param.grad.abs().sum() > 0) == (not name.startswith("synthesis.torgb.2")), name

    # Path-length style second order: d/dparams of |d img / d ws|.
    G.zero_grad()
    ws = G.mapping(latents(2), c).detach().requires_grad_(True)
    out = G.synthesis(ws, noise_mode="const")
    (grad,) = torch.autograd.grad((out * torch.randn_like(out)).sum(), ws, create_graph=True)
    grad.square().sum().backward()
    assert G.synthesis.b16.conv1.conv.weight.grad.abs().sum() > 0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="power of two"):
        SynthesisNetwork(w_dim=8, img_resolution=24, img_channels=3)
    with pytest.raises(ValueError, match="structure"):
        SynthesisNetwork(w_dim=8, img_resolution=8, img_channels=3, structure="recursive")
    with pytest.raises(ValueError, match="style_mixing_prob"):
        Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, style_mixing_prob=2)
    G = tiny_generator(8)
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.zeros([1, 3, 8]))


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    G, D = tiny_generator(16, c_dim=2), tiny_discriminator(16, c_dim=2)
    set_lod(G, 1.25)
    set_lod(D, 0.75)
    path = tmp_path / "stylegan.pt"
    save_network_checkpoint(path, {"G": G, "D": D}, extra={"note": "round trip"})
    nets = load_network(path)
    assert isinstance(nets["G"], Generator) and isinstance(nets["D"], Discriminator)
    assert nets["note"] == "round trip"
    for original, loaded in ((G, nets["G"]), (D, nets["D"])):
        assert loaded.init_kwargs == original.init_kwargs
        assert original.state_dict().keys() == loaded.state_dict().keys()
        for key, value in original.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key
    z, c = latents(4), torch.eye(2)[[0, 1, 1, 0]]
    G.eval()
    img = G(z, c, noise_mode="const")
    torch.testing.assert_close(nets["G"](z, c, noise_mode="const"), img, rtol=0, atol=0)
    torch.testing.assert_close(nets["D"](img, c), D(img, c), rtol=0, atol=0)


def read_png(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as image:
        return np.asarray(image)


def test_generate_and_style_mix_tools_run_it(tmp_path: Path) -> None:
    G = tiny_generator(16)
    path = tmp_path / "g.pt"
    save_network_checkpoint(path, {"G_ema": G})
    paths = generate_images(path, [3, 5], tmp_path / "gen", truncation_psi=0.5)
    expected = run_generator(G, seeds=[3, 5], truncation_psi=0.5).numpy()
    assert [p.name for p in paths] == ["seed0003.png", "seed0005.png"]
    for p, image in zip(paths, expected, strict=True):
        assert np.array_equal(read_png(p), image)

    paths = style_mix_grid(path, [1], [2], [0, 1, 2], tmp_path / "mix", truncation_psi=0.7)
    ws = run_mapping(G, seed_latents([1, 2], 8), torch.zeros([2, 0]), truncation_psi=0.7)
    mixed = run_synthesis(G, mix_styles(ws[:1], ws[1:], [0, 1, 2]))[0].numpy()
    assert np.array_equal(read_png(tmp_path / "mix" / "1-2.png"), mixed)
    assert paths[-1].name == "grid.png"
