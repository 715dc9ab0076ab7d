"""The model families for the training loop, by `model` name: the one registry of families.

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
"""The model families by `model` name (the options table names them in the same order)."""


def check_resolution(
    model: str, resolution: int, conditional: bool, data: str, aspect: tuple[int, int] = (1, 1)
) -> None:
    """Refuse, naming the family and the sizes it trains, a dataset of images it cannot train
    (`resolution` is the shorter side, `aspect` the (width, height) multipliers of non-square images)."""
    if aspect != (1, 1) and not FAMILIES[model].non_square:
        others = " or ".join(name for name, family in FAMILIES.items() if family.non_square)
        raise DatasetError(
            f"dataset '{data}' has {resolution * aspect[0]}x{resolution * aspect[1]} images, but `model` "
            f"{model} trains square images only; train it with `model` {others}, or make a square dataset"
        )
    if FAMILIES[model].trains(resolution, conditional):
        return
    others = [name for name, family in FAMILIES.items() if family.trains(resolution, conditional)]
    instead = f", or train it with `model` {' or '.join(others)}" if others else ""
    raise DatasetError(
        f"dataset '{data}' has {resolution}x{resolution} images, which `model` {model} cannot train: it "
        f"trains {FAMILIES[model].sizes(conditional)}; make the dataset at one of those sizes "
        f"(`ganforge dataset create --resolution N`){instead}"
    )


def make_family(config: TrainingConfig, resolution: int, aspect: tuple[int, int] = (1, 1)) -> ModelFamily:
    """The family of ``config.model`` for a dataset of `resolution` (the shorter side) and `aspect`."""
    if config.model not in FAMILIES:
        choices = ", ".join(FAMILIES)
        raise OptionError(f"unknown model family {config.model!r}; choose one of {choices}", param="model")
    return FAMILIES[config.model](config, resolution, aspect)


