"""Kernel Inception Distance (Binkowski et al. 2018): an unbiased MMD^2 with a cubic polynomial kernel.

k(x, y) = (x.y / d + 1)^3. The estimate averages `num_subsets` draws of m = min(N_a, N_b,
`max_subset_size`) rows from each set (without replacement within a draw), as StyleGAN2-ADA does
(100 subsets of at most 1000).
"""

from __future__ import annotations

import numpy as np


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-sized samples x, y [m, d] under the cubic polynomial kernel."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_distance(
    features_a: np.ndarray,
    features_b: np.ndarray,
    *,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """KID between feature sets [N_a, d] and [N_b, d]: the mean of `num_subsets` subset MMD^2 estimates."""
    m = min(len(features_a), len(features_b), max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(features_a)} and {len(features_b)}")
    rng = np.random.RandomState(seed)
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    total = 0.0
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        total += polynomial_mmd2(x, y)
    return total / num_subsets
