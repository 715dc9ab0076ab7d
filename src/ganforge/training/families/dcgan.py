"""DCGAN: its presets, networks, sigmoid cross-entropy loss and the reference Adam settings."""

from __future__ import annotations

from typing import Any

from torch import nn

from ganforge.errors import OptionError
from ganforge.losses.dcgan import DCGANConfig, DCGANLoss
from ganforge.models import dcgan
from ganforge.training.families.base import ModelFamily, PhaseSpec, TrainingLoss

DCGAN_BETAS = (0.5, 0.999)
"""Adam betas of the DCGAN reference (learning rate and G updates per step are options)."""

DCGAN_SIZE_STEP = {False: 16, True: 4}
"""What DCGAN image sizes must be multiples of, without and with labels: its networks halve the
size 4 times (2 times when conditional)."""


# DCGAN (Radford et al. 2015 and carpedm20/DCGAN-tensorflow): batch 64, z 100, widths 64, Adam 2e-4
# (beta1 0.5, in the DCGAN family), two G updates per D update, no EMA (G_ema is a copy of G), no
# augmentation. `auto` runs about 25 epochs of CelebA (202,599 images); `cpu` is narrow enough for
# 32 x 32 digits on two cores.
_DCGAN_BASE = dict(batch=64, batch_gpu=64, z_dim=100, glr=2e-4, dlr=2e-4, ema_kimg=0.0,
                   ema_rampup=None, aug="noaug", g_steps=2)
DCGAN_PRESETS: dict[str, dict[str, Any]] = {
    "auto": dict(_DCGAN_BASE, kimg=5000, kimg_per_tick=4, snap=50),
    "cpu": dict(_DCGAN_BASE, kimg=50, gf_dim=32, df_dim=32, gfc_dim=256, dfc_dim=256, kimg_per_tick=1,
                snap=10, workers=1),
}


class DCGANFamily(ModelFamily):
    """DCGAN: sigmoid cross-entropy, Adam(2e-4, 0.5), one D update then `g_steps` G updates per step."""

    name = "dcgan"
    non_square = True
    presets = DCGAN_PRESETS

    @staticmethod
    def trains(resolution: int, conditional: bool) -> bool:
        step = DCGAN_SIZE_STEP[conditional]
        return resolution >= step and resolution % step == 0

    @staticmethod
    def sizes(conditional: bool) -> str:
        step = DCGAN_SIZE_STEP[conditional]
        kind = "with `cond`" if conditional else "without `cond`"
        return f"multiples of {step} {kind} ({step}, {2 * step}, {3 * step}, ...)"

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        c = self.config
        try:
            G = dcgan.Generator(c.z_dim, c_dim, self.resolution, channels, c.gf_dim, c.gfc_dim, self.aspect)
            D = dcgan.Discriminator(c_dim, self.resolution, channels, c.df_dim, c.dfc_dim, self.aspect)
        except ValueError as exc:
            raise OptionError(f"`model` dcgan cannot train on this dataset: {exc}") from exc
        return G, D

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        return DCGANLoss(G, D, augment_pipe)

    def phases(self) -> list[PhaseSpec]:
        return [PhaseSpec(name, name[0]) for name in self._config(self.config.glr).phases()]

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        return self._config(self.config.glr if network == "G" else self.config.dlr).adam_kwargs()

    def _config(self, lr: float) -> DCGANConfig:
        """The loss module's DCGAN settings (which check them) for a network of learning rate `lr`."""
        beta1, beta2 = DCGAN_BETAS
        return DCGANConfig(lr=lr, beta1=beta1, beta2=beta2, g_steps=self.config.g_steps)

