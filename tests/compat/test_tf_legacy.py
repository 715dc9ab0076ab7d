"""Legacy TF StyleGAN2 and StyleGAN pickles: converted networks match a direct numpy run of the TF graph
(`tests.compat.tf_reference`)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.compat.tf_pickles import (
    TF_MODULES,
    TFNetwork,
    TinyConfig,
    TinyV1Config,
    build_module_src,
    discriminator_network,
    discriminator_variables,
    dumps,
    generator_network,
    generator_variables,
    v1_discriminator_variables,
    v1_generator_variables,
    v1_networks,
    write_tf_pickle,
)
from tests.compat.tf_reference import (
    close,
    discriminator,
    mapping,
    synthesis,
    v1_discriminator,
    v1_mapping,
    v1_synthesis,
)

from ganforge.compat import load_network, load_network_pkl
from ganforge.errors import NetworkFileError
from ganforge.models import stylegan
from ganforge.models.stylegan2 import Discriminator, Generator


@pytest.fixture(autouse=True)
def no_dnnlib() -> None:
    """Loading must never rely on (or find) a dnnlib module."""
    assert not any(name in sys.modules for name in TF_MODULES)


@pytest.mark.parametrize("g_arch,d_arch", [("skip", "resnet"), ("resnet", "skip"), ("orig", "orig")])
def test_converted_networks_match_the_tf_graph(tmp_path: Path, g_arch: str, d_arch: str) -> None:
    cfg = TinyConfig(g_architecture=g_arch, d_architecture=d_arch)
    tf = write_tf_pickle(tmp_path / "tf.pkl", cfg)
    nets = load_network_pkl(tf.path)
    assert set(nets) == {"G", "D", "G_ema"}
    assert isinstance(nets["G"], Generator) and isinstance(nets["G_ema"], Generator)
    assert isinstance(nets["D"], Discriminator) and not nets["D"].training

    z = np.random.default_rng(5).standard_normal((3, cfg.latent_size))
    zt = torch.from_numpy(z).float()
    for key, v in (("G_ema", tf.Gs), ("G", tf.G)):  # G_ema is Gs, not G
        G = nets[key]
        w = mapping(z, v, cfg.mapping_layers)
        ws = G.mapping(zt, None)
        close(ws[:, 0], w)
        assert torch.equal(ws[:, 0], ws[:, -1]) and ws.shape[1] == 2 * cfg.log2 - 2
        dl = np.repeat(w[:, None], ws.shape[1], axis=1)
        close(G.synthesis(ws, noise_mode="const"), synthesis(dl, v, cfg))
        close(G(zt, None, noise_mode="const"), synthesis(dl, v, cfg))

    # Truncation pulls towards TF's dlatent_avg.
    w = mapping(z, tf.Gs, cfg.mapping_layers)
    avg = tf.Gs["dlatent_avg"].astype(np.float64)
    close(nets["G_ema"].mapping(zt, None, truncation_psi=0.5)[:, 3], avg + 0.5 * (w - avg))

    img = np.random.default_rng(6).standard_normal((4, cfg.num_channels, 16, 16))
    close(nets["D"](torch.from_numpy(img).float(), None), discriminator(img, tf.D, cfg))


def test_noise_mode_none_drops_only_the_noise(tmp_path: Path) -> None:
    """With the noise strengths zeroed in the TF variables, 'const' equals 'none' and the reference."""
    cfg = TinyConfig()
    v = generator_variables(cfg, 3)
    for name in v:
        if name.endswith("noise_strength"):
            v[name] = np.zeros_like(v[name])
    path = tmp_path / "gs.pkl"
    path.write_bytes(dumps(generator_network(cfg, v, name="Gs")))
    nets = load_network_pkl(path)
    assert set(nets) == {"G_ema"}
    ws = torch.randn(2, 6, cfg.dlatent_size)
    out = nets["G_ema"].synthesis(ws, noise_mode="none")
    close(out, synthesis(ws.double().numpy(), v, cfg))
    assert torch.equal(out, nets["G_ema"].synthesis(ws, noise_mode="const"))


def test_lone_discriminator_and_protocols(tmp_path: Path) -> None:
    cfg = TinyConfig()
    v = discriminator_variables(cfg, 1)
    for protocol in (2, 4):
        nets = load_network_pkl(io.BytesIO(dumps(discriminator_network(cfg, v), protocol=protocol)))
        assert set(nets) == {"D"}
        img = np.random.default_rng(0).standard_normal((2, 3, 16, 16))
        close(nets["D"](torch.from_numpy(img).float(), None), discriminator(img, v, cfg))


def test_load_network_reads_tf_pickles_and_module_source_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    cfg = TinyConfig()
    net = generator_network(cfg, generator_variables(cfg, 0), src=build_module_src(marker))
    path = tmp_path / "g.pkl"
    path.write_bytes(dumps(net))
    nets = load_network(path)
    assert isinstance(nets["G_ema"], Generator)
    assert not marker.exists()


def test_malicious_tf_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple:
            return os.system, (f"touch {marker}",)

    cfg = TinyConfig()
    v: dict = generator_variables(cfg, 0)
    v["dlatent_avg"] = Evil()
    path = tmp_path / "evil.pkl"
    path.write_bytes(dumps(generator_network(cfg, v)))
    refused = r"refusing to load .*evil\.pkl: it references (posix|nt)\.system"
    with pytest.raises(NetworkFileError, match=refused):
        load_network_pkl(path)
    assert not marker.exists()


def test_unknown_build_functions_get_a_clear_error(tmp_path: Path) -> None:
    net = TFNetwork("G", "G_paint", {"resolution": 16}, {"dlatent_avg": np.zeros(8, np.float32)})
    path = tmp_path / "other.pkl"
    path.write_bytes(dumps((net, net, net)))
    message = "other.pkl: TF network 'G' is built by 'G_paint', which ganforge cannot convert; supported: "
    with pytest.raises(NetworkFileError, match=message + "StyleGAN2's G_main"):
        load_network_pkl(path)


def test_unsupported_tf_generators_are_refused_by_name(tmp_path: Path) -> None:
    cfg = TinyConfig()
    v = generator_variables(cfg, 0)
    net = generator_network(cfg, v)
    net.state["components"]["synthesis"].state["build_func_name"] = "G_synthesis_stylegan_revised"
    with pytest.raises(NetworkFileError, match="configs B-D"):
        load_network_pkl(io.BytesIO(dumps(net)))

    net = generator_network(cfg, v)
    for component in ("mapping", "synthesis"):
        net.state["components"][component].state["static_kwargs"]["label_size"] = 4
    with pytest.raises(NetworkFileError, match="conditional \\(label_size=4\\)"):
        load_network_pkl(io.BytesIO(dumps(net)))

    extra = dict(v, **{"synthesis/4x4/Extra/weight": np.zeros(3, np.float32)})
    with pytest.raises(NetworkFileError, match="does not know how to convert: synthesis/4x4/Extra/weight"):
        load_network_pkl(io.BytesIO(dumps(generator_network(cfg, extra))))

    missing = {k: val for k, val in v.items() if k != "synthesis/8x8/Conv1/mod_bias"}
    with pytest.raises(NetworkFileError, match="lacks variable 'synthesis/8x8/Conv1/mod_bias'"):
        load_network_pkl(io.BytesIO(dumps(generator_network(cfg, missing))))

    wrong = dict(v, **{"synthesis/4x4/Conv/bias": np.zeros(5, np.float32)})
    with pytest.raises(NetworkFileError, match=r"variables do not fit its arguments.*b4\.conv1\.bias \[5\]"):
        load_network_pkl(io.BytesIO(dumps(generator_network(cfg, wrong))))


def test_stylegan_v1_pickles_match_the_tf_graph(tmp_path: Path) -> None:
    cfg = TinyV1Config()
    g, d = v1_generator_variables(cfg, 0), v1_discriminator_variables(cfg, 1)
    path = tmp_path / "karras2019-tiny.pkl"
    path.write_bytes(dumps(v1_networks(cfg, g, d)))
    nets = load_network_pkl(path)
    assert set(nets) == {"G", "D", "G_ema"}
    G, D = nets["G_ema"], nets["D"]
    assert isinstance(G, stylegan.Generator) and isinstance(D, stylegan.Discriminator)
    assert G.synthesis.structure == "linear" and float(G.synthesis.lod) == 0

    rng = np.random.default_rng(2)
    z, c = rng.standard_normal((2, cfg.latent_size)), np.eye(cfg.label_size)[[1, 0]]
    zt, ct = torch.from_numpy(z).float(), torch.from_numpy(c).float()
    w = v1_mapping(z, c, g, cfg)
    ws = G.mapping(zt, ct)
    close(ws[:, 0], w)
    dl = np.repeat(w[:, None], 4, axis=1)
    close(G(zt, ct, noise_mode="const"), v1_synthesis(dl, g))

    img = rng.standard_normal((4, 3, 8, 8))
    labels = np.eye(cfg.label_size)[[0, 1, 1, 0]]
    scores = D(torch.from_numpy(img).float(), torch.from_numpy(labels).float())
    close(scores, v1_discriminator(img, labels, d, cfg))

    lone = load_network_pkl(io.BytesIO(dumps(v1_networks(cfg, g, d)[1])))
    assert set(lone) == {"D"} and isinstance(lone["D"], stylegan.Discriminator)
