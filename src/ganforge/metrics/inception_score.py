"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and std over splits.

As StyleGAN2-ADA: the samples are cut into `num_splits` (10) consecutive parts; in each part p(y)
is the mean of the class probabilities; the score of a part is the exponential of its mean KL.
"""

from __future__ import annotations

import numpy as np
import torch


def inception_score(logits: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over `num_splits` parts of the IS of class logits [N, K]."""
    n = len(logits)
    if n < num_splits:
        raise ValueError(f"Inception score needs at least {num_splits} samples, got {n}")
    log_p = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()
    scores = []
    for i in range(num_splits):
        part = log_p[i * n // num_splits : (i + 1) * n // num_splits]
        log_marginal = np.log(np.exp(part).mean(axis=0, keepdims=True))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
