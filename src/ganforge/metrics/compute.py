"""Compute metrics by name and report them: a table for people, metric-<name>.jsonl for tools.

`evaluate_network` is what `ganforge metrics` runs: it reads a network file, takes the dataset
and mirroring recorded in it (a snapshot's `training_set_kwargs`) unless told otherwise, computes
the metrics of its G_ema and appends them to the run folder the file is in.

A result is a dict like StyleGAN2-ADA's: {"results": {key: value}, "metric": name,
"total_time": seconds, "total_time_str": "1m 05s", "num_gpus": n}; `report` adds "snapshot_pkl"
(relative to the run folder) and "timestamp" and appends it as one JSON line to
`<run_dir>/metric-<name>.jsonl`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ganforge.compat import generator_of, load_network
from ganforge.errors import OptionError, OutputError
from ganforge.fileio import make_dirs, output_error
from ganforge.inference.runner import pick_device
from ganforge.metrics.features import MetricOptions
from ganforge.metrics.fit import check_data_fits, check_generator_fits
from ganforge.metrics.registry import get_metric
from ganforge.progress import format_time

WEIGHTED_DETECTORS = ("inception", "vgg16", "lpips")
RUN_DIR_MARKER = "training_options.json"
"""A folder holding this file (written by the training loop) is a run folder."""


def check_metrics(names: Sequence[str], options: MetricOptions, load_detectors: bool = False) -> None:
    """Fail fast, before any work: unknown names, too few generated samples, data or a generator
    that do not suit a metric (see `fit`), missing data, an ambiguous `detector_path`; with
    `load_detectors`, also missing detector weights. Without a generator (G None) only the data are
    checked.
    """
    metrics = [get_metric(name) for name in names]
    for metric in metrics:
        if options.num_gen is not None and options.num_gen < metric.min_num_gen:
            raise OptionError(
                f"{metric.name} needs at least {metric.min_num_gen} generated samples, "
                f"got {options.num_gen}.", param="num_gen",
            )
    if options.data is not None and any(m.needs_data and m.image_shape for m in metrics):
        dataset = options.dataset()
        image_shape = dataset.image_shape
        dataset.close()
        for metric in metrics:
            if metric.needs_data:
                check_data_fits(metric, options.data, image_shape)
    if options.G is not None:
        for metric in metrics:
            check_generator_fits(metric, options.G)
    if options.data is None and any(m.needs_data for m in metrics):
        needing = [m.name for m in metrics if m.needs_data]
        verb = "compares" if len(needing) == 1 else "compare"
        raise OptionError(
            f"{', '.join(needing)} {verb} with the real images; pass the dataset zip or folder.", param="data"
        )
    weighted = sorted({d for m in metrics for d in m.detectors if d in WEIGHTED_DETECTORS})
    if options.detector_path is not None and len(weighted) > 1:
        raise OptionError(
            f"these metrics use several detectors ({', '.join(weighted)}), so one file is ambiguous; put the "
            "weights files in $GANFORGE_DETECTOR_DIR instead.", param="detector_path"
        )
    if load_detectors:
        for detector in dict.fromkeys(d for m in metrics for d in m.detectors):
            options.detector(detector)


def compute_metric(name: str, options: MetricOptions) -> dict[str, Any]:
    """Compute metric `name` with `options`; returns the result dict described in the module doc."""
    metric = get_metric(name)
    if options.xflip and not metric.mirrored_reals:
        options = dataclasses.replace(options, xflip=False)  # the official `_full` metrics never mirror
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
    return run_metrics(names, MetricOptions(G=G, data=data, **settings))


def run_metrics(names: Sequence[str], options: MetricOptions) -> list[dict[str, Any]]:
    """Check, then compute the metrics `names` with `options`."""
    check_metrics(names, options)
    return [compute_metric(name, options) for name in names]


def metric_file(run_dir: str | os.PathLike[str], name: str) -> Path:
    """The file results of metric `name` are appended to: run_dir/metric-<name>.jsonl."""
    return Path(run_dir) / f"metric-{name}.jsonl"


def append_line(path: Path, line: str) -> None:
    """Append `line` and a newline to `path`; on failure leave the file as it was and raise OutputError."""
    data = memoryview((line + "\n").encode("utf-8"))
    try:
        with open(path, "ab", buffering=0) as f:
            start = f.seek(0, os.SEEK_END)
            try:
                while data:
                    data = data[f.write(data) :]
            except OSError:
                f.truncate(start)  # no half line for readers of the file
                raise
    except OSError as exc:
        raise output_error(path, exc) from exc


def check_writable(run_dir: Path, names: Sequence[str]) -> None:
    """Create `run_dir` and make sure the metric files of `names` can be appended to, before any work."""
    make_dirs(run_dir)
    for name in names:
        path = metric_file(run_dir, name)
        try:
            if path.exists():
                open(path, "ab").close()
            else:
                tempfile.TemporaryFile(dir=run_dir).close()
        except OSError as exc:
            raise output_error(path, exc) from exc


def report(
    result: dict[str, Any], run_dir: str | os.PathLike[str] | None = None, snapshot_pkl: str | None = None
) -> str:
    """The result as a JSON line with snapshot_pkl and timestamp, appended to run_dir/metric-<name>.jsonl.

    Raises OutputError (naming the file) when it cannot be written.
    """
    if run_dir is not None and snapshot_pkl is not None:
        snapshot_pkl = os.path.relpath(snapshot_pkl, run_dir)
    line = json.dumps(dict(result, snapshot_pkl=snapshot_pkl, timestamp=time.time()))
    if run_dir is not None:
        append_line(metric_file(run_dir, result["metric"]), line)
    return line


def format_results(result: dict[str, Any]) -> str:
    """One result's values on one line, e.g. 'fid_digits 12.3456'."""
    return "  ".join(f"{key} {value:.6g}" for key, value in result["results"].items())


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


def default_run_dir(network: str | os.PathLike[str]) -> Path | None:
    """The folder of `network` when it is a training run folder, else None."""
    folder = Path(network).resolve().parent
    return folder if (folder / RUN_DIR_MARKER).is_file() else None


def evaluate_network(
    network: str | os.PathLike[str],
    metrics: Sequence[str],
    *,
    data: str | os.PathLike[str] | None = None,
    mirror: bool | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    **settings: Any,
) -> tuple[list[dict[str, Any]], Path | None]:
    """Compute `metrics` of the network file's generator (G_ema, else G) and report them.

    `data` and `mirror` default to the dataset path and xflip recorded in the file; `run_dir`
    to the file's folder when it is a run folder. Returns the results and the run folder they
    were appended to (None: not written). `settings` are further `MetricOptions` fields.
    """
    for name in metrics:
        get_metric(name)
    nets = load_network(network)
    G = generator_of(nets, network)
    recorded = nets.get("training_set_kwargs") or {}
    data = data if data is not None else recorded.get("path")
    mirror = bool(recorded.get("xflip", False)) if mirror is None else mirror
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(network)
    if run_dir is not None:
        check_writable(run_dir, metrics)
    where = pick_device(device)
    results = compute_metrics(metrics, G.to(where), data, xflip=mirror, device=where, **settings)
    for i, result in enumerate(results):
        try:
            report(result, run_dir=run_dir, snapshot_pkl=os.fspath(network))
        except OutputError as exc:
            unsaved = "; ".join(format_results(r) for r in results[i:])
            raise OutputError(f"{exc} (results not saved: {unsaved})") from exc
    return results, run_dir
