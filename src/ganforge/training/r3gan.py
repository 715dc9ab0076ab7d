"""The R3GAN family for the training loop: R3GAN's networks and loss, Adam with beta1 0, and the
cosine schedules of the public training script.

The learning rate, Adam's beta2, gamma, the G_ema half-life and the augmentation probability each
move from a base to a final value along half a cosine over `decay_kimg`, then stay there:

    lr      glr / dlr -> lr_final        beta2   beta2 -> beta2_final    gamma   gamma -> gamma_final
    EMA     0 -> ema_kimg                p       0 -> p  (with aug=cosine; fixed, with no ADA controller)

Every value is a function of the images seen, so `--resume latest` continues the schedules exactly.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn
from torch.optim import Optimizer

from ganforge.errors import OptionError
from ganforge.losses.r3gan import R3GANLoss
from ganforge.models import r3gan
from ganforge.training.family_base import ModelFamily, PhaseSpec, TrainingLoss
from ganforge.training.options import TrainingConfig

ADAM_BETA1 = 0.0
ADAM_EPS = 1e-8
"""R3GAN's Adam settings (beta2 is scheduled)."""


def cosine_schedule(cur_nimg: float, base: float, final: float, total_nimg: float) -> float:
    """`base` at 0 images, moving to `final` along half a cosine over `total_nimg`, `final` after."""
    if total_nimg <= 0 or cur_nimg >= total_nimg:
        return final
    progress = 0.5 * (1 - math.cos(math.pi * cur_nimg / total_nimg))
    return base + progress * (final - base)


class R3GANFamily(ModelFamily):
    """R3GAN: relativistic pairing loss with R1 + R2 every step (or lazily), cosine schedules."""

    name = "r3gan"

    @staticmethod
    def trains(resolution: int, conditional: bool) -> bool:
        return resolution >= 4 and resolution & (resolution - 1) == 0

    @staticmethod
    def sizes(conditional: bool) -> str:
        return "powers of two from 4 (4, 8, 16, ...), with one entry of widths per size from 4"

    def __init__(self, config: TrainingConfig, resolution: int) -> None:
        super().__init__(config, resolution)
        self.loss: R3GANLoss | None = None
        self.augment_pipe: nn.Module | None = None
        self.values: dict[str, float] = {}

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        """G and D with the first stages of the per-stage lists, as many as make the dataset's size
        (the published presets share their lists so: CIFAR10's are FFHQ-256's first four)."""
        c = self.config
        stages = int(math.log2(self.resolution)) - 1  # 4 x 4, 8 x 8, ..., resolution
        short = min(len(c.widths), len(c.cardinalities), len(c.blocks))
        if short < stages:
            raise OptionError(
                f"{self.resolution} px images need {stages} stages from 4 x 4 up, and --cfg {c.cfg} of "
                f"--model r3gan gives widths, cardinalities and blocks for {short}; give --widths, "
                f"--cardinalities and --blocks with {stages} entries each"
            )
        widths, groups, blocks = c.widths[:stages], c.cardinalities[:stages], c.blocks[:stages]
        G_stages = list(range(max(stages - c.bf16_stages, 0), stages))  # G's largest sizes come last
        common = dict(c_dim=c_dim, img_resolution=self.resolution, img_channels=channels,
                      expansion=c.expansion)
        try:
            G = r3gan.Generator(z_dim=c.z_dim, widths=widths, cardinalities=groups, blocks=blocks,
                                embed_dim=c.z_dim if c_dim else 0, bf16_stages=G_stages, **common)
            D = r3gan.Discriminator(widths=widths[::-1], cardinalities=groups[::-1], blocks=blocks[::-1],
                                    embed_dim=widths[0] if c_dim else 0,
                                    bf16_stages=[stages - 1 - i for i in G_stages], **common)
        except ValueError as exc:
            raise OptionError(f"--model r3gan cannot build its networks: {exc}") from exc
        return G, D

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        self.loss = R3GANLoss(G, D, augment_pipe, gamma=self.config.gamma)
        self.augment_pipe = augment_pipe if self.config.aug == "cosine" else None
        return self.loss

    def phases(self) -> list[PhaseSpec]:
        interval = self.config.D_reg_interval
        D = [PhaseSpec("Dboth", "D")] if interval is None else [
            PhaseSpec("Dmain", "D"), PhaseSpec("Dreg", "D", interval)]
        return [*D, PhaseSpec("Gmain", "G")]

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        lr = self.config.glr if network == "G" else self.config.dlr
        return {"lr": lr, "betas": (ADAM_BETA1, self.config.beta2), "eps": ADAM_EPS}

    def schedule_at(self, cur_nimg: int) -> dict[str, float]:
        """Every scheduled value for the step that starts after `cur_nimg` images."""
        c = self.config
        total = c.decay_kimg * 1000

        def at(base: float, final: float) -> float:
            return cosine_schedule(cur_nimg, base, final, total)

        return {"glr": at(c.glr, c.lr_final), "dlr": at(c.dlr, c.lr_final),
                "beta2": at(c.beta2, c.beta2_final), "gamma": at(c.gamma, c.gamma_final),
                "ema_kimg": at(0.0, c.ema_kimg), "p": at(0.0, c.p)}

    def begin_step(self, cur_nimg: int, G: nn.Module, D: nn.Module, opts: dict[str, Optimizer]) -> None:
        """Set this step's learning rates, beta2, gamma and augmentation probability."""
        self.values = values = self.schedule_at(cur_nimg)
        for network in ("G", "D"):
            for group in opts[network].param_groups:
                group["lr"] = values[network.lower() + "lr"]
                group["betas"] = (ADAM_BETA1, values["beta2"])
        if self.loss is not None:
            self.loss.gamma = values["gamma"]
        if self.augment_pipe is not None:
            self.augment_pipe.p.fill_(values["p"])

    def ema_kimg_at(self, cur_nimg: int) -> float:
        return self.schedule_at(cur_nimg)["ema_kimg"]

    def status(self) -> dict[str, float]:
        names = {"glr": "Progress/lr", "beta2": "Progress/beta2", "gamma": "Progress/gamma",
                 "ema_kimg": "Progress/ema_kimg"}
        return {stat: self.values[key] for key, stat in names.items() if key in self.values}
