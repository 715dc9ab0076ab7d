"""StyleGAN (2019): its presets, progressive growing schedule, networks and losses."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim import Optimizer

from ganforge.errors import OptionError
from ganforge.losses.stylegan import StyleGANLoss
from ganforge.models import stylegan
from ganforge.ops.scale2d import downscale2d, upscale2d
from ganforge.training.families.base import (
    ModelFamily,
    PhaseSpec,
    TrainingLoss,
    style_adam_kwargs,
)

if TYPE_CHECKING:
    from ganforge.training.options import TrainingConfig

WGAN_LAMBDA, WGAN_EPSILON, WGAN_TARGET = 10.0, 0.001, 1.0
"""StyleGAN (2019) `wgangp`: gradient penalty weight, drift term weight and target gradient norm."""

# StyleGAN (2019), the official FFHQ config for one GPU: batch per resolution (4 at 1024), learning
# rate 0.001 raised from 128 px on, progressive growing from 8 x 8 with 600 + 600 kimg per level,
# logistic loss with R1 (gamma 10), G_ema half-life 10 kimg, style mixing 0.9, no augmentation.
_STYLEGAN_BASE = dict(batch=4, batch_gpu=4, mbstd_group=4, z_dim=512, w_dim=512, map=8, cbase=16384, cmax=512,
                      glr=0.001, dlr=0.001, gamma=10.0, ema_kimg=10.0, ema_rampup=None, style_mixing=0.9,
                      aug="noaug", loss="logistic-r1", lod_initial_resolution=8, lod_training_kimg=600,
                      lod_transition_kimg=600)
STYLEGAN_PRESETS: dict[str, dict[str, Any]] = {
    "auto": dict(_STYLEGAN_BASE, kimg=25000, batch_dict={4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16,
                                                          256: 8, 512: 4},
                 lr_dict={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}),
    # Narrow, 16 images a step and 2 + 2 kimg per level: 32 x 32 digits reach full resolution at 8 kimg.
    # R1 gamma 30 and lr 0.0025 as the StyleGAN2 cpu preset (the measurements: docs/presets.md).
    "cpu": dict(_STYLEGAN_BASE, kimg=50, batch=16, batch_gpu=16, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                map=2, glr=0.0025, dlr=0.0025, gamma=30.0, ema_kimg=1.0, lod_training_kimg=2,
                lod_transition_kimg=2, kimg_per_tick=1, snap=10, workers=1),
}



def stylegan_lod(
    cur_nimg: int, resolution_log2: int, initial_resolution: int, training_kimg: float, transition_kimg: float
) -> float:
    """The level of detail after `cur_nimg` images of the StyleGAN progressive schedule.

    Training starts at `initial_resolution` (lod = log2(R / initial)); each phase shows
    `training_kimg` at a fixed lod, then fades the next resolution in linearly over
    `transition_kimg`, until lod reaches 0 (the original `TrainingSchedule`).
    """
    kimg = cur_nimg / 1000.0
    phase_dur = training_kimg + transition_kimg
    phase_idx = math.floor(kimg / phase_dur) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = resolution_log2 - math.floor(math.log2(initial_resolution)) - phase_idx
    if transition_kimg > 0:
        lod -= max(phase_kimg - training_kimg, 0.0) / transition_kimg
    return max(lod, 0.0)


def images_at_lod(images: torch.Tensor, lod: float) -> torch.Tensor:
    """Reals [N, C, R, R] as seen at `lod`, kept at size R (the original's FadeLOD and UpscaleLOD).

    The image is box-downscaled floor(lod) times, blended towards its own 2x2 box average by the
    fractional part of lod, and nearest-upscaled back to R.
    """
    level = math.floor(lod)
    for _ in range(level):
        images = downscale2d(images)
    coarse = upscale2d(downscale2d(images))
    images = images + (coarse - images) * (lod - level)
    return upscale2d(images, 2**level)


class StyleGANFamily(ModelFamily):
    """StyleGAN (2019): progressive growing with per-resolution batch and learning rate, D then G."""

    name = "stylegan"
    presets = STYLEGAN_PRESETS

    def __init__(self, config: TrainingConfig, resolution: int, aspect: tuple[int, int] = (1, 1)) -> None:
        super().__init__(config, resolution, aspect)
        self.resolution_log2 = int(math.log2(resolution))
        self.lod = self.lod_at(0)
        self.prev_lod: float | None = None  # the lod of the previous step (None before the first)

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        c = self.config
        # fmap_base = cbase / 2 gives a block at resolution r min(cbase / r, cmax) channels, as StyleGAN2.
        fmaps = {"fmap_base": c.cbase // 2, "fmap_max": c.cmax, "structure": "linear"}
        try:
            G = stylegan.Generator(
                c.z_dim, c_dim, c.w_dim, self.resolution, channels,
                mapping_kwargs={"num_layers": c.map, "layer_features": c.w_dim}, synthesis_kwargs=fmaps,
                style_mixing_prob=c.style_mixing,
            )
            D = stylegan.Discriminator(
                c_dim, self.resolution, channels, mbstd_group_size=c.mbstd_group, **fmaps
            )
        except ValueError as exc:
            raise OptionError(f"`model` stylegan cannot train on this dataset: {exc}") from exc
        return G, D

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return StyleGANLoss(G, D, augment_pipe, loss=self.config.loss, r1_gamma=self.config.gamma,
                            wgan_lambda=WGAN_LAMBDA, wgan_epsilon=WGAN_EPSILON, wgan_target=WGAN_TARGET)

    def phases(self) -> list[PhaseSpec]:
        return [PhaseSpec("Dmain", "D"), PhaseSpec("Gmain", "G")]

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        return style_adam_kwargs(self.config.glr if network == "G" else self.config.dlr)

    def lod_at(self, cur_nimg: int) -> float:
        """The level of detail of the step at `cur_nimg`."""
        c = self.config
        return stylegan_lod(cur_nimg, self.resolution_log2, c.lod_initial_resolution, c.lod_training_kimg,
                            c.lod_transition_kimg)

    def resolution_at(self, cur_nimg: int) -> int:
        """The resolution being trained at `cur_nimg` (the one faded in last)."""
        return 2 ** (self.resolution_log2 - math.floor(self.lod_at(cur_nimg)))

    def batch_at(self, cur_nimg: int) -> int:
        return self.config.batch_dict.get(self.resolution_at(cur_nimg), self.config.batch)

    def begin_step(self, cur_nimg: int, G: nn.Module, D: nn.Module, opts: dict[str, Optimizer]) -> None:
        """Set lod on G and D and the learning rates; a new level resets Adam's state, as the original."""
        lod = self.lod_at(cur_nimg)
        prev = self.prev_lod
        if prev is None or math.floor(lod) != math.floor(prev) or math.ceil(lod) != math.ceil(prev):
            for opt in opts.values():
                opt.state.clear()
        self.lod = self.prev_lod = lod
        G.synthesis.lod.fill_(lod)
        D.lod.fill_(lod)
        res = self.resolution_at(cur_nimg)
        for network, base in (("G", self.config.glr), ("D", self.config.dlr)):
            for group in opts[network].param_groups:
                group["lr"] = self.config.lr_dict.get(res, base)

    def process_reals(self, images: torch.Tensor) -> torch.Tensor:
        return images_at_lod(images, self.lod)

    def status(self) -> dict[str, float]:
        return {"Progress/lod": self.lod}

    def state_dict(self) -> dict[str, Any]:
        return {"prev_lod": self.prev_lod}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prev_lod = state.get("prev_lod")

