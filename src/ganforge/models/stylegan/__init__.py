"""StyleGAN (2019) networks: style-based generator with progressive growing, and D_basic."""

from ganforge.models.stylegan.discriminator import Discriminator
from ganforge.models.stylegan.generator import Generator, MappingNetwork, SynthesisNetwork
from ganforge.models.stylegan.tf_names import tf_variable_names

__all__ = [
    "NETWORKS", "Discriminator", "Generator", "MappingNetwork", "SynthesisNetwork", "tf_variable_names",
]

NETWORKS = (Generator, Discriminator, MappingNetwork, SynthesisNetwork)
"""The classes a checkpoint may hold (`ganforge.compat.registry` names them by family and class)."""
