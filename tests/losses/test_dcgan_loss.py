"""DCGANLoss against an independent float64 BCE on known logits; optimiser settings; a toy run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.errors import OptionError
from ganforge.losses.dcgan import PHASES, DCGANConfig, DCGANLoss
from ganforge.models.dcgan import Discriminator, Generator

SLOPE, OFFSET = 10.0, -2.0  # the stub D's logit of a constant image of value v is SLOPE * v + OFFSET


class ConstantG(nn.Module):
    """Image i is constant, of value scale * z[i, 0]."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (self.scale * z[:, :1])[:, :, None, None].expand(-1, 3, 4, 4)


class MeanD(nn.Module):
    """Logit = slope * mean(img) + offset: known in advance for constant images."""

    def __init__(self) -> None:
        super().__init__()
        self.slope = nn.Parameter(torch.tensor(SLOPE))
        self.offset = nn.Parameter(torch.tensor(OFFSET))

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.slope * img.mean(dim=(1, 2, 3))[:, None] + self.offset


def bce(logits: np.ndarray, target: float) -> np.ndarray:
    """-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] in float64, written stably."""
    return target * np.logaddexp(0, -logits) + (1 - target) * np.logaddexp(0, logits)


def close(actual: torch.Tensor, expected: np.ndarray) -> None:
    """float32 results against float64 references (torch's BCE loses ~1e-7 absolute near 0)."""
    np.testing.assert_allclose(actual.flatten().numpy(), expected, rtol=1e-5, atol=1e-6)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


REAL_VALUES = np.array([0.3, -0.5, 0.9, 5.0])  # logit 48: far in the saturated tail
GEN_Z0 = np.array([0.4, -1.0, 2.0, -9.0])  # fake values 0.2, -0.5, 1.0, -4.5; logit -47


def inputs() -> dict[str, torch.Tensor]:
    real = torch.tensor(REAL_VALUES, dtype=torch.float32)[:, None, None, None].expand(-1, 3, 4, 4)
    gen_z = torch.zeros([4, 5])
    gen_z[:, 0] = torch.tensor(GEN_Z0)
    return {"real_img": real, "real_c": torch.zeros([4, 0]), "gen_z": gen_z, "gen_c": torch.zeros([4, 0])}


def test_discriminator_loss_and_gradients() -> None:
    G, D = ConstantG(), MeanD()
    values = DCGANLoss(G, D).accumulate_gradients("Dmain", **inputs(), gain=0.75)
    real_logits = SLOPE * REAL_VALUES + OFFSET
    fake_logits = SLOPE * 0.5 * GEN_Z0 + OFFSET
    close(values["real_logits"], real_logits)
    close(values["Loss/D/loss_real"], bce(real_logits, 1))
    close(values["Loss/D/loss_fake"], bce(fake_logits, 0))
    expected = bce(real_logits, 1) + bce(fake_logits, 0)
    close(values["Loss/D/loss"], expected)
    # d_loss = mean BCE(real, 1) + mean BCE(fake, 0); d/dx BCE(x, t) = sigmoid(x) - t.
    grad_offset = 0.75 * ((sigmoid(real_logits) - 1).mean() + sigmoid(fake_logits).mean())
    fake_values = 0.5 * GEN_Z0
    grad_slope = 0.75 * (
        ((sigmoid(real_logits) - 1) * REAL_VALUES).mean() + (sigmoid(fake_logits) * fake_values).mean()
    )
    assert float(D.offset.grad) == pytest.approx(grad_offset, rel=1e-5)
    assert float(D.slope.grad) == pytest.approx(grad_slope, rel=1e-5)
    assert G.scale.grad is None  # fakes are made without a graph in the D phase


def test_generator_loss_is_non_saturating() -> None:
    G, D = ConstantG(), MeanD()
    values = DCGANLoss(G, D).accumulate_gradients("Gmain", **inputs(), gain=2.0)
    fake_logits = SLOPE * 0.5 * GEN_Z0 + OFFSET
    close(values["Loss/G/loss"], bce(fake_logits, 1))
    close(values["Loss/scores/fake"], fake_logits)
    # g_loss = mean BCE(D(G(z)), 1): d/dscale = mean((sigmoid(x) - 1) * SLOPE * z0). The saturated
    # fake (logit -47) still pulls with full strength, unlike the minimax log(1 - D(G(z))).
    grad_scale = 2.0 * ((sigmoid(fake_logits) - 1) * SLOPE * GEN_Z0).mean()
    assert float(G.scale.grad) == pytest.approx(grad_scale, rel=1e-5)
    assert "real_logits" not in values


def test_augment_pipe_sees_every_image() -> None:
    G, D = ConstantG(), MeanD()
    loss = DCGANLoss(G, D, augment_pipe=_Zero())
    values = loss.accumulate_gradients("Dmain", **inputs(), gain=1.0)
    assert torch.all(values["Loss/scores/real"] == OFFSET)
    assert torch.all(values["Loss/scores/fake"] == OFFSET)


class _Zero(nn.Module):
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return img * 0


def test_phases_state_and_config() -> None:
    loss = DCGANLoss(ConstantG(), MeanD())
    assert PHASES == ("Gmain", "Dmain")
    for phase in ("Greg", "Dboth", "Gboth"):
        with pytest.raises(ValueError, match="phase must be one of"):
            loss.accumulate_gradients(phase, **inputs(), gain=1.0)
    assert loss.state_dict() == {}
    loss.load_state_dict({})
    with pytest.raises(ValueError, match="no state"):
        loss.load_state_dict({"pl_mean": torch.zeros([])})
    assert DCGANConfig().phases() == ("Dmain", "Gmain", "Gmain")  # the reference code's schedule
    assert DCGANConfig(g_steps=1).phases() == ("Dmain", "Gmain")  # the paper's
    with pytest.raises(OptionError, match="g_steps"):
        DCGANConfig(g_steps=0)


def test_adam_settings() -> None:
    assert DCGANConfig().adam_kwargs() == {"lr": 2e-4, "betas": (0.5, 0.999)}
    assert DCGANConfig(lr=1e-3, beta1=0.0).adam_kwargs() == {"lr": 1e-3, "betas": (0.0, 0.999)}


def test_conditional_networks_train_separately() -> None:
    torch.manual_seed(0)
    G = Generator(z_dim=4, c_dim=3, img_resolution=8, img_channels=1, gf_dim=2, gfc_dim=8).train()
    D = Discriminator(c_dim=3, img_resolution=8, img_channels=1, df_dim=2, dfc_dim=8).train()
    c = torch.eye(3)[[0, 1, 2, 0]]
    real_img, gen_z = torch.rand([4, 1, 8, 8]) * 2 - 1, torch.randn([4, 4])
    batch = {"real_img": real_img, "real_c": c, "gen_z": gen_z, "gen_c": c}
    loss = DCGANLoss(G, D)
    G.requires_grad_(False), D.requires_grad_(True)
    loss.accumulate_gradients("Dmain", **batch, gain=1.0)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())
    assert all(p.grad is None for p in G.parameters())
    D.zero_grad(set_to_none=True)
    G.requires_grad_(True), D.requires_grad_(False)
    loss.accumulate_gradients("Gmain", **batch, gain=1.0)
    assert all(p.grad is not None for p in G.parameters())
    assert all(p.grad is None for p in D.parameters())


def test_toy_training_reduces_d_loss_and_g_steps_reduce_g_loss(one_thread: None) -> None:
    """40 steps of D, G, G (default Adam settings) on 16x16 images of one constant colour."""
    torch.manual_seed(0)
    G = Generator(z_dim=8, img_resolution=16, img_channels=3, gf_dim=4).train()
    D = Discriminator(img_resolution=16, img_channels=3, df_dim=4).train()
    config = DCGANConfig()
    opt_G, opt_D = (torch.optim.Adam(net.parameters(), **config.adam_kwargs()) for net in (G, D))
    loss = DCGANLoss(G, D)
    real = torch.tensor([0.6, -0.4, 0.2])[None, :, None, None].expand(8, 3, 16, 16)
    c = torch.zeros([8, 0])
    latents = torch.Generator().manual_seed(1)
    d_losses, g_improved = [], 0
    for _ in range(40):
        z = torch.randn([8, 8], generator=latents)  # one z for the whole step, as the reference code does
        g_losses = []
        for phase in config.phases():
            training_G = phase == "Gmain"
            net, opt = (G, opt_G) if training_G else (D, opt_D)
            G.requires_grad_(training_G), D.requires_grad_(not training_G)
            opt.zero_grad(set_to_none=True)
            values = loss.accumulate_gradients(phase, real, c, z, c, gain=1.0)
            opt.step()
            (g_losses if training_G else d_losses).append(float(values[f"Loss/{phase[0]}/loss"].mean()))
        g_improved += g_losses[1] < g_losses[0]  # the second G step sees the first one's effect
    assert np.mean(d_losses[-5:]) < np.mean(d_losses[:5]) - 0.02  # measured: 1.409 -> 1.372
    assert g_improved >= 36  # measured: 40 of 40
