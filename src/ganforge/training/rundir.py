"""Run folders: ``{outdir}/{id:05d}-{desc}``, their log file, and finding the newest snapshot.

The layout follows StyleGAN2-ADA: each new run gets the next free numeric id, the description
names the dataset and the options that were set explicitly, and ``log.txt`` receives everything
the run prints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from ganforge.errors import OptionError

_RUN_ID = re.compile(r"^(\d+)-")
_SNAPSHOT = re.compile(r"^network-snapshot-(\d+)\.pt$")
RUN_LOGGER = "ganforge.training"
"""Logger whose messages go to the console and the run's log.txt while a run is open."""


def snapshot_name(cur_nimg: int) -> str:
    """``network-snapshot-{kimg:06d}.pt`` for a snapshot taken after `cur_nimg` real images."""
    return f"network-snapshot-{cur_nimg // 1000:06d}.pt"


def new_run_dir(outdir: str | os.PathLike[str], desc: str) -> Path:
    """Create and return ``{outdir}/{next id:05d}-{desc}``; ids continue after the largest one there."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ids = [int(m.group(1)) for p in outdir.iterdir() if p.is_dir() and (m := _RUN_ID.match(p.name))]
    run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{desc}"
    run_dir.mkdir()
    return run_dir


def latest_snapshot(outdir: str | os.PathLike[str]) -> Path:
    """The newest snapshot of the newest run in `outdir` that has one (`--resume latest`).

    Runs are ordered by id, snapshots by their kimg number (short runs with fractional-kimg ticks
    rewrite the same snapshot file, which then holds the latest state).
    """
    outdir = Path(outdir)
    runs = sorted(
        ((int(m.group(1)), p) for p in (outdir.iterdir() if outdir.is_dir() else []) if p.is_dir()
         and (m := _RUN_ID.match(p.name))),
        reverse=True,
    )
    for _run_id, run_dir in runs:
        snapshots = [p for p in run_dir.iterdir() if _SNAPSHOT.match(p.name)]
        if snapshots:
            return max(snapshots, key=lambda p: int(_SNAPSHOT.match(p.name).group(1)))
    raise OptionError(
        f"--resume latest: no run folder in '{outdir}' holds a network-snapshot-*.pt; "
        "check --outdir or start a new run without --resume"
    )


@contextlib.contextmanager
def run_log(run_dir: Path | None) -> Iterator[logging.Logger]:
    """Send the run logger's messages to stdout and append them to ``run_dir/log.txt``.

    With `run_dir` None (ranks other than 0) the logger stays silent.
    """
    logger = logging.getLogger(RUN_LOGGER)
    saved = (logger.level, logger.propagate)
    handlers: list[logging.Handler] = []
    if run_dir is not None:
        log_file = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
        handlers = [logging.StreamHandler(sys.stdout), log_file]
        for handler in handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        yield logger
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def run_description(
    dataset: str,
    cfg: str,
    num_gpus: int = 1,
    *,
    model: str = "stylegan2",
    cond: bool = False,
    mirror: bool = False,
    gamma: float | None = None,
    kimg: float | None = None,
    batch: int | None = None,
    aug: str | None = None,
    p: float | None = None,
    target: float | None = None,
    augpipe: str | None = None,
    transfer: bool = False,
    freezed: int | None = None,
) -> str:
    """The run folder description in the official order; options left as None were not given.

    A model family other than StyleGAN2 comes right after the dataset name.
    """
    parts = [dataset]
    parts += [model] if model != "stylegan2" else []
    parts += ["cond"] if cond else []
    parts += ["mirror"] if mirror else []
    parts += [f"{cfg}{num_gpus:d}" if cfg == "auto" else cfg]
    parts += [f"gamma{gamma:g}"] if gamma is not None else []
    parts += [f"kimg{kimg:g}"] if kimg is not None else []
    parts += [f"batch{batch}"] if batch is not None else []
    parts += [aug] if aug is not None else []
    parts += [f"p{p:g}"] if p is not None else []
    parts += [f"target{target:g}"] if target is not None else []
    parts += [augpipe] if augpipe is not None else []
    parts += ["resumecustom"] if transfer else []
    parts += [f"freezed{freezed:d}"] if freezed is not None else []
    return "-".join(parts)
