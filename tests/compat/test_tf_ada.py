"""StyleGAN2-ADA TensorFlow pickles (G_main with G_mapping and G_synthesis, D_main; LabelEmbed when
conditional): loaded, converted and generated from, matching a numpy run of the TF graph."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from tests.compat.builds import Allocations
from tests.compat.tf_pickles import (
    TF_MODULES,
    TinyConfig,
    discriminator_network,
    discriminator_variables,
    dumps,
    generator_network,
    generator_variables,
    write_tf_pickle,
)
from tests.compat.tf_reference import close, discriminator, mapping, synthesis

from ganforge.cli.main import main
from ganforge.compat import load_network, load_network_pkl
from ganforge.errors import NetworkFileError
from ganforge.models.stylegan2 import Discriminator, Generator

CONFIGS = {
    "unconditional": TinyConfig(ada=True, mbstd_group_size=None),
    "conditional-clamped": TinyConfig(ada=True, label_size=3, conv_clamp=0.5, num_fp16_res=2),
    "conditional-mapped": TinyConfig(ada=True, label_size=4, label_fmaps=6, g_architecture="resnet",
                                     d_architecture="orig", d_mapping_layers=2, d_mapping_fmaps=5,
                                     mapping_fmaps=None),
    "conditional-skip": TinyConfig(ada=True, label_size=2, g_architecture="orig", d_architecture="skip",
                                   mbstd_group_size=None),
}
"""(TF's 'skip' D clamps its 4x4 FromRGB where the official PyTorch D does not, so clamping is
tested with the 'resnet' and 'orig' Ds, where the two agree.)"""


@pytest.fixture(autouse=True)
def no_dnnlib() -> None:
    """Loading must never rely on (or find) a dnnlib module."""
    assert not any(name in sys.modules for name in TF_MODULES)


def labels(cfg: TinyConfig, classes: list[int]) -> np.ndarray | None:
    return np.eye(cfg.label_size)[classes] if cfg.label_size else None


def as_tensor(c: np.ndarray | None) -> torch.Tensor | None:
    return None if c is None else torch.from_numpy(c).float()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_ada_pickles_match_the_tf_graph(tmp_path: Path, name: str) -> None:
    cfg = CONFIGS[name]
    tf = write_tf_pickle(tmp_path / "ada.pkl", cfg)
    nets = load_network(tf.path)
    assert set(nets) == {"G", "D", "G_ema"}
    assert isinstance(nets["G_ema"], Generator) and isinstance(nets["D"], Discriminator)
    assert nets["G_ema"].c_dim == nets["D"].c_dim == cfg.label_size

    rng = np.random.default_rng(5)
    z = rng.standard_normal((4, cfg.latent_size))
    c = labels(cfg, [0, 1, 1, 0])
    zt, ct = torch.from_numpy(z).float(), as_tensor(c)
    for key, v in (("G_ema", tf.Gs), ("G", tf.G)):
        G = nets[key]
        w = mapping(z, v, cfg.mapping_layers, c)
        ws = G.mapping(zt, ct)
        close(ws[:, 0], w)
        dl = np.repeat(w[:, None], ws.shape[1], axis=1)
        close(G(zt, ct, noise_mode="const"), synthesis(dl, v, cfg))
    avg = tf.Gs["dlatent_avg"].astype(np.float64)
    w = mapping(z, tf.Gs, cfg.mapping_layers, c)
    close(nets["G_ema"].mapping(zt, ct, truncation_psi=0.5)[:, 0], avg + 0.5 * (w - avg))

    img = rng.standard_normal((4, cfg.num_channels, cfg.resolution, cfg.resolution))
    close(nets["D"](torch.from_numpy(img).float(), ct), discriminator(img, tf.D, cfg, c))


def test_ada_arguments_follow_the_tf_defaults(tmp_path: Path) -> None:
    """The constructor arguments that the TF defaults imply, as ganforge's networks get them."""
    cfg = CONFIGS["conditional-clamped"]
    nets = load_network_pkl(write_tf_pickle(tmp_path / "ada.pkl", cfg).path)
    G, D = nets["G_ema"].init_kwargs, nets["D"].init_kwargs
    assert (G["z_dim"], G["c_dim"], G["w_dim"], G["img_resolution"]) == (8, 3, 8, 16)
    assert G["mapping_kwargs"]["embed_features"] == cfg.latent_size  # label_fmaps None
    synthesis_kwargs = G["synthesis_kwargs"]
    assert (synthesis_kwargs["conv_clamp"], synthesis_kwargs["num_fp16_res"]) == (0.5, 2)
    assert (synthesis_kwargs["channel_base"], synthesis_kwargs["channel_max"]) == (64, 8)
    assert (D["conv_clamp"], D["num_fp16_res"], D["cmap_dim"]) == (0.5, 2, cfg.nf(0))
    assert D["mapping_kwargs"]["num_layers"] == 0 and D["mapping_kwargs"]["lr_multiplier"] == 0.1


def test_lone_ada_networks_load(tmp_path: Path) -> None:
    cfg = CONFIGS["conditional-mapped"]
    g, d = generator_variables(cfg, 0), discriminator_variables(cfg, 1)
    assert set(load_network_pkl(io.BytesIO(dumps(generator_network(cfg, g, name="Gs"))))) == {"G_ema"}
    nets = load_network_pkl(io.BytesIO(dumps(discriminator_network(cfg, d), protocol=2)))
    assert set(nets) == {"D"}
    img, c = np.random.default_rng(0).standard_normal((2, 3, 16, 16)), labels(cfg, [3, 1])
    close(nets["D"](torch.from_numpy(img).float(), as_tensor(c)), discriminator(img, d, cfg, c))


def test_convert_and_generate_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = CONFIGS["conditional-clamped"]
    tf = write_tf_pickle(tmp_path / "ada-cond.pkl", cfg)
    out = tmp_path / "ada-cond.pt"
    main(["convert", str(tf.path), str(out)])
    assert f"Wrote G, D, G_ema to {out}" in capsys.readouterr().out
    converted, original = load_network(out), load_network_pkl(tf.path)
    z, c = torch.randn(3, 8), torch.eye(3)[[2, 0, 1]]
    for key in ("G", "G_ema"):
        assert torch.equal(converted[key](z, c, noise_mode="const"), original[key](z, c, noise_mode="const"))
    img = torch.randn(4, 3, 16, 16)
    assert torch.equal(converted["D"](img, c[[0, 1, 2, 0]]), original["D"](img, c[[0, 1, 2, 0]]))

    images = {}
    for network in (tf.path, out):
        outdir = tmp_path / network.suffix[1:]
        main(["generate", "--network", str(network), "--seeds", "0-1", "--class", "2",
              "--noise-mode", "const", "--outdir", str(outdir)])
        images[network.suffix] = [np.asarray(PIL.Image.open(outdir / f"seed{s:04d}.png")) for s in (0, 1)]
    assert images[".pkl"][0].shape == (16, 16, 3)
    assert not np.array_equal(images[".pkl"][0], images[".pkl"][1])
    for a, b in zip(images[".pkl"], images[".pt"], strict=True):
        np.testing.assert_array_equal(a, b)

    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--network", str(tf.path), "--seeds", "0", "--outdir", str(tmp_path / "none")])
    assert exit_info.value.code == 1
    assert "class" in capsys.readouterr().err


def test_ada_refusals_name_the_cause(tmp_path: Path) -> None:
    cfg = CONFIGS["conditional-clamped"]
    g, d = generator_variables(cfg, 0), discriminator_variables(cfg, 1)

    def load_d(**kwargs: object) -> None:
        net = discriminator_network(cfg, d)
        net.state["static_kwargs"].update(kwargs)
        load_network_pkl(io.BytesIO(dumps(net)))

    with pytest.raises(NetworkFileError, match="comparison method use_pagan=True of the StyleGAN2-ADA paper"):
        load_d(use_pagan=True)
    with pytest.raises(NetworkFileError, match="comparison method score_max=4"):
        load_d(score_max=4)

    net = generator_network(cfg, g)
    net.state["components"]["synthesis"].state["static_kwargs"]["fmap_const"] = 3
    with pytest.raises(NetworkFileError, match="fmap_const=3"):
        load_network_pkl(io.BytesIO(dumps(net)))

    missing = {k: v for k, v in g.items() if not k.startswith("mapping/LabelEmbed")}
    with pytest.raises(NetworkFileError, match="lacks variable 'mapping/LabelEmbed/weight'"):
        load_network_pkl(io.BytesIO(dumps(generator_network(cfg, missing))))

    net = generator_network(cfg, g)
    net.state["components"]["synthesis"].state["build_func_name"] = "G_synthesis_paint"
    with pytest.raises(NetworkFileError, match="'G_synthesis_stylegan2' or 'G_synthesis' .found 'G_synth"):
        load_network_pkl(io.BytesIO(dumps(net)))


def test_tf_kwargs_claiming_a_huge_network_fail_before_building_it() -> None:
    cfg = CONFIGS["unconditional"]
    net = generator_network(cfg, generator_variables(cfg, 0))
    for component in net.state["components"].values():  # 16 px but 4096 channels: some 4 GiB
        component.state["static_kwargs"].update(fmap_base=1 << 20, fmap_max=4096)
    with Allocations() as counted, pytest.raises(NetworkFileError) as info:
        load_network_pkl(io.BytesIO(dumps(net)))
    assert counted.bytes < 20 << 20
    assert "TF network 'G': its arguments describe a network larger than 16.1 MiB" in str(info.value)

    net = generator_network(cfg, generator_variables(cfg, 0))
    for component in net.state["components"].values():
        component.state["static_kwargs"].update(resolution=4096, fmap_base=1 << 14)
    with Allocations() as counted, pytest.raises(NetworkFileError, match="more than .* tensors|larger than"):
        load_network_pkl(io.BytesIO(dumps(net)))
    assert counted.bytes < 20 << 20

    net.state["components"]["synthesis"].state["static_kwargs"]["resolution"] = 2**40
    with pytest.raises(NetworkFileError, match=r"resolution 1099511627776, not a power of two from 4 to \d+"):
        load_network_pkl(io.BytesIO(dumps(net)))


def test_networks_without_noise_inputs_load(tmp_path: Path) -> None:
    """use_noise=False: TF keeps no noise inputs or strengths, and the output equals the reference with
    the noise strengths at zero."""
    cfg = CONFIGS["unconditional"]
    v = generator_variables(cfg, 0)
    quiet = {k: val for k, val in v.items() if "noise" not in k}
    net = generator_network(cfg, quiet)
    for component in net.state["components"].values():
        component.state["static_kwargs"]["use_noise"] = False
    G = load_network_pkl(io.BytesIO(dumps(net)))["G_ema"]
    assert not any("noise" in key for key in G.state_dict())
    zeroed = {k: np.zeros_like(val) if k.endswith("noise_strength") else val for k, val in v.items()}
    z = np.random.default_rng(1).standard_normal((2, cfg.latent_size))
    dl = np.repeat(mapping(z, v, cfg.mapping_layers)[:, None], 6, axis=1)
    close(G(torch.from_numpy(z).float(), None), synthesis(dl, zeroed, cfg))
