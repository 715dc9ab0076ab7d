"""Starting a run: a new run folder for a dataset and config, or continuing the newest run."""

from __future__ import annotations

import os
import shutil
from typing import Any

from ganforge.data.dataset import ImageDataset
from ganforge.errors import OptionError
from ganforge.training.config import resolve_config
from ganforge.training.distributed import init_distributed
from ganforge.training.loop import LoopOptions, TrainingResult, training_loop
from ganforge.training.options import run_description
from ganforge.training.resume import OPTIONS_FILE, resume_latest
from ganforge.training.rundir import new_run_dir


def launch(
    data: str | None,
    outdir: str | os.PathLike[str],
    cfg: str | None = None,
    overrides: dict[str, Any] | None = None,
    resume: str | None = None,
    options: LoopOptions | None = None,
) -> TrainingResult:
    """Start a run in a new folder of `outdir`, or continue the newest one with ``resume='latest'``.

    `cfg` (None: not given, 'auto' for a new run) and `overrides` (TrainingConfig fields) are what
    the user set. Any other `resume` value names a network file to start from (transfer learning,
    in a new run folder). A run that fails to start leaves no run folder behind. `options`: how to run
    (None: the `LoopOptions` defaults).
    """
    options = options or LoopOptions()
    overrides = dict(overrides or {})
    env = init_distributed(options.device)
    if resume == "latest":
        run = resume_latest(outdir, data, cfg, overrides, env.world_size)
        return training_loop(run.config, run.data, run.run_dir, resume_from=run.snapshot, options=options)
    if data is None:
        raise OptionError("required (a dataset zip or folder) unless `resume` is 'latest'", param="data")
    cfg = cfg or "auto"
    dataset = ImageDataset(data)
    if resume is not None:
        overrides["resume"] = resume
    config = resolve_config(cfg, min(dataset.width, dataset.height), env.world_size, overrides)
    desc = run_description(dataset.name, config, given=overrides)
    run_dir = new_run_dir(outdir, desc) if env.is_main else None
    try:
        return training_loop(config, data, run_dir, options=options)
    except BaseException:
        if run_dir is not None and not (run_dir / OPTIONS_FILE).exists():  # written once training starts
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
