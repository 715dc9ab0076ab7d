"""Run folders: ``{outdir}/{id:05d}-{desc}``, their log file, and finding the newest snapshot.

The layout follows StyleGAN2-ADA: each new run gets the next free numeric id, the description
(`ganforge.training.options.run_description`) names the dataset and the options that were set,
and ``log.txt`` receives everything the run prints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from ganforge.errors import OptionError, OutputError
from ganforge.fileio import make_dirs, output_error

_RUN_ID = re.compile(r"^(\d+)-")
_SNAPSHOT = re.compile(r"^network-snapshot-(\d+)(?:\.(\d{3}))?\.pt$")
RUN_LOGGER = "ganforge.training"
"""Logger whose messages go to the console and the run's log.txt while a run is open."""


def kimg_label(cur_nimg: int, exact: bool = False) -> str:
    """How snapshot and grid names give the point of training: whole kimg, ``000004`` (the official
    form), or with `exact` the kimg to the image, ``000004.032``.

    A run whose ticks are whole kimg uses the official form, a run with fractional ticks the exact
    one for all its names, so that names are unique and sort in training order.
    """
    kimg = f"{cur_nimg // 1000:06d}"
    return f"{kimg}.{cur_nimg % 1000:03d}" if exact else kimg


def snapshot_name(cur_nimg: int, exact: bool = False) -> str:
    """``network-snapshot-{kimg_label}.pt`` for a snapshot taken after `cur_nimg` real images."""
    return f"network-snapshot-{kimg_label(cur_nimg, exact)}.pt"


def new_run_dir(outdir: str | os.PathLike[str], desc: str) -> Path:
    """Create and return ``{outdir}/{next id:05d}-{desc}``; ids continue after the largest one there.

    A folder that cannot be created raises `OutputError` naming `outdir` and the cause.
    """
    outdir = Path(outdir)
    try:
        make_dirs(outdir)
        ids = [int(m.group(1)) for p in outdir.iterdir() if p.is_dir() and (m := _RUN_ID.match(p.name))]
        run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{desc}"
        run_dir.mkdir()
    except OutputError as exc:
        raise OutputError(exc.message, param="outdir") from exc
    except OSError as exc:
        raise OutputError(
            output_error(exc.filename or outdir, exc, folder=True).message, param="outdir"
        ) from exc
    return run_dir


def run_snapshots(run_dir: Path) -> list[Path]:
    """The snapshots of a run, oldest first (by the kimg in their names; an official-form name counts
    as its whole kimg and comes before exact names of the same kimg, which can only be later)."""
    return sorted((p for p in run_dir.iterdir() if _SNAPSHOT.match(p.name)), key=_training_order)


def _training_order(snapshot: Path) -> tuple[int, bool]:
    match = _SNAPSHOT.match(snapshot.name)
    assert match is not None
    return int(match[1]) * 1000 + int(match[2] or 0), match[2] is not None


def latest_run(outdir: str | os.PathLike[str]) -> Path:
    """The newest run in `outdir` that has a snapshot (what `resume='latest'` continues)."""
    outdir = Path(outdir)
    runs = sorted(
        ((int(m.group(1)), p) for p in (outdir.iterdir() if outdir.is_dir() else []) if p.is_dir()
         and (m := _RUN_ID.match(p.name))),
        reverse=True,
    )
    for _run_id, run_dir in runs:
        if run_snapshots(run_dir):
            return run_dir
    raise OptionError(
        f"'latest' finds no run folder in '{outdir}' that holds a network-snapshot-*.pt; "
        "check `outdir` or start a new run without `resume`", param="resume"
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
        try:
            log_file = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
        except OSError as exc:
            raise output_error(run_dir / "log.txt", exc) from exc
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
