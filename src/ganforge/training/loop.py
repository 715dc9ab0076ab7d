"""The training loop of every model family: phases, G_ema, ADA, ticks and snapshots.

One step consumes `batch` real images (over all ranks) and runs the phases of the model family
(`ganforge.training.families`) - for StyleGAN2 Gmain, Greg (every `G_reg_interval` steps), Dmain,
Dreg (every `D_reg_interval` steps); for DCGAN Dmain then Gmain `g_steps` times; for StyleGAN Dmain
then Gmain at the level of detail of its progressive schedule, which also sets the batch - each as
rounds of `batch_gpu` images whose gradients are accumulated, reduced over ranks and applied by one
Adam step. A tick
(`kimg_per_tick` thousand images; the first tick is one step) ends with the status line, the
statistics and, every `snap` ticks, an image grid and a network snapshot.

Reproducibility: every random draw comes from seeds derived from (seed, step, ...) - the latents
and their labels from a generator shared by all ranks, everything else (noise inputs, style mixing,
augmentation) from torch's global generator, reseeded for each phase and round by the round's
global index - and the data order from the sampler position. A snapshot therefore needs no RNG
state, resuming continues bit for bit, and a round sees the same images, latents and random draws
whatever the number of ranks.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import resource
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.augment import AdaController, AugmentPipe, build_augment_pipe
from ganforge.compat import load_network
from ganforge.data.dataset import ImageDataset
from ganforge.data.grid import save_image_grid
from ganforge.data.loader import make_loader
from ganforge.errors import GanforgeError, OptionError
from ganforge.metrics.compute import check_metrics, format_results, report, run_metrics
from ganforge.metrics.features import MetricOptions
from ganforge.progress import progress
from ganforge.training.distributed import (
    DistEnv,
    any_rank,
    broadcast_module_,
    init_distributed,
    reduce_gradients_,
)
from ganforge.training.families import check_resolution, make_family
from ganforge.training.presets import TrainingConfig, resolve_config, round_size
from ganforge.training.resume import OPTIONS_FILE, dataset_fingerprint, resume_latest, write_training_options
from ganforge.training.rundir import kimg_label, new_run_dir, run_description, run_log, snapshot_name
from ganforge.training.snapshot import TrainingState, load_snapshot, save_snapshot
from ganforge.training.stats import Stat, StatsWriter, TickStats, drop_stats_after

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
    with run_log(run_dir if env.is_main else None), _stop_requests() as stop:
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
            raise OptionError(f"--cond needs labels, but dataset '{data}' has no labels in dataset.json")
        check_resolution(config.model, self.dataset.resolution, config.cond, data)
        logger.info("Num images:  %d", len(self.dataset))
        logger.info("Image shape: %s", self.dataset.image_shape)
        logger.info("Label shape: %s", self.dataset.label_shape)

        logger.info("Constructing networks...")
        self.family = make_family(config, self.dataset.resolution)
        G, D = self.family.build_networks(self.dataset.num_channels, self.dataset.label_dim)
        self.G = G.train().requires_grad_(False).to(self.device)
        self.D = D.train().requires_grad_(False).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval()
        if config.resume is not None and resume_from is None:
            self._transfer(config.resume)
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
        self.metric_options = self._setup_metrics()

    # ---- setup ---------------------------------------------------------------------------------

    def _transfer(self, source: str) -> None:
        """Copy the tensors of `source` whose names and shapes match into G, D and G_ema."""
        logger.info('Resuming from "%s"', source)
        loaded = load_network(source)
        for key, module in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            if not isinstance(loaded.get(key), nn.Module):
                logger.info("  %s: not in the file, left as initialised", key)
                continue
            copied, total = copy_matching(loaded[key], module)
            logger.info("  %s: copied %d of %d parameters and buffers", key, copied, total)

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
                f"--kimg {config.kimg:g}: the snapshot is already at {self.cur_nimg / 1000:g} kimg; "
                "give a larger --kimg to train on"
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
        real_img = _rounds(self.family.process_reals(images.to(torch.float32) / 127.5 - 1), num_rounds)
        real_c = _rounds(labels, num_rounds)
        gen_z, gen_c = self._latents(step_batch, num_rounds)

        for phase_idx, phase in enumerate(self.phases):
            if self.batch_idx % phase.interval != 0:
                continue
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            for j in range(num_rounds):
                global_round = env.rank + env.world_size * j  # see _rounds
                torch.manual_seed(_derive_seed(config.seed, self.batch_idx, 1, phase_idx, global_round))
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

        self._update_ema(step_batch)
        self.cur_nimg += step_batch
        self.batch_idx += 1
        if self.ada is not None and self.batch_idx % self.ada.interval == 0:
            self.ada.update(step_batch)

    def _latents(
        self, batch: int, num_rounds: int
    ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """Per phase and round, this rank's latents and labels of the step.

        All ranks draw the whole step's latents from the same seed and take their share the way
        the sampler shares out the images, so a given image position meets the same latent
        whatever the number of ranks.
        """
        config, env = self.config, self.env
        gen = torch.Generator().manual_seed(_derive_seed(config.seed, self.batch_idx, 0))
        z = torch.randn([len(self.phases), batch, self.G.z_dim], generator=gen)
        c_idx = torch.randint(len(self.dataset), [len(self.phases), batch], generator=gen)
        z = z[:, env.rank :: env.world_size].to(self.device)
        c = self.labels[c_idx[:, env.rank :: env.world_size].to(self.device)]
        return [_rounds(zi, num_rounds) for zi in z], [_rounds(ci, num_rounds) for ci in c]

    def _apply(self, phase: _Phase) -> None:
        """Reduce the gradients over ranks and step, unless any is non-finite (then skip and count)."""
        grads = reduce_gradients_(phase.module.parameters(), self.env)
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
                "rates (--glr/--dlr) or raise --gamma, and resume from that snapshot"
            )

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        """Move G_ema towards G with half-life ema_kimg (0: G_ema becomes a copy of G); copy buffers."""
        config = self.config
        ema_nimg = config.ema_kimg * 1000
        if config.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * config.ema_rampup)
        beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    # ---- maintenance ---------------------------------------------------------------------------

    def _maintenance(
        self,
        grid: _Grid | None,
        writer: StatsWriter | None,
        done: bool,
        tick_start_nimg: int,
        tick_start_time: float,
        maintenance_time: float,
    ) -> None:
        """Status line, image grid, snapshot and statistics at the end of a tick."""
        now = time.time()
        stats = self.stats.collect(self.env)
        tick_sec = now - tick_start_time
        augment_p = float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0
        gpu_mem = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else 0.0
        own: dict[str, float] = {
            "Progress/tick": self.cur_tick,
            "Progress/kimg": self.cur_nimg / 1e3,
            "Timing/total_sec": now - self.start_time,
            "Timing/sec_per_tick": tick_sec,
            "Timing/sec_per_kimg": tick_sec / max(self.cur_nimg - tick_start_nimg, 1) * 1e3,
            "Timing/maintenance_sec": maintenance_time,
            "Resources/cpu_mem_gb": _cpu_mem_gb(),
            "Resources/peak_gpu_mem_gb": gpu_mem,
            "Progress/augment": augment_p,
            "Timing/total_hours": (now - self.start_time) / 3600,
            "Timing/total_days": (now - self.start_time) / 86400,
        }
        schedule = self.family.status()
        own.update(schedule)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        logger.info(
            "tick %-5d kimg %-8.3f time %-12s sec/tick %-7.1f sec/kimg %-7.2f maintenance %-6.1f "
            "cpumem %-6.2f gpumem %-6.2f augment %.3f%s",
            self.cur_tick, self.cur_nimg / 1e3, _format_time(own["Timing/total_sec"]), tick_sec,
            own["Timing/sec_per_kimg"], maintenance_time, own["Resources/cpu_mem_gb"], gpu_mem, augment_p,
            "".join(f" {name.split('/')[-1]} {value:.3f}" for name, value in schedule.items()),
        )
        if done or self.cur_tick % self.config.snap == 0:
            self._snapshot(grid)
            own.update(self._evaluate_metrics())  # on every rank
        if writer is not None:
            stats.update({name: Stat(1, float(value), 0.0) for name, value in own.items()})
            writer.write(stats, self.cur_nimg, timestamp=time.time(), walltime=time.time() - self.start_time)

    def _snapshot(self, grid: _Grid | None) -> None:
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
            "resolution": self.dataset.resolution, "max_size": len(self.dataset),
        }}
        save_snapshot(path, self._networks(), self._state(), extra)
        self.last_snapshot = path
        if not any(self.nonfinite_steps.values()):
            self.last_good_snapshot = path
        logger.info("Saved %s", path.name)

    def _setup_metrics(self) -> MetricOptions | None:
        """Options for the snapshot metrics; checks the names and loads the detectors up front."""
        if not self.options.metrics:
            return None
        metric_options = MetricOptions(
            G=self.G_ema, data=self.data, xflip=self.config.mirror, device=self.device,
            rank=self.env.rank, num_gpus=self.env.world_size, num_gen=self.options.metrics_num_gen,
            progress=False,
        )
        check_metrics(self.options.metrics, metric_options, load_detectors=True)
        return metric_options

    def _evaluate_metrics(self) -> dict[str, float]:
        """Compute the snapshot metrics of G_ema on all ranks (sharded); rank 0 reports them.

        Returns the values as `Metrics/<key>` statistics for stats.jsonl and TensorBoard.
        """
        if self.metric_options is None:
            return {}
        values = {}
        for result in run_metrics(self.options.metrics, self.metric_options.for_new_weights()):
            if self.run_dir is not None:
                report(result, run_dir=self.run_dir, snapshot_pkl=os.fspath(self.last_snapshot))
            logger.info("%s in %s", format_results(result), result["total_time_str"])
            values.update({f"Metrics/{key}": value for key, value in result["results"].items()})
        return values

    def _setup_grid(self, write_init: bool) -> _Grid | None:
        """The fixed grid of reals and latents; on a new run also write reals.png and fakes_init.png."""
        if self.run_dir is None:
            return None
        grid = _Grid(self.dataset, self.G.z_dim, self.config.batch_gpu, self.device, self.options.grid,
                     self.config.seed)
        if write_init:
            logger.info("Exporting sample images...")
            grid.save_reals(self.run_dir / "reals.png")
            grid.save_fakes(self.G_ema, self.run_dir / "fakes_init.png")
        return grid


class _Grid:
    """A fixed set of dataset images (grouped by label) and latents for the preview grids."""

    def __init__(
        self,
        dataset: ImageDataset,
        z_dim: int,
        batch_gpu: int,
        device: torch.device,
        size: tuple[int, int] | None,
        seed: int,
    ) -> None:
        rnd = np.random.RandomState(seed)
        height, width = dataset.image_shape[1:]
        self.size = size or (int(np.clip(7680 // width, 7, 32)), int(np.clip(4320 // height, 4, 32)))
        cols, rows = self.size
        if not dataset.has_labels:
            order = rnd.permutation(len(dataset))
            indices = [int(order[i % len(order)]) for i in range(cols * rows)]
        else:
            groups: dict[tuple[float, ...], list[int]] = {}
            for idx in range(len(dataset)):
                key = tuple(dataset.get_details(idx).raw_label.flat[::-1])
                groups.setdefault(key, []).append(idx)
            keys = sorted(groups)
            for key in keys:
                rnd.shuffle(groups[key])
            indices = []
            for row in range(rows):
                members = groups[keys[row % len(keys)]]
                indices += [members[col % len(members)] for col in range(cols)]
                groups[keys[row % len(keys)]] = members[cols % len(members):] + members[: cols % len(members)]
        self.indices = indices
        self.dataset = dataset
        labels = torch.from_numpy(np.stack([dataset.get_label(i) for i in indices]).astype(np.float32))
        gen = torch.Generator().manual_seed(seed)
        self.z = torch.randn([len(indices), z_dim], generator=gen).to(device).split(batch_gpu)
        self.c = labels.to(device).split(batch_gpu)

    def save_reals(self, path: Path) -> None:
        images = np.stack([self.dataset[i][0] for i in self.indices])
        save_image_grid(images, path, self.size)

    @torch.no_grad()
    def save_fakes(self, G_ema: nn.Module, path: Path) -> None:
        batches = zip(self.z, self.c, strict=True)
        images = torch.cat([G_ema(z, c, noise_mode="const").cpu() for z, c in batches])
        pixels = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        save_image_grid(pixels, path, self.size)


# ---- helpers -----------------------------------------------------------------------------------


def copy_matching(source: nn.Module, target: nn.Module) -> tuple[int, int]:
    """Copy `source`'s parameters and buffers into `target`'s of the same name and shape.

    Returns (number copied, number of tensors in `target`).
    """
    src = dict(source.state_dict())
    dst = target.state_dict()
    copied = 0
    with torch.no_grad():
        for name, tensor in dst.items():
            if name in src and src[name].shape == tensor.shape:
                tensor.copy_(src[name].to(tensor.device, tensor.dtype))
                copied += 1
    return copied, len(dst)


def _rounds(batch: torch.Tensor, num_rounds: int) -> list[torch.Tensor]:
    """Split a rank's batch into rounds by striding: round j holds items j, j + R, j + 2R, ...

    With the sampler giving rank r the global positions r, r + W, ..., round j of rank r then
    holds global positions (r + W j) + (W R) m: the same set as global round r + W j of any
    other rank count, which makes a step's math independent of the number of ranks.
    """
    return [batch[j::num_rounds] for j in range(num_rounds)]


def _derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integer keys (seed, step, stream, ...)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _format_time(seconds: float) -> str:
    """'12s', '3m 04s', '2h 05m 07s' or '1d 02h 03m' like the official status line."""
    s = int(np.rint(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02}m {s % 60:02}s"
    return f"{s // 86400}d {(s // 3600) % 24:02}h {(s // 60) % 60:02}m"


def _cpu_mem_gb() -> float:
    """This process's resident memory in GiB (peak resident memory where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@contextlib.contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """An event set by the first SIGINT/SIGTERM (a second SIGINT interrupts at once).

    Signal handlers can only be installed from the main thread; elsewhere the event never fires.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        logger.info("\nReceived %s: stopping after this step...", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def launch(
    data: str | None,
    outdir: str | os.PathLike[str],
    cfg: str | None = None,
    overrides: dict[str, Any] | None = None,
    resume: str | None = None,
    options: LoopOptions = LoopOptions(),
) -> TrainingResult:
    """Start a run in a new folder of `outdir`, or continue the newest one with ``resume='latest'``.

    `cfg` (None: not given, 'auto' for a new run) and `overrides` (TrainingConfig fields) are what
    the user set. Any other `resume` value names a network file to start from (transfer learning,
    in a new run folder). A run that fails to start leaves no run folder behind.
    """
    overrides = dict(overrides or {})
    env = init_distributed(options.device)
    if resume == "latest":
        run = resume_latest(outdir, data, cfg, overrides, env.world_size)
        return training_loop(run.config, run.data, run.run_dir, resume_from=run.snapshot, options=options)
    if data is None:
        raise OptionError("--data is required (a dataset zip or folder) unless you --resume latest")
    cfg = cfg or "auto"
    dataset = ImageDataset(data)
    if resume is not None:
        overrides["resume"] = resume
    config = resolve_config(cfg, dataset.resolution, env.world_size, overrides)
    desc = run_description(
        dataset.name, cfg, env.world_size, model=config.model, cond=config.cond, mirror=config.mirror,
        gamma=overrides.get("gamma"), kimg=overrides.get("kimg"), batch=overrides.get("batch"),
        aug=overrides.get("aug"), p=overrides.get("p"), target=overrides.get("target"),
        augpipe=overrides.get("augpipe"), transfer=resume is not None, freezed=overrides.get("freezed"),
    )
    run_dir = new_run_dir(outdir, desc) if env.is_main else None
    try:
        return training_loop(config, data, run_dir, options=options)
    except BaseException:
        if run_dir is not None and not (run_dir / OPTIONS_FILE).exists():  # written once training starts
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
