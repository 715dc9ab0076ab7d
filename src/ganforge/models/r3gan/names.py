"""R3GAN's parameter names (brownvc/R3GAN, `Model.MainLayers.0.Layers.1.LinearLayer1.Layer.weight`)
as ganforge's (`stages.0.layers.1.conv1.weight`), one dotted part at a time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

_PARTS: dict[str, str | None] = {
    "Model": None,  # training.networks' wrapper around the R3GAN.Networks module
    "Layer": None,  # the nn.Conv2d inside R3GAN's Convolution
    "Resampler": None,  # the resampler module holding the kernel
    "MainLayers": "stages",
    "Layers": "layers",
    "AggregationLayer": "to_rgb",
    "ExtractionLayer": "from_rgb",
    "EmbeddingLayer": "embed",
    "LinearLayer": "linear",
    "LinearLayer1": "conv1",
    "LinearLayer2": "conv2",
    "LinearLayer3": "conv3",
    "NonLinearity1": "act1",
    "NonLinearity2": "act2",
    "Bias": "bias",
    "Basis": "basis",
    "Kernel": "resample_filter",
    "weight": "weight",
}
"""R3GAN name part -> ganforge's (None: the part is dropped). Numbers (list indices) stay."""


def ganforge_name(r3gan_name: str) -> str:
    """The ganforge name of one R3GAN parameter or buffer name; `KeyError` for an unknown part."""
    parts = []
    for part in r3gan_name.split("."):
        if part.isdigit():
            parts.append(part)
            continue
        if part not in _PARTS:
            raise KeyError(f"{r3gan_name!r} has the part {part!r}, which no R3GAN network has")
        mapped = _PARTS[part]
        if mapped is not None:
            parts.append(mapped)
    return ".".join(parts)


def from_r3gan_names(state: Mapping[str, T]) -> dict[str, T]:
    """A state dict keyed by R3GAN's names, keyed by ganforge's (`KeyError` for an unknown name)."""
    return {ganforge_name(name): value for name, value in state.items()}


_KWARGS = {
    "NoiseDimension": "z_dim",
    "WidthPerStage": "widths",
    "CardinalityPerStage": "cardinalities",
    "BlocksPerStage": "blocks",
    "ExpansionFactor": "expansion",
    "ConditionEmbeddingDimension": "embed_dim",
    "KernelSize": "kernel_size",
    "ResamplingFilter": "resample_filter",
    "FP16Stages": "bf16_stages",  # R3GAN's "FP16" stages compute in bfloat16
    "c_dim": "c_dim",
    "img_resolution": "img_resolution",
}
"""R3GAN's constructor arguments (training.networks.Generator/Discriminator) -> ganforge's."""


def from_r3gan_kwargs(kwargs: Mapping[str, object]) -> dict[str, object]:
    """ganforge constructor arguments for R3GAN's `training.networks` ones (`KeyError` if unknown)."""
    unknown = sorted(set(kwargs) - set(_KWARGS))
    if unknown:
        raise KeyError(f"R3GAN networks take no argument {', '.join(unknown)}")
    return {_KWARGS[name]: value for name, value in kwargs.items()}
