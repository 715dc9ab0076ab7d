"""StyleGAN2 (ADA) networks with the official constructor arguments and parameter names."""

from ganforge.models.stylegan2.discriminator import Discriminator
from ganforge.models.stylegan2.generator import (
    Generator,
    SynthesisBlock,
    SynthesisLayer,
    SynthesisNetwork,
    ToRGBLayer,
)
from ganforge.models.stylegan2.layers import Conv2dLayer, FullyConnectedLayer, MappingNetwork

__all__ = [
    "Conv2dLayer",
    "Discriminator",
    "FullyConnectedLayer",
    "Generator",
    "MappingNetwork",
    "NETWORKS",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGBLayer",
]

NETWORKS = (Generator, Discriminator, MappingNetwork, SynthesisNetwork)
"""The classes a checkpoint may hold (`ganforge.compat.registry` names them by family and class)."""
