"""LPIPS-VGG (Zhang et al. 2018, v0.1): the perceptual distance the path-length metric is built on.

Both images go through the VGG16 trunk; each of its five stage outputs is normalised to unit length
along the channels, the squared difference is weighted per channel by a learned 1x1 convolution,
averaged over space, and the five results are summed. LPIPS is a distance, not a `Detector`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ganforge.detectors.vgg16 import STAGE_CHANNELS, VGG16Trunk, torchvision_trunk_key_map
from ganforge.detectors.weights import load_known_weights

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
"""LPIPS v0.1's input scaling: inputs in [-1, 1] become `(x - shift) / scale`."""


class LPIPS(nn.Module):
    """LPIPS-VGG v0.1: `forward(img0, img1) -> [N]` perceptual distances.

    Images are [N, 1 or 3, H, W] in the pixel range [0, 255], uint8 or float (the path-length metric
    passes float images so that its small steps are not rounded away), used at their own size (the
    caller crops or resizes). Build it with `load_lpips`; the bare constructor gives untrained
    weights (tests, the loader).
    """

    name = "lpips-vgg-v0.1"

    def __init__(self) -> None:
        super().__init__()
        self.trunk = VGG16Trunk()
        self.lins = nn.ModuleList(nn.Conv2d(widths[-1], 1, 1, bias=False) for widths in STAGE_CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(torch.float32) / 127.5 - 1
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.shift) / self.scale

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        if img0.shape != img1.shape:
            raise ValueError(f"LPIPS needs batches of one shape: {tuple(img0.shape)}, {tuple(img1.shape)}")
        n = img0.shape[0]
        stages = self.trunk(torch.cat([self._prepare(img0), self._prepare(img1)]))
        dist = torch.zeros(n, device=img0.device)
        for feat, lin in zip(stages, self.lins, strict=True):
            feat = feat / (feat.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            dist = dist + lin((feat[:n] - feat[n:]).square()).mean(dim=(1, 2, 3))
        return dist


def lpips_key_map() -> dict[str, str]:
    """lpips package `lin<i>.model.1.weight` -> `LPIPS` key `lins.<i>.weight`."""
    return {f"lin{i}.model.1.weight": f"lins.{i}.weight" for i in range(len(STAGE_CHANNELS))}


def load_lpips(path: str | os.PathLike[str] | None = None,
               vgg16_path: str | os.PathLike[str] | None = None) -> LPIPS:
    """LPIPS-VGG with its published weights, in eval mode.

    `path` is the lpips package's linear-layer file (`weights/v0.1/vgg.pth`); the VGG16 trunk comes
    from torchvision's `vgg16-397923af.pth` (`vgg16_path`); either is resolved like every detector's
    weights when not given. A folder as `path` (`ganforge project --detector DIR`) is searched for both files.
    """
    if vgg16_path is None and path is not None and Path(path).is_dir():
        vgg16_path = path
    model = LPIPS()
    load_known_weights(model, "vgg16", vgg16_path, torchvision_trunk_key_map("trunk."),
                       ignored_prefixes=("classifier.",))
    load_known_weights(model, "lpips", path, lpips_key_map())
    return model.eval().requires_grad_(False)
