"""Improved precision and recall (Kynkäänniemi et al. 2019) from k-nearest-neighbour feature manifolds.

A set's manifold is the union of balls around its samples, each with the radius of the distance to
its k-th nearest neighbour (k = 3 for pr50k3; the sample itself is excluded). Precision is the
share of generated samples inside the real manifold, recall the share of real samples inside the
generated one. As StyleGAN2-ADA: features, distances and radii are all rounded to float16 (its
distances come out of a half-precision cdist), a probe at exactly a radius counts as inside, and
distances are computed in blocks, so 50k x 200k sets fit in memory.
"""

from __future__ import annotations

import torch


def _distances(rows: torch.Tensor, cols: torch.Tensor, block_size: int) -> torch.Tensor:
    """Euclidean distances [len(rows), len(cols)] rounded to float16, computed block by block over columns.

    The arithmetic is float32 (CPUs have no half-precision cdist); the rounding is the official one.
    """
    blocks = [torch.cdist(rows.float(), block.float()).half() for block in cols.split(block_size)]
    return torch.cat(blocks, dim=1)


def knn_radii(manifold: torch.Tensor, k: int, block_size: int) -> torch.Tensor:
    """Distance of each manifold sample to its k-th nearest other sample, float16."""
    radii = []
    for rows in manifold.split(block_size):
        dist = _distances(rows, manifold, block_size)
        radii.append(dist.float().kthvalue(k + 1, dim=1).values.half())
    return torch.cat(radii)


def coverage(manifold: torch.Tensor, radii: torch.Tensor, probes: torch.Tensor, block_size: int) -> float:
    """Share of `probes` within (at most) the radius of at least one manifold sample, compared in float16."""
    inside = []
    for rows in probes.split(block_size):
        dist = _distances(rows, manifold, block_size)
        inside.append((dist <= radii.unsqueeze(0)).any(dim=1))
    return float(torch.cat(inside).float().mean())


def precision_recall(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    k: int = 3,
    block_size: int = 10000,
) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` against real features `real`, both [N, D].

    Distances are computed in blocks of `block_size` x `block_size` pairs (the official row and
    column batch sizes, both 10000), which bounds memory and does not change the result.
    """
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    real = real.to(torch.float16)
    fake = fake.to(torch.float16)
    results = []
    for manifold, probes in ((real, fake), (fake, real)):
        radii = knn_radii(manifold, k, block_size)
        results.append(coverage(manifold, radii, probes, block_size))
    return results[0], results[1]
