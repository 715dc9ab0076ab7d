"""Tiny StyleGAN networks with every parameter randomised, shared by the StyleGAN tests."""

from __future__ import annotations

from typing import Any

import torch

from ganforge.models.stylegan import Discriminator, Generator


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random values in every parameter and in w_avg (std 0.5, or half the initial std where that is
    larger, as for the 1/lr_multiplier mapping weights), so zero-initialised noise weights, biases
    and styles all matter; `lod` and the noise buffers keep theirs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        tensors = list(module.parameters()) + [b for n, b in module.named_buffers() if n.endswith("w_avg")]
        for tensor in tensors:
            scale = 0.5 * max(float(tensor.std()) if tensor.numel() > 1 else 0.0, 1.0)
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * scale)
    return module


def tiny_generator(
    resolution: int = 16, c_dim: int = 0, seed: int = 0, style_mixing_prob: float = 0.9, **synthesis: Any
) -> Generator:
    torch.manual_seed(seed)
    G = Generator(
        z_dim=8,
        c_dim=c_dim,
        w_dim=8,
        img_resolution=resolution,
        img_channels=3,
        mapping_kwargs={"num_layers": 2, "layer_features": 8},
        synthesis_kwargs={"fmap_base": 64, "fmap_max": 8, **synthesis},
        style_mixing_prob=style_mixing_prob,
    )
    return randomize(G, seed)


def tiny_discriminator(resolution: int = 16, c_dim: int = 0, seed: int = 0, **kwargs: Any) -> Discriminator:
    torch.manual_seed(seed)
    D = Discriminator(
        c_dim=c_dim, img_resolution=resolution, img_channels=3, fmap_base=64, fmap_max=8, **kwargs
    )
    return randomize(D, seed)


def set_lod(network: torch.nn.Module, lod: float) -> None:
    """Set the level of detail of a Generator (its synthesis network) or Discriminator."""
    target = network.synthesis if isinstance(network, Generator) else network
    target.lod.fill_(lod)
