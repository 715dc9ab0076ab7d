"""StyleGAN (2019) losses: non-saturating logistic with R1, or WGAN-GP with the epsilon drift term.

The two choices of the original release (Karras et al. 2019, its `training/loss.py`):

    logistic-r1  Gmain  softplus(-D(G(z)))
                 Dmain  softplus(D(G(z))) + softplus(-D(x)) + r1_gamma / 2 * |grad_x D(x)|^2
    wgangp       Gmain  -D(G(z))
                 Dmain  D(G(z)) - D(x) + wgan_lambda / wgan_target^2 * (|grad D(x_mix)| - wgan_target)^2
                        + wgan_epsilon * D(x)^2,   x_mix = x + u (G(z) - x), u ~ U(0, 1) per image

As in the original, D scores the fakes with the reals' labels and the penalty is applied in the
same pass as the main loss (no lazy regularisation). Style mixing happens inside the StyleGAN
generator while it is in training mode. `StyleGANLoss` has the interface of `StyleGAN2Loss`
(phases Gmain and Dmain), so the training loop drives both alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses.base import AdversarialLoss, Round, score_stats
from ganforge.losses.penalties import r1_penalty, wgan_gp_penalty

LOSSES = ("logistic-r1", "wgangp")


class StyleGANLoss(AdversarialLoss):
    """The StyleGAN loss `loss` ('logistic-r1' or 'wgangp') for generator `G` and discriminator `D`.

    `augment_pipe` (when given) is applied to every image D sees. The loss has no state;
    `state_dict()` and `load_state_dict()` exist for the training loop's snapshots. Random draws
    (the WGAN-GP mixing factors, drawn right after the fakes) use torch's global generator.
    """

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        augment_pipe: nn.Module | None = None,
        loss: str = "logistic-r1",
        r1_gamma: float = 10.0,
        wgan_lambda: float = 10.0,
        wgan_epsilon: float = 0.001,
        wgan_target: float = 1.0,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        super().__init__(G, D, augment_pipe)
        self.loss = loss
        self.r1_gamma = r1_gamma
        self.wgan_lambda = wgan_lambda
        self.wgan_epsilon = wgan_epsilon
        self.wgan_target = wgan_target

    def generator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Gmain: G raises its fakes' scores."""
        loss_of = (lambda logits: F.softplus(-logits)) if self.loss == "logistic-r1" else torch.neg
        return self.fool_D(self.G(batch.gen_z, batch.gen_c), batch, loss_of)

    def discriminator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Dmain: the main loss and its penalty in one pass; the fakes get the reals' labels."""
        real_img, real_c = batch.real_img, batch.real_c
        with torch.no_grad():
            gen_img = self.G(batch.gen_z, real_c)
        r1 = self.loss == "logistic-r1" and self.r1_gamma != 0
        real_img = real_img.detach().requires_grad_(r1)
        gen_logits = self.run_D(gen_img, real_c)
        real_logits = self.run_D(real_img, real_c)
        stats = {
            "real_logits": real_logits.detach(),
            **score_stats("fake", gen_logits),
            **score_stats("real", real_logits),
        }
        if self.loss == "logistic-r1":
            loss = F.softplus(gen_logits) + F.softplus(-real_logits)
            stats["Loss/D/loss"] = loss.detach()
            if r1:
                penalty = r1_penalty(real_logits, real_img)
                loss = loss + (penalty * (self.r1_gamma / 2))[:, None]
                stats["Loss/r1_penalty"] = penalty.detach()
        else:
            loss = gen_logits - real_logits
            stats["Loss/D/loss"] = loss.detach()
            mixing = torch.rand([real_img.shape[0], 1, 1, 1], device=real_img.device, dtype=real_img.dtype)
            penalty, norms = wgan_gp_penalty(self.run_D, real_img, gen_img, real_c, mixing, self.wgan_target)
            epsilon_penalty = real_logits.square()
            loss = loss + (penalty * (self.wgan_lambda / self.wgan_target**2))[:, None]
            loss = loss + epsilon_penalty * self.wgan_epsilon
            stats["Loss/gradient_penalty"] = penalty.detach()
            stats["Loss/mixed_norms"] = norms.detach()
            stats["Loss/epsilon_penalty"] = epsilon_penalty.detach()
        stats["Loss/D/total"] = loss.detach()
        loss.mean().mul(batch.gain).backward()
        return stats
