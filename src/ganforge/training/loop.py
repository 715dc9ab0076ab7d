"""The training loop of every model family: phases, G_ema, ADA, ticks and snapshots.

One step consumes `batch` real images (over all ranks) and runs the phases of the model family
(`ganforge.training.families`) - for StyleGAN2 Gmain, Greg (every `G_reg_interval` steps), Dmain,
Dreg (every `D_reg_interval` steps); for DCGAN Dmain then Gmain `g_steps` times; for StyleGAN Dmain
then Gmain at the level of detail of its progressive schedule, which also sets the batch - each as
rounds of `batch_gpu` images whose gradients are accumulated, reduced over ranks and applied by one
Adam step. A tick (`kimg_per_tick` thousand images; the first tick is one step) ends with the status
line, the statistics and, every `snap` ticks, an image grid and a network snapshot. How rounds are formed
and seeded, so that resuming continues bit for bit, is told in `ganforge.training.rounds`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganforge.augment import AdaController, AugmentPipe, build_augment_pipe
from ganforge.data.dataset import ImageDataset
from ganforge.data.loader import make_loader
from ganforge.data.shape import size_value, split_size
from ganforge.errors import GanforgeError, OptionError
from ganforge.progress import progress
from ganforge.training.config import round_size
from ganforge.training.distributed import (
    DistEnv,
    any_rank,
    broadcast_module_,
    init_distributed,
    reduce_gradients_,
)
from ganforge.training.families import check_resolution, make_family
from ganforge.training.grid import PreviewGrid
from ganforge.training.options import TrainingConfig
from ganforge.training.resume import dataset_fingerprint, write_training_options
from ganforge.training.rounds import derive_seed, split_rounds, step_latents, update_ema
from ganforge.training.rundir import kimg_label, run_log, snapshot_name
from ganforge.training.signals import stop_requests
from ganforge.training.snapshot import TrainingState, load_snapshot, save_snapshot, transfer_weights
from ganforge.training.snapshot_metrics import SnapshotMetrics
from ganforge.training.stats import Stat, StatsWriter, TickStats, drop_stats_after
from ganforge.training.status import status_line, tick_values

logger = logging.getLogger(__name__)

MAX_NONFINITE_STEPS = 10
"""Consecutive optimiser steps of one network with non-finite gradients after which training stops."""


@dataclass(frozen=True)
class LoopOptions:
    """How to run training; none of these change what is learned."""

    device: str = "auto"  # 'auto', 'cpu', 'cuda', 'cuda:N'
    compile: bool = False  # torch.compile G and D for the main phases (regularisers run eagerly)
    progress: bool | None = None  # per-tick progress bar; None = when stderr is a terminal
    grid: tuple[int, int] | None = None  # (cols, rows) of the image grids; None = official size
    metrics: tuple[str, ...] = ()  # metrics computed at every snapshot (ganforge.metrics.registry names)
    metrics_num_gen: int | None = None  # their generated sample count; None = each metric's own


@dataclass(frozen=True)
class TrainingResult:
    """How a call of `training_loop` ended."""

    run_dir: Path | None  # None on ranks other than 0
    cur_nimg: int
    snapshot: Path | None  # the last snapshot written (rank 0)
    interrupted: bool  # stopped by SIGINT/SIGTERM before `kimg`


@dataclass
class _Phase:
    name: str  # a phase of the family's loss
    network: str  # 'G' or 'D'
    module: nn.Module
    opt: torch.optim.Optimizer
    interval: int


def training_loop(
    config: TrainingConfig,
    data: str | os.PathLike[str],
    run_dir: Path | None,
    *,
    resume_from: Path | None = None,
    options: LoopOptions = LoopOptions(),
) -> TrainingResult:
    """Train until `config.kimg` thousand images, writing logs, grids and snapshots into `run_dir`.

    `run_dir` must exist on rank 0 (other ranks write nothing and may pass None). `resume_from` is a
    snapshot of this run to continue from; `config.resume` names a network file (official pickle or
    ganforge checkpoint) whose matching parameters start a new run (transfer learning).
    Under torchrun, call it on every rank; `config.num_gpus` must equal the number of ranks.
    """
    env = init_distributed(options.device)
    if config.num_gpus != env.world_size:
        raise OptionError(
            f"the config is for {config.num_gpus} GPU(s) but {env.world_size} process(es) run; "
            "resolve it with num_gpus equal to torchrun's WORLD_SIZE"
        )
    if env.is_main and run_dir is None:
        raise ValueError("rank 0 needs a run_dir")
    with run_log(run_dir if env.is_main else None), stop_requests() as stop:
        own_dir = run_dir if env.is_main else None
        trainer = _Trainer(config, os.fspath(data), own_dir, env, options, resume_from)
        return trainer.run(stop)


class _Trainer:
    """The state of one training run and the steps that advance it (see the module docstring)."""

    def __init__(
        self,
        config: TrainingConfig,
        data: str,
        run_dir: Path | None,
        env: DistEnv,
        options: LoopOptions,
        resume_from: Path | None,
    ) -> None:
        self.config = config
        self.data = data
        self.run_dir = run_dir
        self.env = env
        self.options = options
        self.device = env.device
        self.start_time = time.time()
        torch.manual_seed(config.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        logger.info("Loading training set...")
        self.dataset = ImageDataset(data, use_labels=config.cond, xflip=config.mirror)
        if config.cond and not self.dataset.has_labels:
            raise OptionError(f"needs labels, but dataset '{data}' has none in dataset.json", param="cond")
        resolution, aspect = split_size(self.dataset.size)
        check_resolution(config.model, resolution, config.cond, data, aspect)
        logger.info("Num images:  %d", len(self.dataset))
        logger.info("Image shape: %s", self.dataset.image_shape)
        logger.info("Label shape: %s", self.dataset.label_shape)

        logger.info("Constructing networks...")
        self.family = make_family(config, resolution, aspect)
        G, D = self.family.build_networks(self.dataset.num_channels, self.dataset.label_dim)
        self.G = G.train().requires_grad_(False).to(self.device)
        self.D = D.train().requires_grad_(False).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval()
        if config.resume is not None and resume_from is None:
            transfer_weights(config.resume, {"G": self.G, "D": self.D, "G_ema": self.G_ema})
        self.augment_pipe, self.ada = self._setup_augment()
        for module in (self.G, self.D, self.G_ema, self.augment_pipe):
            if module is not None:
                broadcast_module_(module, env)

        self.loss = self.family.make_loss(self.G, self.D, self.augment_pipe)
        self.main_loss = self.loss  # compiled graphs cannot double-backward: regularisers stay eager
        if options.compile:
            self.main_loss = self.family.make_compiled_loss(self.G, self.D, self.augment_pipe)
        self.phases = self._setup_phases()
        self.opts = {phase.network: phase.opt for phase in self.phases}
        self.labels = torch.from_numpy(
            np.stack([self.dataset.get_label(i) for i in range(len(self.dataset))]).astype(np.float32)
        ).to(self.device)
        self.stats = TickStats(self.device)
        self.cur_nimg = 0
        self.cur_tick = 0
        self.batch_idx = 0
        self.nonfinite_steps = {"G": 0, "D": 0}  # consecutive skipped steps per network
        self.last_snapshot: Path | None = None
        self.last_good_snapshot: Path | None = None
        self.exact_names = not float(config.kimg_per_tick).is_integer()  # see rundir.kimg_label
        self._loader: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._loader_batch = 0
        self.resumed = resume_from is not None
        if resume_from is not None:
            self._resume(resume_from)
        self.metrics = None
        if options.metrics:
            self.metrics = SnapshotMetrics(options.metrics, self.G_ema, data, config.mirror, env,
                                           options.metrics_num_gen)

    # ---- setup ---------------------------------------------------------------------------------

    def _setup_augment(self) -> tuple[AugmentPipe | None, AdaController | None]:
        config = self.config
        if config.aug == "noaug" or (config.aug == "fixed" and config.p == 0):
            return None, None
        logger.info("Setting up augmentation...")
        pipe = build_augment_pipe(config.augpipe).train().requires_grad_(False).to(self.device)
        pipe.p.copy_(torch.as_tensor(config.p))
        if config.aug != "ada":
            return pipe, None
        return pipe, AdaController(pipe, config.target, config.ada_kimg, config.ada_interval)

    def _setup_phases(self) -> list[_Phase]:
        """The family's phases, with one Adam optimiser per network shared by its phases."""
        modules = {"G": self.G, "D": self.D}
        opts = {name: torch.optim.Adam(module.parameters(), **self.family.adam_kwargs(name))
                for name, module in modules.items()}
        return [_Phase(spec.name, spec.network, modules[spec.network], opts[spec.network], spec.interval)
                for spec in self.family.phases()]

    def _state(self) -> TrainingState:
        return TrainingState(
            cur_nimg=self.cur_nimg,
            cur_tick=self.cur_tick,
            batch_idx=self.batch_idx,
            G_opt=self.opts["G"].state_dict(),
            D_opt=self.opts["D"].state_dict(),
            loss=self.loss.state_dict(),
            ada=self.ada.state_dict() if self.ada is not None else None,
            schedule=self.family.state_dict(),
        )

    def _networks(self) -> dict[str, nn.Module | None]:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema, "augment_pipe": self.augment_pipe}

    def _resume(self, path: Path) -> None:
        logger.info('Resuming from snapshot "%s"', path)
        state = load_snapshot(path, self._networks())
        self.opts["G"].load_state_dict(state.G_opt)
        self.opts["D"].load_state_dict(state.D_opt)
        self.loss.load_state_dict(state.loss)
        self.family.load_state_dict(state.schedule)
        if self.ada is not None and state.ada is not None:
            self.ada.load_state_dict(state.ada)
        self.cur_nimg, self.batch_idx = state.cur_nimg, state.batch_idx
        self.cur_tick = state.cur_tick + 1  # the snapshot ended its tick
        self.last_snapshot = self.last_good_snapshot = path
        if self.run_dir is not None:
            dropped = drop_stats_after(self.run_dir, self.cur_nimg)
            if dropped:
                logger.info("stats.jsonl: dropped %d line(s) past the snapshot (trained again)", dropped)

    # ---- the run -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> TrainingResult:
        config, env = self.config, self.env
        total_nimg = round(config.kimg * 1000)
        if self.cur_nimg >= total_nimg:
            raise OptionError(
                f"the snapshot is already at {self.cur_nimg / 1000:g} kimg, not below {config.kimg:g}; "
                "give a larger value to train on", param="kimg"
            )
        grid = self._setup_grid(write_init=not self.resumed)
        if self.run_dir is not None:
            fingerprint = dataset_fingerprint(self.data, self.dataset, config.mirror)
            write_training_options(self.run_dir, config, self.data, fingerprint)
        writer = StatsWriter(self.run_dir) if self.run_dir is not None else None
        logger.info("Training for %g kimg...\n", config.kimg)
        maintenance_time = time.time() - self.start_time
        interrupted = False
        try:
            while True:
                tick_start_nimg, tick_start_time = self.cur_nimg, time.time()
                steps = self._steps_in_tick(total_nimg)
                for _ in progress(range(steps), total=steps, desc=f"tick {self.cur_tick}",
                                  enabled=self.options.progress if env.is_main else False):
                    self._step(self._next_batch())
                    if any_rank(stop.is_set(), env):
                        interrupted = True
                        break
                done = interrupted or self.cur_nimg >= total_nimg
                if interrupted:
                    logger.info("\nInterrupted: writing a snapshot and exiting...")
                tick_end_time = time.time()
                self._maintenance(grid, writer, done, tick_start_nimg, tick_start_time, maintenance_time)
                self.cur_tick += 1
                maintenance_time = time.time() - tick_end_time
                if done:
                    break
        finally:
            if writer is not None:
                writer.close()
        logger.info("\nExiting...")
        return TrainingResult(self.run_dir, self.cur_nimg, self.last_snapshot, interrupted)

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the next step's reals, from a loader for the step's batch size.

        The loader is made again when the family's schedule changes the batch; it continues the
        sampler order at `cur_nimg`.
        """
        batch = self.family.batch_at(self.cur_nimg)
        if self._loader is None or self._loader_batch != batch:
            env = self.env
            self._loader = make_loader(
                self.dataset, batch // env.world_size, rank=env.rank, num_replicas=env.world_size,
                seed=self.config.seed, num_workers=self.config.workers, device=self.device,
                start_index=self.cur_nimg,
            )
            self._loader_batch = batch
        return next(self._loader)

    def _steps_in_tick(self, total_nimg: int) -> int:
        """Steps until the tick is over: one for tick 0, else kimg_per_tick, never past the end.

        The count uses the batch at the start of the tick.
        """
        batch = self.family.batch_at(self.cur_nimg)
        remaining = max(math.ceil((total_nimg - self.cur_nimg) / batch), 1)
        if self.cur_tick == 0:
            return 1
        return min(max(math.ceil(self.config.kimg_per_tick * 1000 / batch), 1), remaining)

    # ---- one step ------------------------------------------------------------------------------

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Run every phase due at this step on one batch, update G_ema, ADA and the counters."""
        config, env = self.config, self.env
        images, labels = batch
        step_batch = images.shape[0] * env.world_size
        self.family.begin_step(self.cur_nimg, self.G, self.D, self.opts)
        num_rounds = step_batch // (round_size(config, step_batch) * env.world_size)
        real_img = split_rounds(self.family.process_reals(images.to(torch.float32) / 127.5 - 1), num_rounds)
        real_c = split_rounds(labels, num_rounds)
        gen_z, gen_c = step_latents(config.seed, self.batch_idx, len(self.phases), step_batch, self.G.z_dim,
                                    self.labels, env, num_rounds)

        for phase_idx, phase in enumerate(self.phases):
            if self.batch_idx % phase.interval != 0:
                continue
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            for j in range(num_rounds):
                global_round = env.rank + env.world_size * j  # see split_rounds
                torch.manual_seed(derive_seed(config.seed, self.batch_idx, 1, phase_idx, global_round))
                gain = phase.interval * real_img[j].shape[0] / step_batch
                loss = self.main_loss if phase.name.endswith("main") else self.loss
                values = loss.accumulate_gradients(
                    phase.name, real_img[j], real_c[j], gen_z[phase_idx][j], gen_c[phase_idx][j], gain
                )
                real_logits = values.pop("real_logits", None)
                if self.ada is not None and real_logits is not None:
                    self.ada.accumulate(real_logits)
                for name, value in values.items():
                    self.stats.report(name, value)
            phase.module.requires_grad_(False)
            self._apply(phase)

        ema_kimg = self.family.ema_kimg_at(self.cur_nimg)
        update_ema(self.G_ema, self.G, step_batch, self.cur_nimg, ema_kimg, config.ema_rampup)
        self.cur_nimg += step_batch
        self.batch_idx += 1
        if self.ada is not None and self.batch_idx % self.ada.interval == 0:
            self.ada.update(step_batch)

    def _apply(self, phase: _Phase) -> None:
        """Reduce the gradients over ranks and step, unless any is non-finite (then skip and count)."""
        grads = self.family.repair_gradients_(reduce_gradients_(phase.module.parameters(), self.env))
        finite = bool(torch.stack([g.isfinite().all() for g in grads]).all()) if grads else True
        network = phase.network
        if finite:
            phase.opt.step()
            self.nonfinite_steps[network] = 0
            return
        self.nonfinite_steps[network] += 1
        count = self.nonfinite_steps[network]
        self.stats.report("Progress/skipped_steps", 1.0)
        logger.warning(
            "step %d, %s: non-finite gradients, optimiser step skipped (%d in a row for %s)",
            self.batch_idx, phase.name, count, network,
        )
        if count >= MAX_NONFINITE_STEPS:
            last = f"'{self.last_good_snapshot}'" if self.last_good_snapshot else "none (no snapshot yet)"
            raise GanforgeError(
                f"training diverged: {count} {network} optimiser steps in a row had non-finite gradients "
                f"at {self.cur_nimg / 1000:.3f} kimg; last good snapshot: {last}. Lower the learning "
                "rates (`glr`/`dlr`) or raise `gamma`, and resume from that snapshot"
            )

    # ---- maintenance ---------------------------------------------------------------------------

    def _maintenance(
        self,
        grid: PreviewGrid | None,
        writer: StatsWriter | None,
        done: bool,
        tick_start_nimg: int,
        tick_start_time: float,
        maintenance_time: float,
    ) -> None:
        """Status line, image grid, snapshot and statistics at the end of a tick."""
        stats = self.stats.collect(self.env)
        augment_p = float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0
        gpu_mem = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else 0.0
        own = tick_values(
            self.cur_tick, self.cur_nimg, tick_start_nimg, self.start_time, tick_start_time, maintenance_time,
            augment_p, gpu_mem,
        )
        schedule = self.family.status()
        own.update(schedule)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        logger.info("%s", status_line(self.cur_tick, own, schedule))
        if done or self.cur_tick % self.config.snap == 0:
            self._snapshot(grid)
            if self.metrics is not None:  # on every rank
                own.update(self.metrics.evaluate(self.run_dir, self.last_snapshot))
        if writer is not None:
            stats.update({name: Stat(1, float(value), 0.0) for name, value in own.items()})
            writer.write(stats, self.cur_nimg, timestamp=time.time(), walltime=time.time() - self.start_time)

    def _snapshot(self, grid: PreviewGrid | None) -> None:
        """Write the image grid and the snapshot (rank 0 only).

        Their names give the kimg as a whole number, or exactly with fractional ticks or where the
        whole-kimg name is taken (by an interrupted tick's snapshot, or the one a run resumed from).
        """
        if self.run_dir is None:
            return
        exact = self.exact_names or (self.run_dir / snapshot_name(self.cur_nimg)).exists()
        if grid is not None:
            grid.save_fakes(self.G_ema, self.run_dir / f"fakes{kimg_label(self.cur_nimg, exact)}.png")
        path = self.run_dir / snapshot_name(self.cur_nimg, exact)
        extra = {"training_set_kwargs": {
            "path": self.data, "use_labels": self.config.cond, "xflip": self.config.mirror,
            "resolution": size_value(self.dataset.size), "max_size": len(self.dataset),
        }, "labels": {"kind": self.dataset.label_kind, "names": self.dataset.label_names}}
        save_snapshot(path, self._networks(), self._state(), extra)
        self.last_snapshot = path
        if not any(self.nonfinite_steps.values()):
            self.last_good_snapshot = path
        logger.info("Saved %s", path.name)

    def _setup_grid(self, write_init: bool) -> PreviewGrid | None:
        """The fixed grid of reals and latents; on a new run also write reals.png and fakes_init.png."""
        if self.run_dir is None:
            return None
        grid = PreviewGrid(self.dataset, self.G.z_dim, self.config.batch_gpu, self.device, self.options.grid,
                     self.config.seed)
        if write_init:
            logger.info("Exporting sample images...")
            grid.save_reals(self.run_dir / "reals.png")
            grid.save_fakes(self.G_ema, self.run_dir / "fakes_init.png")
        return grid
