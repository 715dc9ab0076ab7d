"""The metrics computed at every snapshot (`ganforge train --metrics`), sharded over the ranks."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from torch import nn

from ganforge.metrics.compute import check_metrics, format_results, report, run_metrics
from ganforge.metrics.features import MetricOptions
from ganforge.training.distributed import DistEnv

logger = logging.getLogger(__name__)


class SnapshotMetrics:
    """Metrics of G_ema; the names are checked and the detectors loaded before training starts."""

    def __init__(
        self, names: tuple[str, ...], G_ema: nn.Module, data: str, xflip: bool, env: DistEnv,
        num_gen: int | None,
    ) -> None:
        self.names = names
        self.options = MetricOptions(
            G=G_ema, data=data, xflip=xflip, device=env.device, rank=env.rank, num_gpus=env.world_size,
            num_gen=num_gen, progress=False,
        )
        check_metrics(names, self.options, load_detectors=True)

    def evaluate(self, run_dir: Path | None, snapshot: Path | None) -> dict[str, float]:
        """Compute the metrics on all ranks; rank 0 (`run_dir` given) reports them next to `snapshot`.

        Returns the values as `Metrics/<key>` statistics for stats.jsonl and TensorBoard.
        """
        values = {}
        for result in run_metrics(self.names, self.options.for_new_weights()):
            if run_dir is not None:
                report(result, run_dir=run_dir, snapshot_pkl=os.fspath(snapshot))
            logger.info("%s in %s", format_results(result), result["total_time_str"])
            values.update({f"Metrics/{key}": value for key, value in result["results"].items()})
        return values
