"""What the mapping networks of StyleGAN and StyleGAN2 do alike with latents: check an input's shape,
track the running mean of w, and pull ws towards it (the truncation trick)."""

from __future__ import annotations

import torch


def check_latent_input(name: str, t: torch.Tensor | None, dim: int) -> None:
    """Refuse a mapping network's input `name` (z or c) unless it is [N, dim]."""
    if t is None or t.ndim != 2 or t.shape[1] != dim:
        shape = None if t is None else tuple(t.shape)
        raise ValueError(f"MappingNetwork expects {name} of shape [N, {dim}], got {shape}")


def track_w_avg(w_avg: torch.Tensor, w: torch.Tensor, beta: float) -> None:
    """Move the tracked mean `w_avg` in place towards the batch mean of w [N, w_dim], keeping `beta` of it."""
    with torch.no_grad():
        w_avg.copy_(w.detach().mean(dim=0).lerp(w_avg, beta))


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None) -> torch.Tensor:
    """ws lerped towards `w_avg` by `psi` along dim 1 up to `cutoff` (all of it when None)."""
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    head = w_avg.lerp(ws[:, :cutoff], psi)
    return torch.cat([head, ws[:, cutoff:]], dim=1)
