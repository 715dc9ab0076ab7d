"""Compute metrics by name and report them: a table for people, metric-<name>.jsonl for tools.

A result is a dict like StyleGAN2-ADA's: {"results": {key: value}, "metric": name,
"total_time": seconds, "total_time_str": "1m 05s", "num_gpus": n}; `report` adds "snapshot_pkl"
(relative to the run folder) and "timestamp" and appends it as one JSON line to
`<run_dir>/metric-<name>.jsonl`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ganforge.errors import OptionError
from ganforge.metrics.features import MetricOptions
from ganforge.metrics.registry import get_metric

WEIGHTED_DETECTORS = ("inception", "vgg16", "lpips")


def format_time(seconds: float) -> str:
    """Seconds as '12s', '3m 05s' or '1h 02m'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s // 60 % 60:02d}m"


def check_metrics(names: Sequence[str], options: MetricOptions) -> None:
    """Fail fast, before any work: unknown names, missing data, an ambiguous --detector path."""
    metrics = [get_metric(name) for name in names]
    if options.data is None and any(m.needs_data for m in metrics):
        needing = ", ".join(m.name for m in metrics if m.needs_data)
        raise OptionError(f"--data: {needing} compare with the real images; pass the dataset zip or folder.")
    weighted = sorted({d for m in metrics for d in m.detectors if d in WEIGHTED_DETECTORS})
    if options.detector_path is not None and len(weighted) > 1:
        raise OptionError(
            f"--detector: these metrics use several detectors ({', '.join(weighted)}), so one file is "
            "ambiguous; put the weights files in $GANFORGE_DETECTOR_DIR instead."
        )


def compute_metric(name: str, options: MetricOptions) -> dict[str, Any]:
    """Compute metric `name` with `options`; returns the result dict described in the module doc."""
    metric = get_metric(name)
    start = time.time()
    results = {key: float(value) for key, value in metric.fn(options).items()}
    total_time = time.time() - start
    return {
        "results": results,
        "metric": name,
        "total_time": total_time,
        "total_time_str": format_time(total_time),
        "num_gpus": options.num_gpus,
    }


def compute_metrics(
    names: Sequence[str], G: nn.Module | None, data: str | os.PathLike[str] | None = None, **settings: Any
) -> list[dict[str, Any]]:
    """Compute several metrics of `G` against `data`, sharing loaded detectors and cached statistics.

    `settings` are further `MetricOptions` fields (xflip, detector_path, device, batch_size, seed,
    num_gen, cache, rank, num_gpus, progress, detector_loader).
    """
    options = MetricOptions(G=G, data=data, **settings)
    check_metrics(names, options)
    return [compute_metric(name, options) for name in names]


def report(
    result: dict[str, Any], run_dir: str | os.PathLike[str] | None = None, snapshot_pkl: str | None = None
) -> str:
    """The result as a JSON line with snapshot_pkl and timestamp, appended to run_dir/metric-<name>.jsonl."""
    if run_dir is not None and snapshot_pkl is not None:
        snapshot_pkl = os.path.relpath(snapshot_pkl, run_dir)
    line = json.dumps(dict(result, snapshot_pkl=snapshot_pkl, timestamp=time.time()))
    if run_dir is not None:
        with open(Path(run_dir) / f"metric-{result['metric']}.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return line


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: one row per result value, with the metric's time."""
    rows = [("metric", "value", "time")]
    for result in results:
        for key, value in result["results"].items():
            rows.append((key, f"{value:.6g}", result["total_time_str"]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
