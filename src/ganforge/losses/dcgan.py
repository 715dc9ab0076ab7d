"""DCGAN loss: sigmoid cross-entropy on D's logits, non-saturating for G (Radford et al. 2015).

As in carpedm20/DCGAN-tensorflow, with BCE(x, t) the sigmoid cross-entropy of logit x and target t:

    Dmain  d_loss = mean BCE(D(x), 1) + mean BCE(D(G(z)), 0)    D learns to tell reals from fakes
    Gmain  g_loss = mean BCE(D(G(z)), 1)                         G raises its fakes' scores

D sees reals and fakes in separate calls, so its batch norm normalises each batch on its own.
The reference trains both networks with Adam (lr 2e-4, beta1 0.5) and runs the G update twice after
each D update "to make sure that d_loss does not go to zero"; `DCGANConfig` holds these defaults
and the order of the phases. `DCGANLoss` has the interface of `StyleGAN2Loss`, phases Gmain and
Dmain only, so the training loop drives both alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.errors import OptionError
from ganforge.losses.base import AdversarialLoss, Round, score_stats

PHASES = ("Gmain", "Dmain")


@dataclass(frozen=True)
class DCGANConfig:
    """DCGAN optimiser settings and phase order (defaults from the paper and the reference code)."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    g_steps: int = 2  # G updates after each D update (the paper: 1; the reference code: 2)

    def __post_init__(self) -> None:
        if self.g_steps < 1:
            raise OptionError(f"must be at least 1, got {self.g_steps}", param="g_steps")
        if self.lr <= 0:
            raise OptionError(f"must be positive, got {self.lr}", param="lr")

    def phases(self) -> tuple[str, ...]:
        """The phases of one training step in order: Dmain, then Gmain `g_steps` times."""
        return ("Dmain",) + ("Gmain",) * self.g_steps

    def adam_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `torch.optim.Adam` for either network."""
        return {"lr": self.lr, "betas": (self.beta1, self.beta2)}


def sigmoid_cross_entropy(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Elementwise BCE of sigmoid(logits) against the constant label `target` (TF's numerically safe form)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none")


class DCGANLoss(AdversarialLoss):
    """The DCGAN loss for generator `G` and discriminator `D`, with `StyleGAN2Loss`'s interface.

    `augment_pipe` (when given) is applied to every image, real or fake, before D sees it. The loss
    has no state; `state_dict()` and `load_state_dict()` exist for the training loop's snapshots.
    """

    PHASES = PHASES

    def generator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Gmain: G raises its fakes' scores."""
        gen_img = self.G(batch.gen_z, batch.gen_c)
        return self.fool_D(gen_img, batch, lambda logits: sigmoid_cross_entropy(logits, 1.0))

    def discriminator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Dmain: D tells reals from fakes, each batch through D in its own call."""
        with torch.no_grad():
            gen_img = self.G(batch.gen_z, batch.gen_c)
        gen_logits = self.run_D(gen_img, batch.gen_c)
        real_logits = self.run_D(batch.real_img.detach(), batch.real_c)
        loss_fake = sigmoid_cross_entropy(gen_logits, 0.0)
        loss_real = sigmoid_cross_entropy(real_logits, 1.0)
        (loss_real.mean() + loss_fake.mean()).mul(batch.gain).backward()
        return {
            "real_logits": real_logits.detach(),
            **score_stats("fake", gen_logits),
            **score_stats("real", real_logits),
            "Loss/D/loss_fake": loss_fake.detach(),
            "Loss/D/loss_real": loss_real.detach(),
            "Loss/D/loss": (loss_real + loss_fake).detach(),
        }
