"""The feature-detector interface every metric runs on.

A detector takes raw uint8 images (N x C x H x W, C in {1, 3}) and does its own resizing, channel
handling and normalisation, so the metric code never needs to know what a network expects.
"""

from __future__ import annotations

import torch


class Detector(torch.nn.Module):
    """A frozen network mapping uint8 images to features (and class logits when it classifies).

    Subclasses set `name` (a stable id used in cache keys, e.g. "inception-2015-12-05"),
    `feature_dim` and `num_classes` (None for a detector without logits), and implement `forward`.
    """

    name: str = "detector"
    feature_dim: int = 0
    num_classes: int | None = None

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return {"features": float32 [N, feature_dim]}, plus {"logits": [N, num_classes]} if classifying."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    @property
    def has_logits(self) -> bool:
        """Whether `forward` also returns class logits."""
        return self.num_classes is not None
