"""Training statistics: per-tick moments of named values, written to stats.jsonl and TensorBoard.

Each line of ``stats.jsonl`` is one tick, in the StyleGAN2-ADA layout::

    {"Loss/G/loss": {"num": 64, "mean": 0.69, "std": 0.02}, ..., "timestamp": 1700000000.0}

so tools written for official runs read ganforge runs too.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from ganforge.fileio import atomic_open, output_error
from ganforge.training.distributed import DistEnv, all_reduce_sum_


@dataclass(frozen=True)
class Stat:
    """Count, mean and standard deviation of the values reported under one name in a tick."""

    num: int
    mean: float
    std: float

    def as_json(self) -> dict[str, float]:
        return {"num": self.num, "mean": self.mean, "std": self.std}


class TickStats:
    """Accumulates count, sum and sum of squares per name (in float64, on the device, no syncs).

    `collect` sums the moments over ranks; every rank must have reported the same names by then
    (the loop reports the same losses on every rank). Values known on rank 0 alone (timing,
    progress) are added to `collect`'s result with `Stat` directly.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._moments: dict[str, torch.Tensor] = {}

    def report(self, name: str, values: torch.Tensor | float) -> None:
        """Add the finite elements of `values` to the moments of `name`."""
        v = torch.as_tensor(values).detach().flatten().to(self.device, torch.float64)
        v = v[torch.isfinite(v)]
        moments = torch.stack([v.new_tensor(v.numel()), v.sum(), v.square().sum()])
        if name in self._moments:
            self._moments[name] += moments
        else:
            self._moments[name] = moments

    def collect(self, env: DistEnv) -> dict[str, Stat]:
        """The statistics of the tick (summed over ranks); the moments start again from zero."""
        names = sorted(self._moments)
        self._moments, moments = {}, self._moments
        if not names:
            return {}
        stacked = all_reduce_sum_(torch.stack([moments[name] for name in names]), env).tolist()
        result = {}
        for name, (num, total, squares) in zip(names, stacked, strict=True):
            mean = total / num if num else math.nan
            std = math.sqrt(max(squares / num - mean * mean, 0.0)) if num else math.nan
            result[name] = Stat(int(num), mean, std)
        return result


def drop_stats_after(run_dir: str | os.PathLike[str], nimg: int) -> int:
    """Remove the ticks of ``stats.jsonl`` after `nimg` images (atomically), so that a run resumed
    from an earlier snapshot never goes back in kimg; returns how many lines went."""
    path = Path(run_dir) / "stats.jsonl"
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if round(_tick_kimg(line) * 1000) <= nimg]
    if len(kept) < len(lines):
        with atomic_open(path, "w") as f:
            f.writelines(kept)
    return len(lines) - len(kept)


def _tick_kimg(line: str) -> float:
    """The kimg of a stats.jsonl line (0 for a line that does not say)."""
    try:
        return float(json.loads(line)["Progress/kimg"]["mean"])
    except (ValueError, KeyError, TypeError):
        return 0.0


class StatsWriter:
    """Appends tick statistics to ``stats.jsonl`` and TensorBoard event files in the run folder.

    TensorBoard's x axis is the number of real images shown (`global_step` = images, not kimg, so
    that short runs with fractional-kimg ticks get distinct points).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self._path = Path(run_dir) / "stats.jsonl"
        try:
            self._jsonl = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise output_error(self._path, exc) from exc
        self._tensorboard = SummaryWriter(str(run_dir))

    def write(self, stats: dict[str, Stat], nimg: int, timestamp: float, walltime: float) -> None:
        """Write one tick: a JSON line and one TensorBoard scalar (the mean) per name."""
        record = {name: stat.as_json() for name, stat in stats.items()}
        record["timestamp"] = timestamp
        try:
            self._jsonl.write(json.dumps(record) + "\n")
            self._jsonl.flush()
        except OSError as exc:  # a full disk: one line naming the file, not a traceback
            raise output_error(self._path, exc) from exc
        for name, stat in stats.items():
            self._tensorboard.add_scalar(name, stat.mean, global_step=nimg, walltime=walltime)
        self._tensorboard.flush()

    def close(self) -> None:
        self._jsonl.close()
        self._tensorboard.close()
