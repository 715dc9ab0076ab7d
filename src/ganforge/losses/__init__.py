"""Training losses, one module per GAN family."""

from ganforge.losses.stylegan2 import PHASES, StyleGAN2Loss

__all__ = ["PHASES", "StyleGAN2Loss"]
