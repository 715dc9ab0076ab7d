"""DCGAN's building blocks: 5x5 stride-2 (de)convolutions, label concatenation, initialisation,
argument checks and the unconditional and conditional layer stacks behind `Generator` and
`Discriminator` (see the package's docstring for their layout)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.ops.resolution import check_aspect

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


def image_size(img_resolution: int, c_dim: int, img_aspect: Sequence[int]) -> tuple[int, int]:
    """(W, H) of the images, refusing sizes the layer stack cannot produce: it halves 4 times (2
    times when conditional); `img_aspect` as `ganforge.ops.resolution.check_aspect` allows."""
    steps = 2 if c_dim > 0 else 4
    if img_resolution < 2**steps or img_resolution % 2**steps != 0:
        mode = "a conditional" if c_dim > 0 else "an unconditional"
        raise ValueError(f"{mode} DCGAN needs img_resolution divisible by {2**steps}, got {img_resolution}")
    check_aspect(img_aspect)
    return img_resolution * img_aspect[0], img_resolution * img_aspect[1]


class UnconditionalGenerator(nn.Module):
    """z [N, z_dim] -> images [N, img_channels, H, W] in (-1, 1); `size` is (W, H)."""

    def __init__(self, z_dim: int, size: tuple[int, int], img_channels: int, gf_dim: int) -> None:
        super().__init__()
        self.base = (size[1] // 16, size[0] // 16)
        self.fc = nn.Linear(z_dim, gf_dim * 8 * self.base[0] * self.base[1])
        self.bn0 = nn.BatchNorm2d(gf_dim * 8)
        widths = [gf_dim * 8, gf_dim * 4, gf_dim * 2, gf_dim]
        self.deconvs = nn.ModuleList(deconv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.to_img = deconv(gf_dim, img_channels)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], -1, *self.base)
        x = torch.relu(self.bn0(x))
        for layer, bn in zip(self.deconvs, self.bns, strict=True):
            x = torch.relu(bn(layer(x)))
        return torch.tanh(self.to_img(x))


class ConditionalGenerator(nn.Module):
    """(z [N, z_dim], c [N, c_dim]) -> images [N, img_channels, H, W] in (-1, 1); `size` is (W, H)."""

    def __init__(
        self, z_dim: int, c_dim: int, size: tuple[int, int], img_channels: int, gf_dim: int, gfc_dim: int
    ) -> None:
        super().__init__()
        self.base = (size[1] // 4, size[0] // 4)
        features = gf_dim * 2 * self.base[0] * self.base[1]
        self.fc0 = nn.Linear(z_dim + c_dim, gfc_dim)
        self.bn0 = nn.BatchNorm1d(gfc_dim)
        self.fc1 = nn.Linear(gfc_dim + c_dim, features)
        self.bn1 = nn.BatchNorm1d(features)
        self.deconv2 = deconv(gf_dim * 2 + c_dim, gf_dim * 2)
        self.bn2 = nn.BatchNorm2d(gf_dim * 2)
        self.to_img = deconv(gf_dim * 2 + c_dim, img_channels)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn0(self.fc0(torch.cat([z, c], dim=1))))
        x = torch.relu(self.bn1(self.fc1(torch.cat([x, c], dim=1))))
        x = conv_cond_concat(x.view(z.shape[0], -1, *self.base), c)
        x = conv_cond_concat(torch.relu(self.bn2(self.deconv2(x))), c)
        return torch.sigmoid(self.to_img(x)) * 2 - 1


class UnconditionalDiscriminator(nn.Module):
    """Images [N, img_channels, H, W] -> logits [N, 1]; `size` is (W, H)."""

    def __init__(self, size: tuple[int, int], img_channels: int, df_dim: int) -> None:
        super().__init__()
        self.conv0 = conv(img_channels, df_dim)
        widths = [df_dim, df_dim * 2, df_dim * 4, df_dim * 8]
        self.convs = nn.ModuleList(conv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.fc = nn.Linear(df_dim * 8 * (size[0] // 16) * (size[1] // 16), 1)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = nn.functional.leaky_relu(self.conv0(img), LRELU_SLOPE)
        for layer, bn in zip(self.convs, self.bns, strict=True):
            x = nn.functional.leaky_relu(bn(layer(x)), LRELU_SLOPE)
        return self.fc(x.flatten(1))


class ConditionalDiscriminator(nn.Module):
    """(images [N, img_channels, H, W], labels c [N, c_dim]) -> logits [N, 1]; `size` is (W, H)."""

    def __init__(
        self, c_dim: int, size: tuple[int, int], img_channels: int, df_dim: int, dfc_dim: int
    ) -> None:
        super().__init__()
        self.conv0 = conv(img_channels + c_dim, img_channels + c_dim)
        self.conv1 = conv(img_channels + 2 * c_dim, df_dim + c_dim)
        self.bn1 = nn.BatchNorm2d(df_dim + c_dim)
        self.fc2 = nn.Linear((df_dim + c_dim) * (size[0] // 4) * (size[1] // 4) + c_dim, dfc_dim)
        self.bn2 = nn.BatchNorm1d(dfc_dim)
        self.fc3 = nn.Linear(dfc_dim + c_dim, 1)

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        lrelu = nn.functional.leaky_relu
        x = lrelu(self.conv0(conv_cond_concat(img, c)), LRELU_SLOPE)
        x = lrelu(self.bn1(self.conv1(conv_cond_concat(x, c))), LRELU_SLOPE)
        x = lrelu(self.bn2(self.fc2(torch.cat([x.flatten(1), c], dim=1))), LRELU_SLOPE)
        return self.fc3(torch.cat([x, c], dim=1))
