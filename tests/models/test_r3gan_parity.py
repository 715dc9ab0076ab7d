"""R3GAN networks, penalties and losses against the public code's numbers (r16_cond, conditional)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.conftest import ParityLookup

from ganforge.losses.r3gan import R3GANLoss
from ganforge.models import r3gan

RTOL = 1e-4  # relative, for the penalties and the losses
ATOL = 1e-4  # absolute, for images and logits


def build(parity: ParityLookup, name: str = "r16_cond") -> tuple[r3gan.Generator, r3gan.Discriminator, dict]:
    """G and D of a parity configuration from its R3GAN arguments, with its weights by R3GAN's names."""
    config = json.loads(parity(f"{name}.json").read_text())
    data = dict(np.load(parity(f"{name}.npz")))
    G = r3gan.Generator(**r3gan.from_r3gan_kwargs(config["G_kwargs"]))
    D = r3gan.Discriminator(**r3gan.from_r3gan_kwargs(config["D_kwargs"]))
    for net, prefix in ((G, "G/"), (D, "D/")):
        state = {k[len(prefix):]: torch.from_numpy(v) for k, v in data.items() if k.startswith(prefix)}
        net.load_state_dict(r3gan.from_r3gan_names(state), strict=True)
    return G.eval(), D.eval(), {k: torch.from_numpy(v) for k, v in data.items()}


@pytest.fixture(scope="module")
def r16(parity: ParityLookup) -> tuple[r3gan.Generator, r3gan.Discriminator, dict]:
    return build(parity)


def test_images_and_logits_match(r16: tuple, one_thread: None) -> None:
    G, D, data = r16
    z, c, real = data["in/z"], data["in/c"], data["in/real"]
    with torch.no_grad():
        img = G(z, c)
        torch.testing.assert_close(img, data["out/img"], rtol=0, atol=ATOL)
        assert D(img, c).shape == (len(z), 1)
        torch.testing.assert_close(D(img, c).flatten(), data["out/logits_fake"], rtol=0, atol=ATOL)
        torch.testing.assert_close(D(real, c).flatten(), data["out/logits_real"], rtol=0, atol=ATOL)


def test_penalties_and_losses_match(r16: tuple, one_thread: None) -> None:
    G, D, data = r16
    z, c, real, gamma = data["in/z"], data["in/c"], data["in/real"], float(data["in/gamma"])
    loss = R3GANLoss(G.requires_grad_(True), D.requires_grad_(True), gamma=gamma)
    d_stats = loss.accumulate_gradients("Dboth", real, c, z, c, gain=1.0)
    torch.testing.assert_close(d_stats["Loss/r1_penalty"], data["out/r1_penalty"], rtol=RTOL, atol=0)
    torch.testing.assert_close(d_stats["Loss/r2_penalty"], data["out/r2_penalty"], rtol=RTOL, atol=0)
    d_loss = d_stats["Loss/D/loss"] + d_stats["Loss/D/reg"]
    torch.testing.assert_close(d_loss, data["out/d_loss"], rtol=RTOL, atol=0)
    assert all(p.grad is not None for p in D.parameters())
    assert all(p.grad is None for p in G.parameters())  # D's phase leaves G alone
    g_stats = loss.accumulate_gradients("Gmain", real, c, z, c, gain=1.0)
    torch.testing.assert_close(g_stats["Loss/G/loss"], data["out/g_loss"], rtol=RTOL, atol=0)
    assert all(p.grad is not None for p in G.parameters())


def test_lazy_phases_split_the_loss(r16: tuple, one_thread: None) -> None:
    """Dmain is the pairing loss alone and Dreg the penalties alone; together they make Dboth."""
    G, D, data = r16
    z, c, real, gamma = data["in/z"], data["in/c"], data["in/real"], float(data["in/gamma"])
    loss = R3GANLoss(G, D.requires_grad_(True), gamma=gamma)
    main = loss.accumulate_gradients("Dmain", real, c, z, c, gain=1.0)
    reg = loss.accumulate_gradients("Dreg", real, c, z, c, gain=1.0)
    assert "Loss/r1_penalty" not in main and "Loss/D/loss" not in reg
    torch.testing.assert_close(main["Loss/D/loss"] + reg["Loss/D/reg"], data["out/d_loss"], rtol=RTOL, atol=0)


def test_r3gan_names_cover_every_parameter(parity: ParityLookup) -> None:
    """Every R3GAN tensor maps to exactly one ganforge tensor and back, and unknown names are refused."""
    data = np.load(parity("r16_cond.npz"))
    names = [k for k in data.files if k[:2] in ("G/", "D/")]
    mapped = {(n[:2], r3gan.ganforge_name(n[2:])) for n in names}
    assert len(mapped) == len(names)
    name = "Model.MainLayers.1.Layers.2.LinearLayer2.Layer.weight"
    assert r3gan.ganforge_name(name) == "stages.1.layers.2.conv2.weight"
    with pytest.raises(KeyError, match="Evil"):
        r3gan.ganforge_name("Model.Evil.weight")
