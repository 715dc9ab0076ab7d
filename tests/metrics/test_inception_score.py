"""Inception score against an independent computation on uniform and confident logits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from ganforge.metrics.inception_score import inception_score


def _is_reference(logits: np.ndarray, splits: int) -> tuple[float, float]:
    p = softmax(logits.astype(np.float64), axis=1)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0)
        kl = [np.sum(row * (np.log(row) - np.log(py))) for row in part]
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def test_uniform_logits_score_one() -> None:
    mean, std = inception_score(np.zeros([100, 10]), num_splits=10)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_confident_balanced_logits_score_num_classes() -> None:
    logits = np.full([1000, 10], -30.0)
    logits[np.arange(1000), np.arange(1000) % 10] = 30.0
    mean, std = inception_score(logits, num_splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6) and std < 1e-6


def test_confident_single_class_scores_one() -> None:
    logits = np.full([200, 10], -30.0)
    logits[:, 3] = 30.0
    assert inception_score(logits)[0] == pytest.approx(1.0, abs=1e-6)


def test_random_logits_match_reference() -> None:
    logits = np.random.RandomState(0).randn(103, 7) * 3
    got = inception_score(logits, num_splits=10)
    np.testing.assert_allclose(got, _is_reference(logits, 10), rtol=1e-9)


def test_needs_enough_samples() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        inception_score(np.zeros([5, 3]))
