"""StyleGAN2 (ADA) networks with the official constructor arguments and parameter names."""

from ganforge.models.stylegan2.discriminator import Discriminator
from ganforge.models.stylegan2.layers import Conv2dLayer, FullyConnectedLayer, MappingNetwork

__all__ = ["Conv2dLayer", "Discriminator", "FullyConnectedLayer", "MappingNetwork"]
