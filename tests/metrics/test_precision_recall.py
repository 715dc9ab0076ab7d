"""Improved precision/recall against a brute-force numpy k-NN computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.metrics.precision_recall import precision_recall


def _reference(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Features, distances and radii in float16, as StyleGAN2-ADA; inside means at most the radius."""
    real = real.astype(np.float16).astype(np.float64)
    fake = fake.astype(np.float16).astype(np.float64)

    def share_inside(manifold: np.ndarray, probes: np.ndarray) -> float:
        d_mm = np.sqrt(((manifold[:, None] - manifold[None]) ** 2).sum(-1)).astype(np.float16)
        radii = np.sort(d_mm, axis=1)[:, k]  # column 0 is the sample itself
        d_pm = np.sqrt(((probes[:, None] - manifold[None]) ** 2).sum(-1)).astype(np.float16)
        return float(np.mean((d_pm <= radii[None]).any(axis=1)))

    return share_inside(real, fake), share_inside(fake, real)


def test_identical_sets_score_one() -> None:
    x = torch.randn(200, 16)
    assert precision_recall(x, x.clone(), k=3) == (1.0, 1.0)


def test_far_apart_sets_score_zero() -> None:
    x = torch.randn(200, 16)
    assert precision_recall(x, x + 100, k=3) == (0.0, 0.0)


def test_a_probe_at_exactly_the_radius_is_inside() -> None:
    # Real radii (k=1) are 3; the fake at -3 lies exactly 3 from the real 0, the one at 10 is far out.
    real = torch.tensor([[0.0], [3.0]])
    fake = torch.tensor([[-3.0], [10.0]])
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert precision_recall(fake, real, k=1) == (1.0, 0.5)


def test_distances_and_radii_are_compared_in_float16() -> None:
    # The real radii are 1000.5 - 1e-4 = 1000.4999 in float32; the fake at -1000.5 is 1000.5001 from
    # the real 1e-4: outside in float32, but both round to 1000.5 in float16, so it is inside.
    real = torch.tensor([[1e-4], [1000.5]])
    fake = torch.tensor([[-1000.5], [5000.0]])
    assert torch.cdist(real, fake)[0, 0] > 1000.5 > torch.cdist(real, real)[0, 1]  # float32 would say outside
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert precision_recall(fake, real, k=1) == (1.0, 0.5)
    assert _reference(real.numpy(), fake.numpy(), 1) == (0.5, 1.0)


def test_narrow_fake_set_has_high_precision_low_recall() -> None:
    rng = np.random.RandomState(0)
    real = rng.randn(300, 8)
    fake = rng.randn(300, 8) * 0.3
    precision, recall = precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=3)
    assert precision > 0.9 and recall < 0.5


@pytest.mark.parametrize("block_size", [10000, 7, 13])
def test_matches_reference_with_any_batching(block_size: int) -> None:
    rng = np.random.RandomState(1)
    real = rng.randn(150, 6)
    fake = rng.randn(120, 6) * 1.3 + 0.4
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)
    got = precision_recall(real_t, fake_t, k=3, block_size=block_size)
    want = _reference(real, fake, 3)
    assert got[0] == pytest.approx(want[0], abs=1 / 120) and got[1] == pytest.approx(want[1], abs=1 / 150)
    assert 0 < got[0] < 1 and 0 < got[1] < 1
