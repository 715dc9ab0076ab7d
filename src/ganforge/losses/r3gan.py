"""R3GAN loss: the relativistic pairing GAN loss with zero-centred R1 and R2 penalties
(Huang et al. 2024; the pairing loss of Jolicoeur-Martineau 2019).

Each fake is paired with a real image and made with that real's labels, as in the public code:

    Gmain  softplus(-(D(G(z)) - D(x)))                          G raises its fakes above the reals
    Dboth  softplus(-(D(x) - D(G(z)))) + gamma/2 (R1 + R2)      every step (R3GAN's default)
    Dmain  softplus(-(D(x) - D(G(z))))                          lazy: the adversarial part alone
    Dreg   gamma/2 (R1 + R2)                                    lazy: every `interval` steps

R1 = |grad_x D(x)|^2 on the reals and R2 = |grad_y D(y)|^2 on the fakes, per image. `gamma` is an
attribute so that a schedule can change it between steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses.base import AdversarialLoss, Round, score_stats
from ganforge.losses.penalties import r1_penalty

PHASES = ("Gmain", "Dmain", "Dreg", "Dboth")


def relativistic_loss(logits: torch.Tensor, other_logits: torch.Tensor) -> torch.Tensor:
    """Per-pair softplus(-(logits - other_logits)): small when `logits` exceed their partners'."""
    return F.softplus(other_logits - logits)


class R3GANLoss(AdversarialLoss):
    """The R3GAN loss for generator `G` and discriminator `D`; `gamma` weighs R1 + R2.

    `augment_pipe` (when given) is applied to every image, real or fake, before D sees it; the
    penalties are gradients with respect to the images before augmentation, as in the public code.
    """

    PHASES = PHASES

    def __init__(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None = None,
                 gamma: float = 0.05) -> None:
        super().__init__(G, D, augment_pipe)
        self.gamma = gamma

    def generator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Gmain: G raises its fakes' scores above those of their paired reals."""
        gen_img = self.G(batch.gen_z, batch.real_c)
        gen_logits = self.run_D(gen_img, batch.real_c)
        real_logits = self.run_D(batch.real_img.detach(), batch.real_c)
        loss = relativistic_loss(gen_logits, real_logits).flatten()
        loss.mean().mul(batch.gain).backward()
        return {
            **score_stats("fake", gen_logits - real_logits),
            "Loss/G/loss": loss.detach(),
        }

    def discriminator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Dmain/Dreg/Dboth: the pairing loss if `main`, gamma/2 (R1 + R2) if `reg` and gamma != 0."""
        penalise = reg and self.gamma != 0
        if not (main or penalise):
            return {}
        with torch.no_grad():
            gen_img = self.G(batch.gen_z, batch.real_c)
        real_img = batch.real_img.detach().requires_grad_(penalise)
        gen_img = gen_img.detach().requires_grad_(penalise)
        real_logits = self.run_D(real_img, batch.real_c)
        gen_logits = self.run_D(gen_img, batch.real_c)
        stats: dict[str, torch.Tensor] = {"real_logits": real_logits.detach()}
        total = real_logits.flatten() * 0  # keeps every parameter of D in the graph
        if main:
            loss = relativistic_loss(real_logits, gen_logits).flatten()
            total = total + loss
            stats.update(score_stats("real", real_logits - gen_logits))
            stats["Loss/D/loss"] = loss.detach()
        if penalise:
            r1 = r1_penalty(real_logits, real_img)
            r2 = r1_penalty(gen_logits, gen_img)
            reg_loss = (r1 + r2) * (self.gamma / 2)
            total = total + reg_loss
            stats.update({"Loss/r1_penalty": r1.detach(), "Loss/r2_penalty": r2.detach(),
                          "Loss/D/reg": reg_loss.detach()})
        total.mean().mul(batch.gain).backward()
        return stats
