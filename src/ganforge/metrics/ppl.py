"""Perceptual path length (Karras et al. 2019) in StyleGAN2-ADA's five variants (ppl_zfull ... ppl2_wend).

For each sample: latents z0, z1 and a position t (uniform in [0, 1) for 'full' sampling, 0 for
'end'). In W, w0 = mapping(z0, c) and w1 = mapping(z1, c) are interpolated linearly at t and at
t + epsilon; in Z, z0 and z1 are interpolated spherically (slerp) at t and t + epsilon and then
mapped. The two images of a pair share their noise (the generator's constant noise buffers,
redrawn for every batch) and are compared with LPIPS; the distance is divided by epsilon^2.
Images are optionally centre-cropped (faces: rows 3/8 to 7/8, columns 2/8 to 6/8 of the image),
box-downsampled by the factor `G.img_resolution // 256` (fixed before the crop, as the official
code, so a 512 px crop is seen at 128 px) and scaled to [0, 255] before LPIPS. The result is the
mean of the distances between their 1st ('lower') and 99th ('higher') percentiles.

Random draws, per batch of n samples from a `torch.Generator` seeded with `seed * 1_000_003 +
start`: z [2n, z_dim] (z0 then z1), then t [n] for 'full' sampling, then each noise buffer in
`named_buffers` order.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.detectors.opaque import opaque_float
from ganforge.inference.runner import eval_mode
from ganforge.metrics.features import MetricOptions, sample_labels
from ganforge.progress import progress as progress_bar

LPIPS_RESOLUTION = 256


def filtered_mean(distances: np.ndarray) -> float:
    """Mean of the distances within the [1st, 99th] percentile range (the outliers dropped)."""
    lo = np.percentile(distances, 1, method="lower")
    hi = np.percentile(distances, 99, method="higher")
    return float(distances[(distances >= lo) & (distances <= hi)].mean())


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from the direction of `a` (t = 0) to that of `b` (t = 1); unit vectors out."""
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    cos = (a * b).sum(dim=-1, keepdim=True)
    angle = t * torch.acos(cos.clamp(-1, 1))
    towards_b = F.normalize(b - cos * a, dim=-1)
    return F.normalize(a * torch.cos(angle) + towards_b * torch.sin(angle), dim=-1)


def prepare_for_lpips(img: torch.Tensor, crop: bool, img_resolution: int) -> torch.Tensor:
    """Generator output [N, C, R, R] in [-1, 1] -> 3-channel float in [0, 255], cropped and downsampled.

    The downsampling factor is `img_resolution // 256` whether or not the image was cropped.
    """
    if crop:
        rows, cols = img.shape[2] // 8, img.shape[3] // 8
        img = img[:, :, rows * 3 : rows * 7, cols * 2 : cols * 6]
    factor = img_resolution // LPIPS_RESOLUTION
    if factor > 1:
        n, c, h, w = img.shape
        img = img.reshape(n, c, h // factor, factor, w // factor, factor).mean(dim=[3, 5])
    img = (img + 1) * (255 / 2)
    return img.repeat(1, 3, 1, 1) if img.shape[1] == 1 else img


def path_ends(
    G: nn.Module, c: torch.Tensor, epsilon: float, space: str, sampling: str, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ws [n, num_ws, w_dim] at t and t + epsilon on len(c) random paths (draws: see the module doc)."""
    n = len(c)
    z0, z1 = torch.randn([2 * n, G.z_dim], generator=gen).to(c.device).chunk(2)
    t = torch.rand([n], generator=gen) if sampling == "full" else torch.zeros([n])
    t = t.to(c.device).unsqueeze(1)
    if space == "w":
        w0, w1 = G.mapping(torch.cat([z0, z1]), torch.cat([c, c])).chunk(2)
        return w0.lerp(w1, t.unsqueeze(2)), w0.lerp(w1, t.unsqueeze(2) + epsilon)
    z_t0, z_t1 = slerp(z0, z1, t), slerp(z0, z1, t + epsilon)
    return G.mapping(torch.cat([z_t0, z_t1]), torch.cat([c, c])).chunk(2)


def path_distances(
    G: nn.Module,
    lpips: nn.Module,
    c: torch.Tensor,
    *,
    epsilon: float,
    space: str,
    sampling: str,
    crop: bool,
    gen: torch.Generator,
) -> torch.Tensor:
    """LPIPS(image(t), image(t + epsilon)) / epsilon^2 for len(c) random paths, pairs sharing their noise."""
    w_t0, w_t1 = path_ends(G, c, epsilon, space, sampling, gen)
    for name, buf in G.named_buffers():
        if name.endswith("noise_const"):
            buf.copy_(torch.randn(buf.shape, generator=gen))
    img = G.synthesis(torch.cat([w_t0, w_t1]), noise_mode="const", force_fp32=True)
    img0, img1 = prepare_for_lpips(opaque_float(img), crop, G.img_resolution).chunk(2)
    return lpips(img0, img1).float() / epsilon**2


def compute_ppl(
    opts: MetricOptions,
    num_samples: int,
    *,
    epsilon: float,
    space: str,
    sampling: str,
    crop: bool,
    batch_size: int,
) -> float:
    """PPL over `num_samples` paths in `space` ("z" or "w") with `sampling` ("full" or "end")."""
    G = copy.deepcopy(opts.generator()).to(opts.device)
    lpips = opts.detector("lpips")
    c = sample_labels(opts, G, num_samples)
    starts = list(range(0, num_samples, batch_size))[opts.rank :: opts.num_gpus]
    dist = []
    with torch.no_grad(), eval_mode(G):
        for start in progress_bar(starts, total=len(starts), desc="ppl sampling", enabled=opts.progress):
            gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + start)
            batch_c = c[start : start + batch_size].to(opts.device)
            dist.append(path_distances(
                G, lpips, batch_c, epsilon=epsilon, space=space, sampling=sampling, crop=crop, gen=gen
            ).cpu())
    distances = torch.cat(dist).numpy()
    if opts.num_gpus > 1:
        parts: list[np.ndarray | None] = [None] * opts.num_gpus
        torch.distributed.all_gather_object(parts, distances)
        distances = np.concatenate(parts)
    return filtered_mean(distances)
