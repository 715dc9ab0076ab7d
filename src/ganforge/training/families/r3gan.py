"""R3GAN: its published presets, networks, relativistic R1 + R2 loss, Adam with beta1 0, and the
cosine schedules of the public training script.

The learning rate, Adam's beta2, gamma, the G_ema half-life and the augmentation probability each
move from a base to a final value along half a cosine over `decay_kimg`, then stay there:

    lr      glr / dlr -> lr_final        beta2   beta2 -> beta2_final    gamma   gamma -> gamma_final
    EMA     0 -> ema_kimg                p       0 -> p  (with aug=cosine; fixed, with no ADA controller)

Every value is a function of the images seen, so `--resume latest` continues the schedules exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torch import nn
from torch.optim import Optimizer

from ganforge.errors import OptionError
from ganforge.losses.r3gan import R3GANLoss
from ganforge.models import r3gan
from ganforge.training.families.base import ModelFamily, PhaseSpec, TrainingLoss

if TYPE_CHECKING:
    from ganforge.training.options import TrainingConfig

# R3GAN's published configs (brownvc/R3GAN train.py and README): widths, cardinalities and blocks
# per stage from 4 x 4 up, bf16 stages, the batch of the README's command over its GPU count, and
# the cosine schedules (base -> final over decay_kimg): lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99, gamma,
# EMA 0 -> ema_kimg, augment p 0 -> p with R3GAN's pipe. The script trains until stopped.
_R3GAN_BASE = dict(kimg=10_000_000, z_dim=64, expansion=2, glr=2e-4, dlr=2e-4, lr_final=5e-5, beta2=0.9,
                   beta2_final=0.99, ema_rampup=None, D_reg_interval=None, aug="cosine", augpipe="r3gan",
                   decay_kimg=20000, mirror=True)


def _r3gan(width: int, groups: int, tops: list[int], **values: Any) -> dict[str, Any]:
    """An R3GAN preset: `width` channels and `groups` groups, divided by `tops` per stage from 4 x 4 up."""
    return dict(_R3GAN_BASE, widths=[width // t for t in tops], cardinalities=[groups // t for t in tops],
                blocks=[2] * len(tops), **values)


R3GAN_PRESETS: dict[str, dict[str, Any]] = {
    "auto": {},  # the published preset of the resolution: R3GAN_AUTO
    "CIFAR10": _r3gan(768, 96, [1, 1, 1, 1], bf16_stages=3, batch=512, batch_gpu=64, ema_kimg=5000, p=0.55,
                      gamma=0.05, gamma_final=0.005),
    "FFHQ-64": _r3gan(768, 96, [1, 1, 1, 1, 2], bf16_stages=4, batch=256, batch_gpu=32, ema_kimg=500, p=0.3,
                      gamma=2.0, gamma_final=0.2),
    "FFHQ-256": _r3gan(768, 96, [1, 1, 1, 1, 2, 4, 8], bf16_stages=4, batch=256, batch_gpu=32, ema_kimg=500,
                       p=0.3, gamma=150.0, gamma_final=15.0),
    "ImageNet-32": _r3gan(1536, 96, [1, 1, 1, 1], bf16_stages=3, batch=4096, batch_gpu=128, ema_kimg=50000,
                          p=0.5, gamma=0.5, gamma_final=0.05, decay_kimg=200000),
    "ImageNet-64": _r3gan(1536, 96, [1, 1, 1, 1, 1], bf16_stages=4, batch=4096, batch_gpu=64, ema_kimg=50000,
                          p=0.4, gamma=1.0, gamma_final=0.1, decay_kimg=200000),
    # Narrow, one block per stage, batch 16, no augmentation: 32 x 32 digits on a 2-core CPU.
    "cpu": dict(_R3GAN_BASE, kimg=50, widths=[64, 64, 32, 16], cardinalities=[4, 4, 2, 1],
                blocks=[1, 1, 1, 1], batch=16, batch_gpu=16, glr=1e-3, dlr=1e-3, lr_final=2e-4, gamma=0.1,
                gamma_final=0.01, ema_kimg=1.0, decay_kimg=50, aug="noaug", mirror=False, kimg_per_tick=1,
                snap=10, workers=1),
}

R3GAN_AUTO = {32: "CIFAR10", 64: "FFHQ-64", 256: "FFHQ-256"}
"""The published preset that `--cfg auto` picks for a resolution."""

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
    presets = R3GAN_PRESETS

    @staticmethod
    def auto_values(resolution: int, num_gpus: int) -> dict[str, Any]:
        """--cfg auto: the published preset of the resolution (`R3GAN_AUTO`)."""
        if resolution not in R3GAN_AUTO:
            sizes = ", ".join(f"{size} px ({name})" for size, name in R3GAN_AUTO.items())
            published = " or ".join(name for name in R3GAN_PRESETS if name not in ("auto", "cpu"))
            raise OptionError(f"auto of `model` r3gan has presets for {sizes}, not {resolution} px; give "
                              f"{published} or cpu", param="cfg")
        return R3GAN_PRESETS[R3GAN_AUTO[resolution]]

    def __init__(self, config: TrainingConfig, resolution: int, aspect: tuple[int, int] = (1, 1)) -> None:
        super().__init__(config, resolution, aspect)
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
                f"{self.resolution} px images need {stages} stages from 4 x 4 up, and `cfg` {c.cfg} of "
                f"`model` r3gan gives widths, cardinalities and blocks for {short}; give `widths`, "
                f"`cardinalities` and `blocks` with {stages} entries each", param="widths"
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
            raise OptionError(f"`model` r3gan cannot build its networks: {exc}", param="widths") from exc
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
