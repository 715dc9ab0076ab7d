"""Perceptual path length (Karras et al. 2019) in W at path ends, as StyleGAN2-ADA's ppl2_wend.

For each sample: w0 = mapping(z0, c), w1 = mapping(z1, c); the pair of images at w0 and at
lerp(w0, w1, epsilon) is compared with LPIPS, and the distance divided by epsilon^2. The two
images of a pair share their noise (the generator's constant noise buffers, redrawn for every
batch). Images are optionally centre-cropped (faces: `crop`, the legacy ppl_wend), box-downsampled
to 256 px when larger, and scaled to [0, 255] before LPIPS. The result is the mean of the
distances between their 1st ('lower') and 99th ('higher') percentiles.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ganforge.metrics.features import MetricOptions, sample_labels
from ganforge.progress import progress as progress_bar
from ganforge.tools.runner import eval_mode

LPIPS_RESOLUTION = 256


def filtered_mean(distances: np.ndarray) -> float:
    """Mean of the distances within the [1st, 99th] percentile range (the outliers dropped)."""
    lo = np.percentile(distances, 1, method="lower")
    hi = np.percentile(distances, 99, method="higher")
    return float(distances[(distances >= lo) & (distances <= hi)].mean())


def prepare_for_lpips(img: torch.Tensor, crop: bool) -> torch.Tensor:
    """Generator output [N, C, R, R] in [-1, 1] -> 3-channel float in [0, 255], at most 256 px."""
    if crop:
        eighth = img.shape[2] // 8
        img = img[:, :, eighth * 3 : eighth * 7, eighth * 2 : eighth * 6]
    factor = img.shape[2] // LPIPS_RESOLUTION
    if factor > 1:
        n, c, h, w = img.shape
        img = img.reshape(n, c, h // factor, factor, w // factor, factor).mean(dim=[3, 5])
    img = (img + 1) * (255 / 2)
    return img.repeat(1, 3, 1, 1) if img.shape[1] == 1 else img


def path_distances(
    G: nn.Module, lpips: nn.Module, c: torch.Tensor, epsilon: float, crop: bool, gen: torch.Generator
) -> torch.Tensor:
    """LPIPS(image(w0), image(w0 + epsilon (w1 - w0))) / epsilon^2 for len(c) random latent pairs."""
    n = len(c)
    z = torch.randn([2 * n, G.z_dim], generator=gen).to(c.device)
    w0, w1 = G.mapping(z, torch.cat([c, c])).chunk(2)
    w_eps = w0.lerp(w1, epsilon)
    for name, buf in G.named_buffers():
        if name.endswith("noise_const"):
            buf.copy_(torch.randn(buf.shape, generator=gen))
    img = G.synthesis(torch.cat([w0, w_eps]), noise_mode="const", force_fp32=True)
    img0, img1 = prepare_for_lpips(img, crop).chunk(2)
    return lpips(img0, img1).float() / epsilon**2


def compute_ppl(
    opts: MetricOptions, num_samples: int, epsilon: float = 1e-4, crop: bool = False, batch_size: int = 2
) -> float:
    """PPL in W at path ends over `num_samples` samples (batches of `batch_size` share their noise)."""
    G = copy.deepcopy(opts.generator()).to(opts.device)
    lpips = opts.detector("lpips")
    c = sample_labels(opts, G, num_samples)
    starts = list(range(0, num_samples, batch_size))[opts.rank :: opts.num_gpus]
    dist = []
    with torch.no_grad(), eval_mode(G):
        for start in progress_bar(starts, total=len(starts), desc="ppl sampling", enabled=opts.progress):
            gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + start)
            batch_c = c[start : start + batch_size].to(opts.device)
            dist.append(path_distances(G, lpips, batch_c, epsilon, crop, gen).cpu())
    distances = torch.cat(dist).numpy()
    if opts.num_gpus > 1:
        parts: list[np.ndarray | None] = [None] * opts.num_gpus
        torch.distributed.all_gather_object(parts, distances)
        distances = np.concatenate(parts)
    return filtered_mean(distances)
