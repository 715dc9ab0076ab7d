"""Gradient penalties of the GAN losses as pure functions of tensors (no networks, no state).

R1 (Mescheder et al. 2018), StyleGAN2's path length (Karras et al. 2020) and WGAN-GP's gradient
penalty (Gulrajani et al. 2017). Each keeps the graph (create_graph) so that its value can be
back-propagated into the network that produced the scores or images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def r1_penalty(real_logits: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """Per-image |grad_x D(x)|^2 for scores `real_logits` computed from `real_img` (requires_grad)."""
    (grads,) = torch.autograd.grad(real_logits.sum(), real_img, create_graph=True)
    return grads.square().sum(dim=[1, 2, 3])


def path_lengths(img: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Per-image |J_w^T y|: the length of the image's change along `noise` y, pulled back to `ws`."""
    (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    return grads.square().sum(2).mean(1).sqrt()


def wgan_gp_penalty(
    D: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    real_img: torch.Tensor,
    fake_img: torch.Tensor,
    c: torch.Tensor,
    mixing: torch.Tensor,
    target: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (|grad D(x_mix)| - target)^2 at x_mix = real + mixing * (fake - real), and the norms."""
    mixed = real_img.detach().lerp(fake_img.detach(), mixing).requires_grad_(True)
    scores = D(mixed, c)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grads.square().sum(dim=[1, 2, 3]).sqrt()
    return (norms - target).square(), norms
