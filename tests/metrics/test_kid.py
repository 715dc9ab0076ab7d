"""KID against an independent unbiased MMD^2: ~0 for one distribution, positive for two."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.metrics.kid import kernel_distance, polynomial_mmd2


def _mmd2_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit pair sums."""
    m, d = x.shape

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (np.dot(a, b) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd2_matches_pair_sums() -> None:
    rng = np.random.RandomState(0)
    x, y = rng.randn(12, 5), rng.randn(12, 5) + 0.5
    assert polynomial_mmd2(x, y) == pytest.approx(_mmd2_loops(x, y), rel=1e-10)


def test_same_distribution_is_unbiased_near_zero() -> None:
    rng = np.random.RandomState(1)
    a, b = rng.randn(600, 16), rng.randn(600, 16)
    values = [kernel_distance(a, b, num_subsets=20, max_subset_size=100, seed=s) for s in range(5)]
    assert abs(np.mean(values)) < 0.02
    # Unbiased: individual estimates fall on both sides of zero.
    single = [polynomial_mmd2(rng.randn(50, 16), rng.randn(50, 16)) for _ in range(40)]
    assert min(single) < 0 < max(single)


def test_different_distributions_are_positive() -> None:
    rng = np.random.RandomState(2)
    a, b = rng.randn(600, 16), rng.randn(600, 16) * 1.5 + 0.5
    assert kernel_distance(a, b, num_subsets=20, max_subset_size=100) > 0.5


def test_subset_size_and_average() -> None:
    rng = np.random.RandomState(3)
    a, b = rng.randn(30, 4), rng.randn(20, 4) + 1
    # m = min(30, 20, 1000) = 20: every subset of b is all of b, reordered.
    expected = []
    draw = np.random.RandomState(5)
    for _ in range(7):
        x = a[draw.choice(30, 20, replace=False)]
        y = b[draw.choice(20, 20, replace=False)]
        expected.append(_mmd2_loops(x, y))
    assert kernel_distance(a, b, num_subsets=7, seed=5) == pytest.approx(np.mean(expected), rel=1e-10)


def test_too_few_samples() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        kernel_distance(np.zeros([1, 3]), np.zeros([5, 3]))
