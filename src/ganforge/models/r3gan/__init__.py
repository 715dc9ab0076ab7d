"""R3GAN (Huang, Gokaslan, Kuleshov, Tompkin, NeurIPS 2024): a modern ResNet GAN without StyleGAN's
tricks, trained with a relativistic loss and both R1 and R2 (`ganforge.losses.r3gan`).

    G: [z, embed(c)] -> 4x4 generative basis -> blocks -> (2x up, 1x1 -> blocks) per stage -> 1x1 RGB
    D: img -> 1x1 -> (blocks -> 2x down, 1x1) per stage -> blocks -> 4x4 depthwise basis -> linear
       -> <features, embed(c)> when conditional

Each residual block is 1x1 expand -> biased leaky ReLU -> grouped KxK (`cardinality` groups) ->
biased leaky ReLU -> 1x1 project, its last layer zero-initialised. The numbers follow the public
code (brownvc/R3GAN); `from_r3gan_names` maps its parameter names onto these modules.
"""

from ganforge.models.r3gan.names import from_r3gan_kwargs, from_r3gan_names, ganforge_name
from ganforge.models.r3gan.networks import Discriminator, Generator

NETWORKS = (Generator, Discriminator)
"""The classes a ganforge checkpoint may hold (`ganforge.compat.registry`)."""

__all__ = ["NETWORKS", "Discriminator", "Generator", "from_r3gan_kwargs", "from_r3gan_names", "ganforge_name"]
