"""StyleGAN2-ADA loss: non-saturating logistic GAN loss with lazy R1 and path-length regularisation.

The training loop calls `StyleGAN2Loss.accumulate_gradients` once per round of each phase; the
phase names and the split into main and regularisation passes follow the StyleGAN2-ADA release:

    Gmain  softplus(-D(G(z)))                          G learns to raise its fakes' scores
    Greg   path-length penalty on G(z[:N // shrink])   smooth, evenly scaled w -> image mapping
    Dmain  softplus(D(G(z))) + softplus(-D(x))         D learns to tell reals from fakes
    Dreg   r1_gamma / 2 * |grad_x D(x)|^2              R1 penalty on (augmented) reals
    Gboth / Dboth  main and regularisation in one pass (when lazy regularisation is off)

Each call runs `.backward()` on ``loss.mean() * gain`` itself (`gain` is the phase interval, so a
lazily applied penalty keeps its average strength) and returns detached per-sample values for the
statistics. `precision` (see `ganforge.ops.precision`) sets the arithmetic of the
networks' float16 blocks in the main and the regularisation passes. As in the official loop, the
caller enables ``requires_grad`` only on the network being trained; the generator never receives
gradients in the D phases here in any case.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses.base import AdversarialLoss, Round, score_stats
from ganforge.losses.penalties import path_lengths, r1_penalty
from ganforge.ops.precision import forward_kwargs

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


class StyleGAN2Loss(AdversarialLoss):
    """The StyleGAN2-ADA loss for generator `G` and discriminator `D`.

    `augment_pipe` (when given) is applied to every image, real or fake, before D sees it.
    `pl_mean`, the running mean of path lengths, is the only state; `state_dict()` and
    `load_state_dict()` carry it across snapshots. `G_mapping` and `G_synthesis` (G's halves when
    None) may be wrappers of them, such as compiled modules. Random draws (style mixing, path-length
    noise) use torch's global generator.
    """

    PHASES = PHASES

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        augment_pipe: nn.Module | None = None,
        style_mixing_prob: float = 0.9,
        r1_gamma: float = 10,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        pl_weight: float = 2,
        *,
        G_mapping: nn.Module | None = None,
        G_synthesis: nn.Module | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__(G, D, augment_pipe)
        self.G_mapping = G_mapping if G_mapping is not None else G.mapping
        self.G_synthesis = G_synthesis if G_synthesis is not None else G.synthesis
        self.style_mixing_prob = style_mixing_prob
        self.r1_gamma = r1_gamma
        self.pl_batch_shrink = pl_batch_shrink
        self.pl_decay = pl_decay
        self.pl_weight = pl_weight
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)
        self.main_forward = forward_kwargs(precision)  # G.synthesis / D arguments of the main passes
        self.reg_forward = forward_kwargs(precision, regularising=True)  # and of R1 and path length

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The loss state to store in a training snapshot."""
        return {"pl_mean": self.pl_mean.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state saved by `state_dict` (kept on the device pl_mean is on)."""
        unexpected = set(state) - {"pl_mean"}
        if "pl_mean" not in state or unexpected:
            raise ValueError(f"StyleGAN2Loss state needs exactly the key 'pl_mean', got {sorted(state)}")
        pl_mean = torch.as_tensor(state["pl_mean"], dtype=torch.float32)
        self.pl_mean = pl_mean.to(self.pl_mean.device).reshape([]).clone()

    def run_G(
        self, z: torch.Tensor, c: torch.Tensor, regularising: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and the ws that made them, with style mixing applied with `style_mixing_prob`."""
        ws = self.G_mapping(z, c)
        if self.style_mixing_prob > 0 and float(torch.rand([], device=ws.device)) < self.style_mixing_prob:
            ws = self.mix_styles(ws, z, c)
        return self.G_synthesis(ws, **(self.reg_forward if regularising else self.main_forward)), ws

    def mix_styles(self, ws: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Replace ws[:, cutoff:] by the ws of fresh latents, cutoff uniform in [1, num_ws).

        The second mapping pass leaves the tracked w average alone, so it averages only the
        latents the loop drew.
        """
        cutoff = int(torch.randint(1, ws.shape[1], [], device=ws.device))
        other = self.G_mapping(torch.randn_like(z), c, skip_w_avg_update=True)
        return torch.cat([ws[:, :cutoff], other[:, cutoff:]], dim=1)

    def generator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Gmain: G raises its fakes' scores; Greg: the path-length penalty (when pl_weight != 0)."""
        stats: dict[str, torch.Tensor] = {}
        if main:
            gen_img, _ = self.run_G(batch.gen_z, batch.gen_c)
            # -log(sigmoid(D(G(z))))
            stats.update(self.fool_D(gen_img, batch, lambda logits: F.softplus(-logits), **self.main_forward))
        if reg and self.pl_weight != 0:
            stats.update(self._path_length(batch))
        return stats

    def _path_length(self, batch: Round) -> dict[str, torch.Tensor]:
        batch_size = max(batch.gen_z.shape[0] // self.pl_batch_shrink, 1)
        gen_img, gen_ws = self.run_G(batch.gen_z[:batch_size], batch.gen_c[:batch_size], regularising=True)
        # Unit-variance noise per image, scaled so the expected length does not depend on resolution.
        pl_noise = torch.randn_like(gen_img) / math.sqrt(gen_img.shape[2] * gen_img.shape[3])
        pl_lengths = path_lengths(gen_img, gen_ws, pl_noise)
        pl_mean = self.pl_mean.to(pl_lengths.device).lerp(pl_lengths.mean(), self.pl_decay)
        self.pl_mean = pl_mean.detach()
        pl_penalty = (pl_lengths - pl_mean).square()
        loss_Gpl = pl_penalty * self.pl_weight
        # The zero term gives every synthesis parameter a gradient (some, like the last ToRGB bias,
        # do not affect the penalty), as the official loss does.
        (gen_img[:, 0, 0, 0] * 0 + loss_Gpl).mean().mul(batch.gain).backward()
        return {"Loss/pl_penalty": pl_penalty.detach(), "Loss/G/reg": loss_Gpl.detach()}

    def discriminator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """Dmain: D tells reals from fakes; Dreg: R1 on the reals (when r1_gamma != 0). The real
        scores are returned by every D phase, as the official ADA heuristic counts them all."""
        do_Dr1 = reg and self.r1_gamma != 0
        if not (main or do_Dr1):
            return {}
        stats: dict[str, torch.Tensor] = {}
        loss_Dgen: torch.Tensor | float = 0.0
        if main:
            with torch.no_grad():
                gen_img, _ = self.run_G(batch.gen_z, batch.gen_c)
            gen_logits = self.run_D(gen_img, batch.gen_c, **self.main_forward)
            loss_Dgen = F.softplus(gen_logits)  # -log(1 - sigmoid(D(G(z))))
            loss_Dgen.mean().mul(batch.gain).backward()
            stats.update(score_stats("fake", gen_logits))

        real_img = batch.real_img.detach().requires_grad_(do_Dr1)
        forward = self.reg_forward if do_Dr1 else self.main_forward
        real_logits = self.run_D(real_img, batch.real_c, **forward)
        stats["real_logits"] = real_logits.detach()
        stats.update(score_stats("real", real_logits))
        # As in the path-length pass, the zero term keeps all of D's parameters in the graph.
        total = real_logits.flatten() * 0
        if main:
            loss_Dreal = F.softplus(-real_logits)  # -log(sigmoid(D(x)))
            total = total + loss_Dreal.flatten()
            stats["Loss/D/loss"] = (loss_Dgen + loss_Dreal).detach()
        if do_Dr1:
            penalty = r1_penalty(real_logits, real_img)
            loss_Dr1 = penalty * (self.r1_gamma / 2)
            total = total + loss_Dr1
            stats["Loss/r1_penalty"] = penalty.detach()
            stats["Loss/D/reg"] = loss_Dr1.detach()
        total.mean().mul(batch.gain).backward()
        return stats
