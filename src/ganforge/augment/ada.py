"""Adaptive discriminator augmentation (ADA): tune the augmentation strength `p` during training.

The overfitting heuristic is r_t = E[sign(D(real))]: near 0 while D generalises, towards 1 when it
memorises the training set. Every `interval` steps `p` moves by a fixed step towards keeping r_t at
`target`; the step is sized so that `p` can rise from 0 to 1 within `ada_kimg` thousand real images.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from ganforge.augment.pipeline import AugmentPipe


class AdaController:
    """Accumulates the signs of D's real logits and adjusts ``augment_pipe.p`` in `update`.

    Under torch.distributed every rank accumulates its own logits and `update` (called on every rank
    at the same step) sums the counts over ranks, so all ranks move `p` identically.
    """

    def __init__(
        self, augment_pipe: AugmentPipe, target: float = 0.6, ada_kimg: float = 500, interval: int = 4
    ):
        if ada_kimg <= 0 or interval < 1:
            raise ValueError(f"ada_kimg must be > 0 and interval >= 1, got {ada_kimg} and {interval}")
        self.augment_pipe = augment_pipe
        self.target = float(target)
        self.ada_kimg = float(ada_kimg)
        self.interval = int(interval)
        self.rt: float | None = None  # mean sign at the last update (None before the first)
        self._stats: torch.Tensor | None = None  # [sum of signs, count] on the logits' device

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add the signs of a batch of D's logits for real images (no device sync)."""
        logits = real_logits.detach().flatten().to(torch.float64)
        batch = torch.stack([logits.sign().sum(), logits.new_tensor(logits.numel())])
        self._stats = batch if self._stats is None else self._stats + batch.to(self._stats.device)

    def update(self, batch_size: int) -> float:
        """Adjust `p` from the signs gathered since the last update; returns the new `p`.

        `batch_size` is the total batch over all ranks. With nothing gathered anywhere, `p` stays.
        """
        p = self.augment_pipe.p
        stats = torch.zeros([2], dtype=torch.float64, device=p.device) if self._stats is None else self._stats
        if dist.is_available() and dist.is_initialized():
            stats = stats.clone()
            dist.all_reduce(stats)
        self._stats = None
        signs, count = stats.tolist()
        if count > 0:
            self.rt = signs / count
            step = batch_size * self.interval / (self.ada_kimg * 1000)
            adjust = (self.rt > self.target) - (self.rt < self.target)  # sign(rt - target)
            p.copy_((p + adjust * step).clamp(min=0))
        return float(p)

    def state_dict(self) -> dict[str, Any]:
        """The controller's own state (`p` itself lives in the augment pipe's state)."""
        signs, count = (0.0, 0.0) if self._stats is None else self._stats.tolist()
        return {"rt": self.rt, "signs": signs, "count": count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        self.rt = None if state["rt"] is None else float(state["rt"])
        pending = torch.tensor([state["signs"], state["count"]], dtype=torch.float64)
        self._stats = pending.to(self.augment_pipe.p.device) if pending[1] > 0 else None
