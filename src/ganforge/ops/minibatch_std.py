"""Minibatch standard deviation: the discriminator's view of a batch's variety (StyleGAN and StyleGAN2)."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStdLayer(nn.Module):
    """Append the per-group standard deviation of the features as `num_channels` extra channels.

    The batch is split into groups of ``min(group_size, N)`` samples taken with stride N/G (sample k
    belongs to group k mod N/G, as in the official layout); channels are split into `num_channels`
    groups. For each sample group and channel group the statistic is the population std over the
    samples (eps 1e-8 inside the sqrt) averaged over channels and pixels, tiled over H x W.
    """

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_batch, channels, height, width = x.shape
        group = n_batch if self.group_size is None else min(self.group_size, n_batch)
        feats = self.num_channels
        if n_batch % group != 0:
            raise ValueError(
                f"minibatch std: batch size {n_batch} is not divisible by the group size {group}; "
                f"use a batch size that is a multiple of mbstd_group_size={self.group_size}"
            )
        if channels % feats != 0:
            raise ValueError(f"minibatch std: {channels} channels are not divisible by num_channels={feats}")
        n_groups = n_batch // group

        y = x.reshape(group, n_groups, feats, channels // feats, height, width)
        centred = y - y.mean(dim=0, keepdim=True)
        std = (centred.square().mean(dim=0) + 1e-8).sqrt()  # [n, F, c, H, W]
        stat = std.mean(dim=(2, 3, 4))  # [n, F]
        stat = stat.reshape(1, n_groups, feats, 1, 1).expand(group, n_groups, feats, height, width)
        return torch.cat([x, stat.reshape(n_batch, feats, height, width)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
