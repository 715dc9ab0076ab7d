"""DCGAN generator and discriminator (Radford et al. 2015), laid out as carpedm20/DCGAN-tensorflow.

Unconditional (``c_dim == 0``), for images of any size divisible by 16::

    G: z -> linear -> [gf*8, R/16, R/16] -> BN, ReLU
         -> deconv5x5/2 gf*4 -> BN, ReLU -> gf*2 -> BN, ReLU -> gf -> BN, ReLU -> img_channels -> tanh
    D: img -> conv5x5/2 df -> lrelu -> df*2 -> BN, lrelu -> df*4 -> BN, lrelu -> df*8 -> BN, lrelu
         -> linear -> 1 logit

Class-conditional (``c_dim > 0``, the reference's MNIST mode), for sizes divisible by 4: the label
vector c is concatenated to the latent, to each fully connected layer's input and, broadcast over
the pixels ("conv_cond_concat"), to each convolution's input::

    G: [z, c] -> linear gfc -> BN, ReLU -> [., c] -> linear gf*2*(R/4)^2 -> BN, ReLU -> reshape
         -> [., c] -> deconv gf*2 -> BN, ReLU -> [., c] -> deconv img_channels -> sigmoid
    D: [img, c] -> conv (img_channels + c_dim) -> lrelu -> [., c] -> conv (df + c_dim) -> BN, lrelu
         -> flatten -> [., c] -> linear dfc -> BN, lrelu -> [., c] -> linear -> 1 logit

ganforge's one addition, ``img_aspect=(aw, ah)``, makes W x H = (R aw) x (R ah) images (one of aw,
ah is 1, the other 1, 2 or 4): the first and last feature maps are that many times wider or
higher; R = `img_resolution` is the shorter side, and the default (1, 1) is the square network.

The reference's conditional sigmoid output (images in [0, 1]) is rescaled to ganforge's [-1, 1]
as ``2 * sigmoid(x) - 1``. All convolutions are 5x5 with stride 2 and every conv/linear layer has a
bias, as in the reference; batch norm uses eps 1e-5 and running-average momentum 0.1 (TF decay 0.9).
Weights are drawn from N(0, 0.02), batch-norm scales from N(1, 0.02), biases are zero.

Latents: DCGAN trains on z ~ U(-1, 1). Every ganforge tool (seeds, metrics, the training loop)
draws z ~ N(0, 1), so the generator takes standard-normal z and maps it elementwise to U(-1, 1)
with ``erf(z / sqrt(2))`` (the normal CDF, rescaled) before the first layer: the network sees
exactly DCGAN's prior whichever tool drew the latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganforge.models.dcgan.layers import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    UnconditionalDiscriminator,
    UnconditionalGenerator,
    conv_cond_concat,
    image_size,
    init_weights_,
    uniform_latents,
)
from ganforge.ops.direct import DirectDiscriminator, DirectGenerator
from ganforge.ops.init_args import keeps_init_args, records_init_args


@records_init_args
@keeps_init_args("z_dim", "c_dim", "img_resolution", "img_channels")
class Generator(DirectGenerator):
    """DCGAN generator with the official call G(z, c, truncation_psi=1, ...) -> images [N, C, H, W]
    in [-1, 1]; c is [N, c_dim] one-hot classes for a conditional network (see `DirectGenerator`)."""

    family = "DCGAN"

    def __init__(
        self,
        z_dim: int = 100,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 3,
        gf_dim: int = 64,
        gfc_dim: int = 1024,
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        super().__init__()
        self.img_width, self.img_height = size = image_size(img_resolution, c_dim, img_aspect)
        if c_dim > 0:
            self.net: nn.Module = ConditionalGenerator(z_dim, c_dim, size, img_channels, gf_dim, gfc_dim)
        else:
            self.net = UnconditionalGenerator(z_dim, size, img_channels, gf_dim)
        self.apply(init_weights_)

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images for standard-normal z, mapped to DCGAN's uniform prior first."""
        return self.net(uniform_latents(z), labels)


@records_init_args
@keeps_init_args("c_dim", "img_resolution", "img_channels")
class Discriminator(DirectDiscriminator):
    """DCGAN discriminator with the official call D(img, c) -> logits [N, 1] (see `DirectDiscriminator`)."""

    family = "DCGAN"

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 3,
        df_dim: int = 64,
        dfc_dim: int = 1024,
        img_aspect: Sequence[int] = (1, 1),
    ) -> None:
        super().__init__()
        self.img_width, self.img_height = size = image_size(img_resolution, c_dim, img_aspect)
        if c_dim > 0:
            self.net: nn.Module = ConditionalDiscriminator(c_dim, size, img_channels, df_dim, dfc_dim)
        else:
            self.net = UnconditionalDiscriminator(size, img_channels, df_dim)
        self.apply(init_weights_)

    def score(self, img: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.net(img.to(torch.float32), labels)


__all__ = ["Discriminator", "Generator", "conv_cond_concat", "uniform_latents"]


NETWORKS = (Generator, Discriminator)
"""The classes a checkpoint may hold (`ganforge.compat.registry` names them by family and class)."""
