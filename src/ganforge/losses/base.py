"""What every ganforge loss shares: its networks, D seen through the optional augment pipe, no state."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class AdversarialLoss:
    """Base of the family losses: holds G, D and `augment_pipe`; stateless unless a subclass adds state.

    `augment_pipe` (when given) is applied to every image, real or fake, before D sees it. The
    training loop stores `state_dict()` in snapshots and restores it with `load_state_dict()`.
    """

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

    def run_D(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """D's scores [N, 1] for images, augmented first when there is an augment pipe."""
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c)
