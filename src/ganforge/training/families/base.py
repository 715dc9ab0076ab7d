"""What every model family gives the training loop, and the Adam settings StyleGAN's families share.

The loop (`ganforge.training.loop`) owns data, rounds, seeding, G_ema, ADA, ticks and snapshots; a
`ModelFamily` supplies the rest for one run: its presets (`cfg`), the networks, the loss object,
the phases with their networks and intervals, the Adam settings, and the per-step schedule (batch
size, learning rates, level of detail and the matching view of the real images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import nn
from torch.optim import Optimizer

from ganforge.errors import OptionError

if TYPE_CHECKING:
    from ganforge.training.options import TrainingConfig

ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8
"""Adam settings of the StyleGAN (2019) and StyleGAN2-ADA releases for both networks."""


def style_adam_kwargs(lr: float, reg_interval: int | None = None) -> dict[str, Any]:
    """`torch.optim.Adam` arguments of StyleGAN's families for one network at learning rate `lr`.

    With lazy regularisation every `reg_interval` steps, the main and the regulariser updates share
    one optimiser; its learning rate and betas are rescaled by interval / (interval + 1) so that the
    combined updates behave like the unregularised schedule. None (no lazy regulariser): as given.
    """
    ratio = 1.0 if reg_interval is None else reg_interval / (reg_interval + 1)
    return {"lr": lr * ratio, "betas": tuple(beta**ratio for beta in ADAM_BETAS), "eps": ADAM_EPS}

class TrainingLoss(Protocol):
    """What the loop calls on a loss object (`StyleGAN2Loss`, `StyleGANLoss`, `DCGANLoss`)."""

    def accumulate_gradients(
        self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
        gen_c: torch.Tensor, gain: float,
    ) -> dict[str, torch.Tensor]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of a step: the loss phase name, the network it trains ('G' or 'D') and its interval."""

    name: str
    network: str
    interval: int = 1



class ModelFamily:
    """The family-specific parts of training; the defaults are those of a fixed-schedule GAN."""

    name: ClassVar[str]  # its `model` name
    presets: ClassVar[dict[str, dict[str, Any]]]  # its `cfg` names -> TrainingConfig fields they set
    non_square: ClassVar[bool] = False  # whether it trains W x H images (networks take `img_aspect`)

    def __init__(self, config: TrainingConfig, resolution: int, aspect: tuple[int, int] = (1, 1)) -> None:
        self.config = config
        self.resolution = resolution  # the shorter side of the images
        self.aspect = aspect  # (width, height) multipliers of the square networks

    smallest: ClassVar[int] = 4  # the smallest image size of the default `trains` (powers of two)

    @classmethod
    def trains(cls, resolution: int, conditional: bool) -> bool:
        """Whether the family's networks can be built for square images of `resolution` (by default:
        powers of two from `smallest`)."""
        return power_of_two(resolution, cls.smallest)

    @classmethod
    def sizes(cls, conditional: bool) -> str:
        """The image sizes `trains` accepts, in words for messages."""
        n = cls.smallest
        return f"powers of two from {n} ({n}, {2 * n}, {4 * n}, ...)"

    def build_networks(self, channels: int, c_dim: int) -> tuple[nn.Module, nn.Module]:
        """A fresh generator and discriminator for images of `channels` and labels of width `c_dim`."""
        raise NotImplementedError

    def make_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        """The loss object for these networks."""
        raise NotImplementedError

    def make_compiled_loss(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None) -> TrainingLoss:
        """A loss running torch.compile'd networks for the main phases (`LoopOptions.compile`)."""
        raise OptionError(f"supported for `model` stylegan2 only, not {self.config.model}", param="compile")

    def phases(self) -> list[PhaseSpec]:
        """The phases of one step, in order."""
        raise NotImplementedError

    def repair_gradients_(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The reduced gradients of a step, repaired where the family's arithmetic expects overflows
        (none by default: a non-finite gradient skips the step)."""
        return grads

    def adam_kwargs(self, network: str) -> dict[str, Any]:
        """`torch.optim.Adam` arguments for network 'G' or 'D'."""
        raise NotImplementedError

    def batch_at(self, cur_nimg: int) -> int:
        """The total batch of a step that starts after `cur_nimg` images."""
        return self.config.batch

    def begin_step(self, cur_nimg: int, G: nn.Module, D: nn.Module, opts: dict[str, Optimizer]) -> None:
        """Set the schedule-dependent state (lod, learning rates) before the step at `cur_nimg`."""

    def ema_kimg_at(self, cur_nimg: int) -> float:
        """The G_ema half-life of the step that starts after `cur_nimg` images."""
        return self.config.ema_kimg

    def process_reals(self, images: torch.Tensor) -> torch.Tensor:
        """The real images [-1, 1] as this step's discriminator should see them."""
        return images

    def status(self) -> dict[str, float]:
        """Schedule values for the tick's status line and statistics (name -> value)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Schedule state stored in snapshots."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state of `state_dict`."""


    @staticmethod
    def auto_values(resolution: int, num_gpus: int) -> dict[str, Any]:
        """What `cfg` 'auto' derives from the resolution and the number of processes (none by default)."""
        return {}


def power_of_two(resolution: int, minimum: int) -> bool:
    """Whether `resolution` is a power of two no smaller than `minimum`."""
    return resolution >= minimum and resolution & (resolution - 1) == 0
