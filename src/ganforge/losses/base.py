"""What every ganforge loss shares: its networks, D seen through the optional augment pipe, the
phase dispatch of the training loop, and (unless a subclass adds some) no state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Round:
    """One round's inputs: reals with their labels, latents with the labels to generate, and the gain."""

    real_img: torch.Tensor
    real_c: torch.Tensor
    gen_z: torch.Tensor
    gen_c: torch.Tensor
    gain: float


def score_stats(kind: str, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The statistics of D's scores for `kind` 'real' or 'fake': the raw scores and their signs."""
    return {f"Loss/scores/{kind}": logits.detach(), f"Loss/signs/{kind}": logits.detach().sign()}


class AdversarialLoss:
    """Base of the family losses: holds G, D and `augment_pipe`; stateless unless a subclass adds state.

    The training loop calls `accumulate_gradients` once per round of a phase of `PHASES`: 'G' or 'D'
    followed by 'main' (the adversarial loss), 'reg' (the regulariser) or 'both' (the two in one
    pass). Subclasses implement `generator_step` and `discriminator_step`. `augment_pipe` (when
    given) is applied to every image, real or fake, before D sees it. The training loop stores
    `state_dict()` in snapshots and restores it with `load_state_dict()`.
    """

    PHASES: tuple[str, ...] = ("Gmain", "Dmain")

    def __init__(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None = None) -> None:
        self.G = G
        self.D = D
        self.augment_pipe = augment_pipe

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The loss state to store in a snapshot: none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Accept the empty state written by `state_dict`."""
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got keys {sorted(state)}")

    def run_D(self, img: torch.Tensor, c: torch.Tensor, **forward: Any) -> torch.Tensor:
        """D's scores [N, 1] for images, augmented first when there is an augment pipe; `forward`
        goes to D's forward (e.g. StyleGAN2's force_fp16)."""
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, **forward)

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor,
        gain: float,
    ) -> dict[str, torch.Tensor]:
        """Back-propagate ``loss.mean() * gain`` of one round of `phase`; return detached per-sample values.

        `real_img` is float NCHW in [-1, 1], `gen_z` standard-normal latents. D phases also return
        the raw real scores under "real_logits" for the ADA controller.
        """
        if phase not in self.PHASES:
            raise ValueError(f"{type(self).__name__} phase must be one of {self.PHASES}, got {phase!r}")
        batch = Round(real_img, real_c, gen_z, gen_c, gain)
        main, reg = phase[1:] in ("main", "both"), phase[1:] in ("reg", "both")
        step = self.generator_step if phase.startswith("G") else self.discriminator_step
        return step(batch, main=main, reg=reg)

    def generator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """G's part of a phase: the adversarial loss if `main`, the regulariser if `reg`."""
        raise NotImplementedError

    def discriminator_step(self, batch: Round, *, main: bool, reg: bool) -> dict[str, torch.Tensor]:
        """D's part of a phase: the adversarial loss if `main`, the regulariser if `reg`."""
        raise NotImplementedError

    def fool_D(
        self,
        gen_img: torch.Tensor,
        batch: Round,
        loss_of: Callable[[torch.Tensor], torch.Tensor],
        **forward: Any,
    ) -> dict[str, torch.Tensor]:
        """G's adversarial pass: back-propagate ``loss_of(D(gen_img)).mean() * gain`` into G."""
        gen_logits = self.run_D(gen_img, batch.gen_c, **forward)
        loss_G = loss_of(gen_logits)
        loss_G.mean().mul(batch.gain).backward()
        return {**score_stats("fake", gen_logits), "Loss/G/loss": loss_G.detach()}
