"""Tiny datasets and configs shared by the training tests (16 x 16 images, 16-channel networks)."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import PIL.Image
import torch
from torch import nn

from ganforge.compat import load_network
from ganforge.compat.checkpoint import read_training_state
from ganforge.training.families import StyleGAN2Family
from ganforge.training.loop import LoopOptions, TrainingResult, training_loop
from ganforge.training.options import TrainingConfig
from ganforge.training.rundir import latest_run, new_run_dir, run_snapshots


def make_dataset(path: Path, count: int = 32, resolution: int = 16, classes: int = 0) -> Path:
    """Write a dataset zip of `count` random RGB images (with int labels when `classes` > 0)."""
    rnd = np.random.RandomState(123)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            pixels = (rnd.rand(resolution, resolution, 3) * 255).astype(np.uint8)
            buf = io.BytesIO()
            PIL.Image.fromarray(pixels).save(buf, format="PNG")
            zf.writestr(f"00000/img{i:08d}.png", buf.getvalue())
        if classes:
            labels = [[f"00000/img{i:08d}.png", i % classes] for i in range(count)]
            zf.writestr("dataset.json", json.dumps({"labels": labels}))
    return path


def tiny_config(**changes: Any) -> TrainingConfig:
    """A config small enough for a step to take milliseconds on one CPU core."""
    base = TrainingConfig(
        cfg="tiny", kimg=0.032, batch=8, batch_gpu=4, mbstd_group=4, cbase=256, cmax=16, map=2, z_dim=16,
        w_dim=16, precision="fp32", gamma=1.0, ema_kimg=0.01, ema_rampup=None, aug="noaug",
        kimg_per_tick=0.016, snap=2, workers=0,
    )
    return dataclasses.replace(base, **changes)


def stylegan2_networks(
    config: TrainingConfig, resolution: int, channels: int, c_dim: int
) -> tuple[nn.Module, nn.Module]:
    """A fresh StyleGAN2 G and D as training builds them for `config`."""
    return StyleGAN2Family(config, resolution).build_networks(channels, c_dim)


def latest_snapshot(outdir: Path) -> Path:
    """The newest snapshot of the newest run in `outdir` that has one."""
    return run_snapshots(latest_run(outdir))[-1]


def trained_state(outdir: Path) -> dict[str, torch.Tensor]:
    """Every tensor a resumed run must reproduce, from the newest snapshot in `outdir`: the networks
    (G, D, G_ema and the augment pipe when there is one), the optimisers' moments and the loss state."""
    snapshot = latest_snapshot(outdir)
    networks = load_network(snapshot)
    state = {f"{key}.{name}": t for key in ("G", "D", "G_ema", "augment_pipe")
             if isinstance(networks.get(key), nn.Module) for name, t in networks[key].state_dict().items()}
    training = read_training_state(snapshot)
    for key in ("G_opt", "D_opt"):
        for index, moments in training[key]["state"].items():
            state.update({f"{key}.{index}.{name}": t for name, t in moments.items()})
    state.update({f"loss.{name}": t for name, t in training["loss"].items()})
    return state


class ResumeRuns(NamedTuple):
    """The two runs of `train_straight_and_resumed`."""

    straight: Path  # the run trained in one go
    resumed: Path  # the run stopped and resumed
    snapshot: Path  # the snapshot it resumed from
    result: TrainingResult  # how its resumed part ended


def train_straight_and_resumed(
    config: TrainingConfig, data: Path, root: Path, stop_kimg: float, options: LoopOptions
) -> ResumeRuns:
    """Train `config` in one go under root/straight, and under root/resumed stopped at `stop_kimg`
    and resumed from that snapshot to the end."""
    straight = new_run_dir(root / "straight", "x")
    training_loop(config, data, straight, options=options)
    resumed = new_run_dir(root / "resumed", "x")
    training_loop(dataclasses.replace(config, kimg=stop_kimg), data, resumed, options=options)
    snapshot = latest_snapshot(root / "resumed")
    result = training_loop(config, data, resumed, resume_from=snapshot, options=options)
    return ResumeRuns(straight, resumed, snapshot, result)


def assert_same_training(root: Path) -> dict[str, torch.Tensor]:
    """Assert that root/straight and root/resumed end with equal `trained_state`s; return the first."""
    expected, actual = trained_state(root / "straight"), trained_state(root / "resumed")
    assert expected.keys() == actual.keys() and any(".exp_avg" in name for name in expected)
    for name, tensor in expected.items():
        assert torch.equal(tensor, actual[name]), name
    return expected
