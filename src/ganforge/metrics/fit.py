"""Whether a generator and a dataset suit a metric, checked before any work.

The digits metrics only mean something on what their detector knows (32 x 32 grayscale digits,
10 classes), and PPL walks a style-based generator's latent spaces. A misfit is refused with one
line naming the metric, what it needs and what it was given, rather than giving a number.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn

from ganforge.errors import MetricError
from ganforge.metrics.registry import Metric


def describe_images(shape: Sequence[int]) -> str:
    """[C, H, W] -> e.g. '32x32 grayscale', '64x64 RGB'."""
    channels, height, width = shape
    kind = {1: "grayscale", 3: "RGB"}.get(channels, f"{channels}-channel")
    return f"{width}x{height} {kind}"


def check_generator_fits(metric: Metric, G: nn.Module) -> None:
    """MetricError if `G` cannot give `metric` a meaningful value."""
    if metric.style_based and not (hasattr(G, "mapping") and hasattr(G, "synthesis")):
        raise MetricError(
            f"{metric.name} needs a style-based generator (StyleGAN or StyleGAN2: mapping and synthesis "
            f"networks); this one is a {type(G).__module__}.{type(G).__name__}."
        )
    if metric.num_classes is not None and G.c_dim != metric.num_classes:
        got = "is unconditional" if G.c_dim == 0 else f"takes {G.c_dim} label values"
        raise MetricError(
            f"{metric.name} needs a generator conditioned on the detector's {metric.num_classes} classes "
            f"(made by `ganforge train --cond` on labelled digits); this one {got}."
        )
    side = getattr(G, "img_resolution", None)
    shape = [getattr(G, "img_channels", None), getattr(G, "img_height", side), getattr(G, "img_width", side)]
    if metric.image_shape is not None and None not in shape and tuple(shape) != metric.image_shape:
        raise MetricError(
            f"{metric.name} needs a generator of {describe_images(metric.image_shape)} images (what its "
            f"detector knows); this one makes {describe_images(shape)} images."
        )


def check_data_fits(metric: Metric, data: str | os.PathLike[str], image_shape: Sequence[int]) -> None:
    """MetricError if dataset `data` (images [C, H, W] `image_shape`) is not what `metric` compares with."""
    if metric.image_shape is not None and tuple(image_shape) != metric.image_shape:
        raise MetricError(
            f"{metric.name} needs {describe_images(metric.image_shape)} digit images (what its detector "
            f"knows), but dataset {data} holds {describe_images(image_shape)} images; for other data use "
            "fid50k_full or kid50k_full."
        )
