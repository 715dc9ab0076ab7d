"""The model families for the training loop, by `--model` name: the one registry of families.

Each family (`ModelFamily` in `base`) owns its presets and how it builds its networks, loss and
optimisers; the options table takes the family names from `FAMILIES`, and `make_family(config,
resolution)` picks the family named by ``config.model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganforge.errors import DatasetError, OptionError
from ganforge.training.families.base import ModelFamily, PhaseSpec, TrainingLoss
from ganforge.training.families.dcgan import DCGANFamily
from ganforge.training.families.r3gan import R3GANFamily
from ganforge.training.families.stylegan import StyleGANFamily, images_at_lod, stylegan_lod
from ganforge.training.families.stylegan2 import StyleGAN2Family

if TYPE_CHECKING:
    from ganforge.training.options import TrainingConfig

__all__ = ["FAMILIES", "DCGANFamily", "ModelFamily", "PhaseSpec", "R3GANFamily", "StyleGAN2Family",
           "StyleGANFamily", "TrainingLoss", "check_resolution", "images_at_lod", "make_family",
           "stylegan_lod"]

FAMILIES: dict[str, type[ModelFamily]] = {
    family.name: family for family in (StyleGAN2Family, StyleGANFamily, DCGANFamily, R3GANFamily)
}
"""The model families by `--model` name (the options table names them in the same order)."""


def check_resolution(model: str, resolution: int, conditional: bool, data: str) -> None:
    """Refuse, naming the family and the sizes it trains, a dataset of images it cannot train."""
    if FAMILIES[model].trains(resolution, conditional):
        return
    others = [name for name, family in FAMILIES.items() if family.trains(resolution, conditional)]
    instead = f", or train it with --model {' or '.join(others)}" if others else ""
    raise DatasetError(
        f"dataset '{data}' has {resolution}x{resolution} images, which --model {model} cannot train: it "
        f"trains {FAMILIES[model].sizes(conditional)}; make the dataset at one of those sizes "
        f"(`ganforge dataset create --resolution N`){instead}"
    )


def make_family(config: TrainingConfig, resolution: int) -> ModelFamily:
    """The family of ``config.model`` for a dataset of `resolution`."""
    if config.model not in FAMILIES:
        choices = ", ".join(FAMILIES)
        raise OptionError(f"--model: unknown model family {config.model!r}; choose one of {choices}")
    return FAMILIES[config.model](config, resolution)


