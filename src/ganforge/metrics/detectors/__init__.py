"""Feature detectors for the metrics, loaded by name.

The per-detector modules are imported lazily inside `load_detector`, so a detector whose module
(or weights) is unavailable does not break importing the others.
"""

from __future__ import annotations

import importlib

import torch

from ganforge.errors import MetricError
from ganforge.metrics.detectors.base import Detector

# name -> (module under ganforge.metrics.detectors, loader function); "digits" takes no path.
_LOADERS: dict[str, tuple[str, str]] = {
    "inception": ("inception", "load_inception"),
    "vgg16": ("vgg16", "load_vgg16"),
    "lpips": ("lpips", "load_lpips"),
    "digits": ("digits", "load_digits_detector"),
}

DETECTOR_NAMES = tuple(_LOADERS)


def load_detector(name: str, path: str | None = None) -> torch.nn.Module:
    """Load detector `name` ("inception", "vgg16", "lpips" or "digits") in eval mode.

    `path` is an explicit weights file (`--detector PATH`); without it the loader resolves its
    weights itself. "lpips" returns an LPIPS distance module rather than a `Detector`.
    """
    if name not in _LOADERS:
        raise MetricError(f"Unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}.")
    module_name, func_name = _LOADERS[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    loader = getattr(module, func_name)
    net = loader() if name == "digits" else loader(path)
    return net.eval().requires_grad_(False)


__all__ = ["DETECTOR_NAMES", "Detector", "load_detector"]
