"""StyleGAN2-ADA: its presets and `auto` heuristics, networks, loss and lazily regularised Adam."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.inference.runner import require_compiler
from ganforge.losses import StyleGAN2Loss
from ganforge.models import stylegan2
from ganforge.ops.precision import computes_float16
from ganforge.training.families.base import (
    ModelFamily,
    PhaseSpec,
    TrainingLoss,
    style_adam_kwargs,
)

PL_BATCH_SHRINK = 2
PL_DECAY = 0.01
"""StyleGAN2-ADA's path length regulariser: batch shrink and decay of the running mean."""

# Base configs of the StyleGAN2-ADA release, as TrainingConfig fields (batch_gpu = batch over the
# GPU count the config was tuned on). `auto` is completed by `StyleGAN2Family.auto_values`.
PRESETS: dict[str, dict[str, Any]] = {
    "auto": dict(kimg=25000, ema_rampup=0.05, map=2),
    "stylegan2": dict(kimg=25000, batch=32, batch_gpu=4, mbstd_group=4, cbase=32768, glr=0.002, dlr=0.002,
                      gamma=10.0, ema_kimg=10.0, ema_rampup=None, map=8),
    "paper256": dict(kimg=25000, batch=64, batch_gpu=8, mbstd_group=8, cbase=16384, glr=0.0025, dlr=0.0025,
                     gamma=1.0, ema_kimg=20.0, ema_rampup=None, map=8),
    "paper512": dict(kimg=25000, batch=64, batch_gpu=8, mbstd_group=8, cbase=32768, glr=0.0025, dlr=0.0025,
                     gamma=0.5, ema_kimg=20.0, ema_rampup=None, map=8),
    "paper1024": dict(kimg=25000, batch=32, batch_gpu=4, mbstd_group=4, cbase=32768, glr=0.002, dlr=0.002,
                      gamma=2.0, ema_kimg=10.0, ema_rampup=None, map=8),
    "cifar": dict(kimg=100000, batch=64, batch_gpu=32, mbstd_group=32, cbase=32768, glr=0.0025, dlr=0.0025,
                  gamma=0.01, ema_kimg=500.0, ema_rampup=0.05, map=2, pl_weight=0.0, style_mixing=0.0,
                  d_architecture="orig"),
    # Narrow, batch 16, no path length regularisation: fast on a 2-core CPU. R1 gamma 30 keeps the
    # small G from collapsing on the digits (the measurements behind both: docs/presets.md).
    "cpu": dict(kimg=50, batch=16, batch_gpu=16, mbstd_group=4, cbase=1024, cmax=64, z_dim=128, w_dim=128,
                glr=0.0025, dlr=0.0025, gamma=30.0, ema_kimg=1.0, ema_rampup=0.05, map=2, pl_weight=0.0,
                precision="fp32", aug="noaug", kimg_per_tick=1, snap=10, workers=1),
}




class StyleGAN2Family(ModelFamily):
    """StyleGAN2-ADA: lazy R1 and path-length regularisation on one Adam optimiser per network."""

    name = "stylegan2"
    non_square = True
    presets = PRESETS
    smallest = 8  # D's first block halves to its 4x4 epilogue, as officially

    @staticmethod
    def auto_values(resolution: int, num_gpus: int) -> dict[str, Any]:
        """The StyleGAN2-ADA `auto` heuristics: batch, mbstd group, width, learning rate, gamma and EMA."""
        batch = max(min(num_gpus * min(4096 // resolution, 32), 64), num_gpus)
        lrate = 0.002 if resolution >= 1024 else 0.0025
        return {
            "batch": batch,
            "batch_gpu": batch // num_gpus,
            "mbstd_group": min(batch // num_gpus, 4),
            "cbase": int((1 if resolution >= 512 else 0.5) * 32768),
            "cmax": 512,
            "glr": lrate,
            "dlr": lrate,
            "gamma": 0.0002 * resolution**2 / batch,
            "ema_kimg": batch * 10 / 32,
        }

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        c = self.config
        num_fp16_res = 0 if c.precision == "fp32" else 4
        conv_clamp = None if c.precision == "fp32" else 256
        common = dict(channel_base=c.cbase, channel_max=c.cmax, num_fp16_res=num_fp16_res,
                      conv_clamp=conv_clamp)
        shape = {} if self.aspect == (1, 1) else {"img_aspect": list(self.aspect)}  # square: official kwargs
        G = stylegan2.Generator(
            z_dim=c.z_dim, c_dim=c_dim, w_dim=c.w_dim, img_resolution=self.resolution, img_channels=channels,
            mapping_kwargs={"num_layers": c.map}, synthesis_kwargs={**common, **shape},
        )
        D = stylegan2.Discriminator(
            c_dim=c_dim, img_resolution=self.resolution, img_channels=channels,
            architecture=c.d_architecture, block_kwargs={"freeze_layers": c.freezed},
            epilogue_kwargs={"mbstd_group_size": c.mbstd_group, **shape}, **common,
        )
        return G, D

    def loss_kwargs(self) -> dict[str, Any]:
        """The `ganforge.losses.StyleGAN2Loss` arguments that the options set."""
        c = self.config
        return {"r1_gamma": c.gamma, "style_mixing_prob": c.style_mixing, "pl_weight": c.pl_weight,
                "precision": c.precision}

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return StyleGAN2Loss(G, D, augment_pipe, **self.loss_kwargs(), pl_batch_shrink=PL_BATCH_SHRINK,
                             pl_decay=PL_DECAY)

    def make_compiled_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        require_compiler(next(G.parameters()).device)
        return StyleGAN2Loss(
            G, torch.compile(D), augment_pipe, **self.loss_kwargs(), pl_batch_shrink=PL_BATCH_SHRINK,
            pl_decay=PL_DECAY, G_mapping=torch.compile(G.mapping), G_synthesis=torch.compile(G.synthesis),
        )

    def repair_gradients_(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """In float16, as the official loop: overflowing entries are replaced (NaN -> 0, +-inf -> +-1e5),
        in place, rather than the step skipped (a few are routine there)."""
        if grads and computes_float16(self.config.precision, grads[0].device):
            for grad in grads:
                grad.nan_to_num_(nan=0.0, posinf=1e5, neginf=-1e5)
        return grads

    def phases(self) -> list[PhaseSpec]:
        phases = []
        for network, interval in (("G", self.config.G_reg_interval), ("D", self.config.D_reg_interval)):
            if interval is None:
                phases.append(PhaseSpec(f"{network}both", network))
            else:
                phases += [PhaseSpec(f"{network}main", network),
                           PhaseSpec(f"{network}reg", network, interval)]
        return phases

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        c = self.config
        lr, interval = {"G": (c.glr, c.G_reg_interval), "D": (c.dlr, c.D_reg_interval)}[network]
        return style_adam_kwargs(lr, interval)

