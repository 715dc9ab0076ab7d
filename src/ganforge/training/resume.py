"""`resume='latest'` (`ganforge train --resume latest`): continue the newest run in its folder, with
its options, on its data.

A run records its resolved config, its data path and a fingerprint of the dataset in
``training_options.json``. Continuing it accepts the command line that started it (options whose
values equal the recorded ones) with changes to the length, logging and loader options only,
refuses other data, and starts from the newest snapshot that can be read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.compat.checkpoint import read_training_state
from ganforge.data.dataset import ImageDataset
from ganforge.data.shape import size_value
from ganforge.errors import NetworkFileError, OptionError
from ganforge.fileio import atomic_open
from ganforge.training.config import PROCESSES, check_config, check_overrides
from ganforge.training.options import RESUME_LATEST_OPTIONS, TrainingConfig
from ganforge.training.rundir import latest_run, run_snapshots

logger = logging.getLogger(__name__)

OPTIONS_FILE = "training_options.json"



def dataset_fingerprint(
    data: str | os.PathLike[str], dataset: ImageDataset, mirrored: bool
) -> dict[str, Any]:
    """What identifies a dataset: its absolute path, bytes on disk, image count, image shape and
    (when the run uses them) a hash of its labels. `dataset` is `data` opened for training, with
    x-flipped copies appended when `mirrored`."""
    path = Path(data).absolute()
    images = len(dataset) // 2 if mirrored else len(dataset)
    labels = np.stack([dataset.get_label(i) for i in range(images)]) if dataset.has_labels else None
    return {
        "path": os.fspath(path),
        "bytes": _bytes_on_disk(path),
        "images": images,
        "resolution": size_value(dataset.size),
        "channels": dataset.num_channels,
        "labels": None if labels is None else hashlib.sha256(labels.astype(np.float32).tobytes()).hexdigest(),
    }


def write_training_options(
    run_dir: Path, config: TrainingConfig, data: str, fingerprint: dict[str, Any] | None = None
) -> None:
    """Record the data, its fingerprint and the resolved config in ``training_options.json`` (atomically)."""
    options = {"data": os.fspath(data), "dataset": fingerprint, "config": dataclasses.asdict(config)}
    with atomic_open(run_dir / OPTIONS_FILE, "w") as f:
        json.dump(options, f, indent=2)


@dataclass(frozen=True)
class RecordedRun:
    """What `write_training_options` recorded of a run."""

    config: TrainingConfig
    data: str
    fingerprint: dict[str, Any] | None  # None for runs recorded before fingerprints


def read_training_options(run_dir: Path) -> RecordedRun:
    """The config, data path and dataset fingerprint recorded by `write_training_options`."""
    path = run_dir / OPTIONS_FILE
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
        return RecordedRun(TrainingConfig(**options["config"]), options["data"], options.get("dataset"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OptionError(f"'latest' needs {path}, which cannot be read ({exc})", param="resume") from exc


@dataclass(frozen=True)
class Continuation:
    """How to continue a run: its config with the allowed changes, its data and the snapshot to load."""

    config: TrainingConfig
    data: str
    run_dir: Path
    snapshot: Path


def resume_latest(
    outdir: str | os.PathLike[str],
    data: str | None,
    cfg: str | None,
    overrides: dict[str, Any],
    num_processes: int,
) -> Continuation:
    """Continue the newest run in `outdir` that has a snapshot (``resume='latest'``).

    `cfg`, `data` and `overrides` are what the user gave (None / left out when not given). Raises
    `OptionError` naming what differs from the run: an option other than `RESUME_LATEST_OPTIONS`
    given with another value, another number of processes, or other data.
    """
    run_dir = latest_run(outdir)
    recorded = read_training_options(run_dir)
    snapshot = intact_snapshot(run_dir)
    restart = f"use `resume` {snapshot} to start a new run from its weights (transfer learning)"
    _check_unchanged(recorded.config, cfg, overrides, run_dir, restart)
    if recorded.config.num_gpus != num_processes:
        raise OptionError(
            f"run {run_dir.name} was trained by {recorded.config.num_gpus} process(es), not {num_processes}; "
            f"continue it with {PROCESSES} {recorded.config.num_gpus}, or {restart}", param="resume"
        )
    changes = {name: value for name, value in overrides.items()
               if name in RESUME_LATEST_OPTIONS and getattr(recorded.config, name) != value}
    config = dataclasses.replace(recorded.config, **changes)
    data = _data_path(data, recorded, run_dir)
    dataset = ImageDataset(data, use_labels=config.cond, xflip=config.mirror)
    if changes:
        check_config(config, min(dataset.width, dataset.height))
    if recorded.fingerprint is not None:
        _check_same_data(data, dataset_fingerprint(data, dataset, config.mirror), recorded.fingerprint,
                         run_dir, restart)
    return Continuation(config, data, run_dir, snapshot)


def intact_snapshot(run_dir: Path) -> Path:
    """The newest snapshot of `run_dir` that can be read, saying which newer ones are damaged."""
    snapshots = run_snapshots(run_dir)
    damaged: list[str] = []
    for path in reversed(snapshots):
        try:
            read_training_state(path)
        except NetworkFileError as exc:
            logger.debug("%s", exc)
            damaged.append(path.name)
            continue
        if damaged:
            logger.warning(
                "Resuming the latest run: %s cannot be read (damaged); continuing from %s, the newest "
                "intact snapshot",
                ", ".join(damaged), path.name,
            )
        return path
    raise OptionError(
        f"none of the {len(snapshots)} snapshot(s) in '{run_dir}' can be read (all damaged); start a new run",
        param="resume",
    )


def _check_unchanged(
    recorded: TrainingConfig, cfg: str | None, overrides: dict[str, Any], run_dir: Path, restart: str
) -> None:
    """Refuse given options whose values differ from the run's, except those that may change."""
    check_overrides(overrides)
    given = dict(overrides, **({"cfg": cfg} if cfg is not None else {}))
    changed = [
        f"`{name}` (recorded {_show(getattr(recorded, name))}, given {_show(value)})"
        for name, value in given.items()
        if name not in RESUME_LATEST_OPTIONS and getattr(recorded, name) != value
    ]
    if changed:
        raise OptionError(
            f"'latest' continues run {run_dir.name} with the options it was started with, and these "
            f"differ: {'; '.join(changed)}; only {_may_change()} may change; to train with other options, "
            f"{restart}", param="resume"
        )


def _may_change() -> str:
    """'`kimg`, `snap`, `kimg_per_tick` and `workers`': the options 'latest' may change."""
    names = [f"`{name}`" for name in RESUME_LATEST_OPTIONS]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _data_path(data: str | None, recorded: RecordedRun, run_dir: Path) -> str:
    """`data` if given, else where the run's dataset was recorded (it must still be there)."""
    if data is not None:
        return data
    data = recorded.fingerprint["path"] if recorded.fingerprint else recorded.data
    if not Path(data).exists():
        raise OptionError(
            f"the dataset of run {run_dir.name}, '{data}', no longer exists; give its new location",
            param="data",
        )
    return data


def _check_same_data(
    data: str, now: dict[str, Any], recorded: dict[str, Any], run_dir: Path, restart: str
) -> None:
    """Refuse data other than the run's: any difference but the path (a dataset may move)."""
    keys = ("images", "resolution", "channels", "bytes")
    differences = [f"{key} {recorded[key]} vs {now[key]}" for key in keys if recorded[key] != now[key]]
    if recorded["labels"] != now["labels"]:
        differences.append("other labels")
    if differences:
        raise OptionError(
            f"{data} is not the dataset run {run_dir.name} was trained on ('{recorded['path']}'; "
            f"{', '.join(differences)}); `resume` latest continues a run on its own data; to train on "
            f"this data, {restart}", param="data"
        )


def _show(value: Any) -> str:
    return "on" if value is True else "off" if value is False else f"{value}"


def _bytes_on_disk(path: Path) -> int:
    """The size of a dataset zip, or the total size of the files in a dataset folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
