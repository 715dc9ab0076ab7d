"""Differentiable augmentation of real and generated images for D (StyleGAN2-ADA), and the ADA
controller that tunes the augmentation strength from D's overfitting."""

from ganforge.augment.ada import AdaController
from ganforge.augment.pipeline import AUGMENT_PRESETS, AugmentPipe, build_augment_pipe

__all__ = ["AUGMENT_PRESETS", "AdaController", "AugmentPipe", "build_augment_pipe"]
