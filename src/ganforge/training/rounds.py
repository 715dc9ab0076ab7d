"""How a step is split into rounds and seeded, so that its math does not depend on the rank count,
and the G_ema update that ends it.

Every random draw comes from seeds derived from (seed, step, ...) - the latents and their labels
from a generator shared by all ranks, everything else (noise inputs, style mixing, augmentation)
from torch's global generator, reseeded for each phase and round by the round's global index - and
the data order from the sampler position. A snapshot therefore needs no RNG state, resuming
continues bit for bit, and a round sees the same images, latents and random draws whatever the
number of ranks.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganforge.training.distributed import DistEnv


def split_rounds(batch: torch.Tensor, num_rounds: int) -> list[torch.Tensor]:
    """Split a rank's batch into rounds by striding: round j holds items j, j + R, j + 2R, ...

    With the sampler giving rank r the global positions r, r + W, ..., round j of rank r then
    holds global positions (r + W j) + (W R) m: the same set as global round r + W j of any
    other rank count, which makes a step's math independent of the number of ranks.
    """
    return [batch[j::num_rounds] for j in range(num_rounds)]


def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integer keys (seed, step, stream, ...)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def step_latents(
    seed: int, step: int, num_phases: int, batch: int, z_dim: int, labels: torch.Tensor, env: DistEnv,
    num_rounds: int,
) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Per phase and round, this rank's latents and labels (drawn from the dataset's `labels`) of a step.

    All ranks draw the whole step's latents from the same seed and take their share the way
    the sampler shares out the images, so a given image position meets the same latent
    whatever the number of ranks.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, step, 0))
    z = torch.randn([num_phases, batch, z_dim], generator=gen)
    c_idx = torch.randint(len(labels), [num_phases, batch], generator=gen)
    z = z[:, env.rank :: env.world_size].to(env.device)
    c = labels[c_idx[:, env.rank :: env.world_size].to(env.device)]
    return [split_rounds(zi, num_rounds) for zi in z], [split_rounds(ci, num_rounds) for ci in c]


@torch.no_grad()
def update_ema(
    G_ema: nn.Module, G: nn.Module, batch: int, cur_nimg: int, ema_kimg: float, ema_rampup: float | None
) -> None:
    """Move G_ema towards G after a step of `batch` images with half-life `ema_kimg` (0: G_ema becomes
    a copy of G), limited to `ema_rampup` * images seen when given; copy the buffers."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
