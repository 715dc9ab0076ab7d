"""The preview grids of a run: reals.png and the fakes*.png written at each snapshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganforge.data.dataset import ImageDataset
from ganforge.data.grid import save_image_grid


class PreviewGrid:
    """A fixed set of dataset images (grouped by label) and latents for the preview grids."""

    def __init__(
        self,
        dataset: ImageDataset,
        z_dim: int,
        batch_gpu: int,
        device: torch.device,
        size: tuple[int, int] | None,
        seed: int,
    ) -> None:
        rnd = np.random.RandomState(seed)
        height, width = dataset.image_shape[1:]
        self.size = size or (int(np.clip(7680 // width, 7, 32)), int(np.clip(4320 // height, 4, 32)))
        cols, rows = self.size
        if not dataset.has_labels:
            order = rnd.permutation(len(dataset))
            indices = [int(order[i % len(order)]) for i in range(cols * rows)]
        else:
            groups: dict[tuple[float, ...], list[int]] = {}
            for idx in range(len(dataset)):
                key = tuple(dataset.get_details(idx).raw_label.flat[::-1])
                groups.setdefault(key, []).append(idx)
            keys = sorted(groups)
            for key in keys:
                rnd.shuffle(groups[key])
            indices = []
            for row in range(rows):
                members = groups[keys[row % len(keys)]]
                indices += [members[col % len(members)] for col in range(cols)]
                groups[keys[row % len(keys)]] = members[cols % len(members):] + members[: cols % len(members)]
        self.indices = indices
        self.dataset = dataset
        labels = torch.from_numpy(np.stack([dataset.get_label(i) for i in indices]).astype(np.float32))
        gen = torch.Generator().manual_seed(seed)
        self.z = torch.randn([len(indices), z_dim], generator=gen).to(device).split(batch_gpu)
        self.c = labels.to(device).split(batch_gpu)

    def save_reals(self, path: Path) -> None:
        images = np.stack([self.dataset[i][0] for i in self.indices])
        save_image_grid(images, path, self.size)

    @torch.no_grad()
    def save_fakes(self, G_ema: nn.Module, path: Path) -> None:
        batches = zip(self.z, self.c, strict=True)
        images = torch.cat([G_ema(z, c, noise_mode="const").cpu() for z, c in batches])
        pixels = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        save_image_grid(pixels, path, self.size)
