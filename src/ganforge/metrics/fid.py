"""Fréchet Inception Distance between two Gaussians fitted to feature sets (Heusel et al. 2017).

FID = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with the matrix square root from
`scipy.linalg.sqrtm` and its real part taken, as the StyleGAN2-ADA code does; the statistics are
float64 means and biased (divide-by-N) covariances.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg


def mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 mean [D] and biased covariance [D, D] of features [N, D]."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    cov = x.T @ x / len(x) - np.outer(mean, mean)
    return mean, cov


def frechet_distance(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray) -> float:
    """The Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b)."""
    shift = np.square(mu_a - mu_b).sum()
    with warnings.catch_warnings():
        # Near-singular products (e.g. an untrained G's almost identical images) only warn; the
        # official code silences the same warning (sqrtm disp=False) and uses the result as is.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(sigma_a @ sigma_b)
    return float(np.real(shift + np.trace(sigma_a + sigma_b - 2 * root)))
