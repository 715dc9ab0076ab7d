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

import math

import torch
from torch import nn

from ganforge.errors import OptionError
from ganforge.ops.init_args import records_init_args

LRELU_SLOPE = 0.2
INIT_STD = 0.02


def uniform_latents(z: torch.Tensor) -> torch.Tensor:
    """Map standard-normal latents elementwise to U(-1, 1) (``2 * Phi(z) - 1``), DCGAN's prior."""
    return torch.erf(z / math.sqrt(2))


def conv_cond_concat(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Append labels c [N, C] to feature maps x [N, K, H, W] as C constant channels."""
    return torch.cat([x, c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)


def deconv(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """5x5 transposed convolution with stride 2 that doubles the spatial size."""
    return nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2, padding=2, output_padding=1)


def conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """5x5 convolution with stride 2 that halves an even spatial size."""
    return nn.Conv2d(in_channels, out_channels, 5, stride=2, padding=2)


def init_weights_(module: nn.Module) -> None:
    """DCGAN initialisation of one layer: weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


def _check_resolution(img_resolution: int, c_dim: int) -> None:
    """Refuse sizes the layer stack cannot produce: it halves 4 times (2 times when conditional)."""
    steps = 2 if c_dim > 0 else 4
    if img_resolution < 2**steps or img_resolution % 2**steps != 0:
        mode = "a conditional" if c_dim > 0 else "an unconditional"
        raise ValueError(f"{mode} DCGAN needs img_resolution divisible by {2**steps}, got {img_resolution}")


def _check_labels(c: torch.Tensor | None, c_dim: int, n: int) -> torch.Tensor | None:
    """c as [n, c_dim] for a conditional network (None for an unconditional one)."""
    if c_dim == 0:
        return None
    if c is None or c.shape != (n, c_dim):
        got = None if c is None else list(c.shape)
        raise ValueError(f"a conditional DCGAN needs labels c of shape [{n}, {c_dim}], got {got}")
    return c.to(torch.float32)


class _UnconditionalGenerator(nn.Module):
    """z [N, z_dim] -> images [N, img_channels, R, R] in (-1, 1)."""

    def __init__(self, z_dim: int, img_resolution: int, img_channels: int, gf_dim: int) -> None:
        super().__init__()
        self.base = img_resolution // 16
        self.fc = nn.Linear(z_dim, gf_dim * 8 * self.base**2)
        self.bn0 = nn.BatchNorm2d(gf_dim * 8)
        widths = [gf_dim * 8, gf_dim * 4, gf_dim * 2, gf_dim]
        self.deconvs = nn.ModuleList(deconv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.to_img = deconv(gf_dim, img_channels)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], -1, self.base, self.base)
        x = torch.relu(self.bn0(x))
        for layer, bn in zip(self.deconvs, self.bns, strict=True):
            x = torch.relu(bn(layer(x)))
        return torch.tanh(self.to_img(x))


class _ConditionalGenerator(nn.Module):
    """(z [N, z_dim], c [N, c_dim]) -> images [N, img_channels, R, R] in (-1, 1)."""

    def __init__(
        self, z_dim: int, c_dim: int, img_resolution: int, img_channels: int, gf_dim: int, gfc_dim: int
    ) -> None:
        super().__init__()
        self.base = img_resolution // 4
        self.fc0 = nn.Linear(z_dim + c_dim, gfc_dim)
        self.bn0 = nn.BatchNorm1d(gfc_dim)
        self.fc1 = nn.Linear(gfc_dim + c_dim, gf_dim * 2 * self.base**2)
        self.bn1 = nn.BatchNorm1d(gf_dim * 2 * self.base**2)
        self.deconv2 = deconv(gf_dim * 2 + c_dim, gf_dim * 2)
        self.bn2 = nn.BatchNorm2d(gf_dim * 2)
        self.to_img = deconv(gf_dim * 2 + c_dim, img_channels)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn0(self.fc0(torch.cat([z, c], dim=1))))
        x = torch.relu(self.bn1(self.fc1(torch.cat([x, c], dim=1))))
        x = conv_cond_concat(x.view(z.shape[0], -1, self.base, self.base), c)
        x = conv_cond_concat(torch.relu(self.bn2(self.deconv2(x))), c)
        return torch.sigmoid(self.to_img(x)) * 2 - 1


@records_init_args
class Generator(nn.Module):
    """DCGAN generator with the call signature of ganforge's StyleGAN2 generator: G(z, c) -> images."""

    def __init__(
        self,
        z_dim: int = 100,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 3,
        gf_dim: int = 64,
        gfc_dim: int = 1024,
    ) -> None:
        super().__init__()
        _check_resolution(img_resolution, c_dim)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        if c_dim > 0:
            self.net: nn.Module = _ConditionalGenerator(
                z_dim, c_dim, img_resolution, img_channels, gf_dim, gfc_dim
            )
        else:
            self.net = _UnconditionalGenerator(z_dim, img_resolution, img_channels, gf_dim)
        self.apply(init_weights_)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Images [N, img_channels, R, R] in [-1, 1] for standard-normal z [N, z_dim] and labels c.

        c is [N, c_dim] (one-hot classes) for a conditional network and ignored otherwise. DCGAN has
        no average latent to truncate toward and no noise inputs: `truncation_psi` other than 1
        raises `OptionError`; `truncation_cutoff` and `noise_mode` are accepted and have no effect.
        """
        if truncation_psi != 1:
            raise OptionError(
                f"--trunc {truncation_psi}: a DCGAN generator has no truncation trick (no average latent "
                "to truncate toward); use --trunc 1 (truncation_psi=1)"
            )
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        labels = _check_labels(c, self.c_dim, z.shape[0])
        return self.net(uniform_latents(z.to(torch.float32)), labels)


class _UnconditionalDiscriminator(nn.Module):
    """Images [N, img_channels, R, R] -> logits [N, 1]."""

    def __init__(self, img_resolution: int, img_channels: int, df_dim: int) -> None:
        super().__init__()
        self.conv0 = conv(img_channels, df_dim)
        widths = [df_dim, df_dim * 2, df_dim * 4, df_dim * 8]
        self.convs = nn.ModuleList(conv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.fc = nn.Linear(df_dim * 8 * (img_resolution // 16) ** 2, 1)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = nn.functional.leaky_relu(self.conv0(img), LRELU_SLOPE)
        for layer, bn in zip(self.convs, self.bns, strict=True):
            x = nn.functional.leaky_relu(bn(layer(x)), LRELU_SLOPE)
        return self.fc(x.flatten(1))


class _ConditionalDiscriminator(nn.Module):
    """(images [N, img_channels, R, R], labels c [N, c_dim]) -> logits [N, 1]."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, df_dim: int, dfc_dim: int) -> None:
        super().__init__()
        self.conv0 = conv(img_channels + c_dim, img_channels + c_dim)
        self.conv1 = conv(img_channels + 2 * c_dim, df_dim + c_dim)
        self.bn1 = nn.BatchNorm2d(df_dim + c_dim)
        self.fc2 = nn.Linear((df_dim + c_dim) * (img_resolution // 4) ** 2 + c_dim, dfc_dim)
        self.bn2 = nn.BatchNorm1d(dfc_dim)
        self.fc3 = nn.Linear(dfc_dim + c_dim, 1)

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        lrelu = nn.functional.leaky_relu
        x = lrelu(self.conv0(conv_cond_concat(img, c)), LRELU_SLOPE)
        x = lrelu(self.bn1(self.conv1(conv_cond_concat(x, c))), LRELU_SLOPE)
        x = lrelu(self.bn2(self.fc2(torch.cat([x.flatten(1), c], dim=1))), LRELU_SLOPE)
        return self.fc3(torch.cat([x, c], dim=1))


@records_init_args
class Discriminator(nn.Module):
    """DCGAN discriminator with the call signature of ganforge's StyleGAN2 one: D(img, c) -> logits [N, 1]."""

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 64,
        img_channels: int = 3,
        df_dim: int = 64,
        dfc_dim: int = 1024,
    ) -> None:
        super().__init__()
        _check_resolution(img_resolution, c_dim)
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        if c_dim > 0:
            self.net: nn.Module = _ConditionalDiscriminator(
                c_dim, img_resolution, img_channels, df_dim, dfc_dim
            )
        else:
            self.net = _UnconditionalDiscriminator(img_resolution, img_channels, df_dim)
        self.apply(init_weights_)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N, 1] (real: high) for images [N, img_channels, R, R] in [-1, 1] and labels c."""
        expected = [self.img_channels, self.img_resolution, self.img_resolution]
        if img.ndim != 4 or list(img.shape[1:]) != expected:
            raise ValueError(f"img must have shape [N, *{expected}], got {list(img.shape)}")
        labels = _check_labels(c, self.c_dim, img.shape[0])
        return self.net(img.to(torch.float32), labels)
