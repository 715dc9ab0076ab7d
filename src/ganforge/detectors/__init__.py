"""Feature detectors for the metrics and the projector, loaded by name: Inception, VGG16, LPIPS, digits."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganforge.detectors.base import Detector
from ganforge.detectors.digits import load_digits_detector
from ganforge.detectors.inception import load_inception
from ganforge.detectors.lpips import load_lpips
from ganforge.detectors.vgg16 import load_vgg16
from ganforge.errors import MetricError

# name -> loader taking an explicit weights path or None; "digits" ships its weights and takes none.
_LOADERS: dict[str, Callable[[str | None], torch.nn.Module]] = {
    "inception": load_inception,
    "vgg16": load_vgg16,
    "lpips": load_lpips,
    "digits": lambda path: load_digits_detector(),
}

DETECTOR_NAMES = tuple(_LOADERS)


def load_detector(name: str, path: str | None = None) -> torch.nn.Module:
    """Load detector `name` ("inception", "vgg16", "lpips" or "digits") in eval mode.

    `path` is an explicit weights file (`ganforge metrics --detector PATH`); without it the loader
    resolves its weights itself. "lpips" returns an LPIPS distance module rather than a `Detector`.
    """
    if name not in _LOADERS:
        raise MetricError(f"Unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}.")
    return _LOADERS[name](path).eval().requires_grad_(False)


__all__ = ["DETECTOR_NAMES", "Detector", "load_detector"]
