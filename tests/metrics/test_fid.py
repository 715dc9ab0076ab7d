"""FID against independent computations: identical sets, and the closed form for two Gaussians."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.metrics.fid import frechet_distance, mean_cov


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    vals, vecs = np.linalg.eigh(a)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def _closed_form(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2): the same trace, symmetric form."""
    r1 = _psd_sqrt(s1)
    cross = _psd_sqrt(r1 @ s2 @ r1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross))


def _random_cov(rng: np.random.RandomState, d: int) -> np.ndarray:
    a = rng.randn(d, d)
    return a @ a.T / d + 0.1 * np.eye(d)


def test_mean_cov_is_float64_biased_estimate() -> None:
    x = np.random.RandomState(0).randn(200, 5).astype(np.float32)
    mean, cov = mean_cov(x)
    assert mean.dtype == np.float64 and cov.dtype == np.float64
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x.astype(np.float64), rowvar=False, bias=True), atol=1e-12)


def test_identical_sets_give_zero() -> None:
    x = np.random.RandomState(1).randn(500, 16)
    mu, sigma = mean_cov(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


@pytest.mark.parametrize("d", [1, 4, 32])
def test_gaussians_match_closed_form(d: int) -> None:
    rng = np.random.RandomState(d)
    mu1, mu2 = rng.randn(d), rng.randn(d) + 3
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_closed_form(mu1, s1, mu2, s2), rel=1e-6)


def test_shifted_samples_match_closed_form_of_their_statistics() -> None:
    rng = np.random.RandomState(7)
    a = rng.randn(4000, 8)
    b = rng.randn(4000, 8) @ np.diag(np.linspace(0.5, 2, 8)) + 1.5
    mu_a, s_a = mean_cov(a)
    mu_b, s_b = mean_cov(b)
    fid = frechet_distance(mu_a, s_a, mu_b, s_b)
    assert fid == pytest.approx(_closed_form(mu_a, s_a, mu_b, s_b), rel=1e-6)
    # And near the population value: 8 * 1.5^2 + sum((1 - sigma_i)^2) for diagonal covariances.
    expected = 8 * 1.5**2 + np.sum((1 - np.linspace(0.5, 2, 8)) ** 2)
    assert fid == pytest.approx(expected, rel=0.05)
