"""R3GAN through the training loop: the cosine schedules, a CLI run, a resume bit for bit, the
published presets and the option checks."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tests.training.tiny import (
    assert_same_training,
    latest_snapshot,
    make_dataset,
    train_straight_and_resumed,
)

from ganforge.augment.pipeline import build_augment_pipe
from ganforge.cli.train import train_command
from ganforge.compat import load_network
from ganforge.compat.checkpoint import read_training_state
from ganforge.errors import OptionError
from ganforge.models import r3gan
from ganforge.training.config import resolve_config
from ganforge.training.families import make_family
from ganforge.training.families.r3gan import R3GAN_PRESETS, cosine_schedule
from ganforge.training.loop import LoopOptions

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = {"widths": [8, 8], "cardinalities": [2, 2], "blocks": [1, 1]}
OPTIONS = LoopOptions(device="cpu", grid=(2, 2), progress=False)


def test_cosine_schedule_runs_from_base_to_final() -> None:
    assert cosine_schedule(0, 2.0, 1.0, 100) == 2.0
    assert cosine_schedule(50, 2.0, 1.0, 100) == pytest.approx(1.5)
    assert cosine_schedule(25, 0.0, 1.0, 100) == pytest.approx(0.5 * (1 - math.cos(math.pi / 4)))
    assert cosine_schedule(100, 2.0, 1.0, 100) == cosine_schedule(500, 2.0, 1.0, 100) == 1.0


def test_begin_step_sets_the_scheduled_values(tmp_path: Path) -> None:
    config = resolve_config("cpu", 8, 1, {"model": "r3gan", "aug": "cosine", "p": 0.4, "decay_kimg": 2.0,
                                          **TINY})
    family = make_family(config, 8)
    G, D = family.build_networks(1, 0)
    pipe = build_augment_pipe("r3gan")
    loss = family.make_loss(G, D, pipe)
    opts = {"G": torch.optim.Adam(G.parameters(), **family.adam_kwargs("G")),
            "D": torch.optim.Adam(D.parameters(), **family.adam_kwargs("D"))}
    assert opts["G"].param_groups[0]["betas"] == (0.0, 0.9)
    family.begin_step(1000, G, D, opts)  # half way through the decay
    halfway = {"lr": (config.glr + config.lr_final) / 2, "beta2": (0.9 + 0.99) / 2,
               "gamma": (config.gamma + config.gamma_final) / 2, "p": 0.2, "ema": config.ema_kimg / 2}
    assert opts["D"].param_groups[0]["lr"] == pytest.approx(halfway["lr"])
    assert opts["G"].param_groups[0]["betas"] == (0.0, pytest.approx(halfway["beta2"]))
    assert loss.gamma == pytest.approx(halfway["gamma"]) and float(pipe.p) == pytest.approx(halfway["p"])
    assert family.ema_kimg_at(1000) == pytest.approx(halfway["ema"]) and family.ema_kimg_at(0) == 0
    assert [p.name for p in family.phases()] == ["Dboth", "Gmain"]
    lazy = make_family(resolve_config("cpu", 32, 1, {"model": "r3gan", "D_reg_interval": 4}), 32)
    assert [(p.name, p.interval) for p in lazy.phases()] == [("Dmain", 1), ("Dreg", 4), ("Gmain", 1)]


def test_cli_trains_r3gan(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "d.zip", count=16, resolution=8, classes=2)
    tiny = [arg for name, values in TINY.items() for arg in (f"--{name}", ",".join(map(str, values)))]
    args = ["--data", str(data), "--outdir", str(tmp_path), "--model", "r3gan", "--cfg", "cpu", "--kimg", "1",
            "--batch", "64", "--batch-gpu", "64", "--tick", "1", "--snap", "1", "--workers", "0", "--device",
            "cpu", "--grid", "2x2", "--decay-kimg", "0.5", "--cond", *tiny]
    result = CliRunner().invoke(train_command, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    snapshot = latest_snapshot(tmp_path)
    networks = load_network(snapshot)
    G, D = networks["G_ema"], networks["D"]
    assert isinstance(G, r3gan.Generator) and G.c_dim == 2 and D.init_kwargs["widths"] == [8, 8]
    training = read_training_state(snapshot)
    assert training["D_opt"]["param_groups"][0]["betas"] == (0.0, pytest.approx(0.99))  # past the decay
    stats = [json.loads(line) for line in (snapshot.parent / "stats.jsonl").read_text().splitlines()]
    assert {"Loss/r1_penalty", "Loss/r2_penalty", "Loss/G/loss"} <= set(stats[-1])


def test_resume_continues_bit_for_bit(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds.zip", count=16, resolution=8, classes=2)
    overrides = {"model": "r3gan", "batch": 8, "cond": True, "decay_kimg": 0.032, **TINY}
    base = resolve_config("cpu", 8, 1, overrides)
    config = dataclasses.replace(base, kimg=0.056, kimg_per_tick=0.016, snap=1, workers=0)
    result = train_straight_and_resumed(config, data, tmp_path, 0.024, OPTIONS).result
    assert result.cur_nimg == 56
    assert_same_training(tmp_path)


def test_published_presets_build_the_published_networks() -> None:
    """CIFAR10's G and D on the meta device: the widths, groups and bf16 stages of R3GAN's train.py."""
    config = resolve_config("CIFAR10", 32, 8, {"model": "r3gan", "cond": True})
    assert (config.batch, config.batch_gpu, config.ema_kimg, config.p) == (512, 64, 5000, 0.55)
    with torch.device("meta"):
        G, D = make_family(config, 32).build_networks(3, 10)
    assert G.init_kwargs["widths"] == [768] * 4 and G.init_kwargs["cardinalities"] == [96] * 4
    assert G.init_kwargs["bf16_stages"] == [1, 2, 3] and D.init_kwargs["bf16_stages"] == [2, 1, 0]
    assert G.init_kwargs["embed_dim"] == 64 and D.init_kwargs["embed_dim"] == 768
    published = {"CIFAR10", "FFHQ-64", "FFHQ-256", "ImageNet-32", "ImageNet-64"}
    assert set(R3GAN_PRESETS) == published | {"auto", "cpu"}
    # auto: the published preset of the resolution; a 16 px dataset takes the cpu preset's first 3 stages.
    assert resolve_config("auto", 64, 1, {"model": "r3gan"}).gamma == R3GAN_PRESETS["FFHQ-64"]["gamma"]
    with pytest.raises(OptionError, match="auto of `model` r3gan has presets for 32 px .*, not 128 px"):
        resolve_config("auto", 128, 1, {"model": "r3gan"})
    G, _ = make_family(resolve_config("cpu", 16, 1, {"model": "r3gan"}), 16).build_networks(1, 0)
    assert G.init_kwargs["widths"] == [64, 64, 32]


@pytest.mark.parametrize(("cfg", "resolution", "overrides", "message"), [
    ("cpu", 64, {}, "64 px images need 5 stages from 4 x 4 up, and `cfg` cpu of `model` r3gan .* for 4"),
    ("cpu", 32, {"cardinalities": [3, 3, 3, 3]}, "cannot split into 3 groups"),
])
def test_r3gan_refuses_networks_it_cannot_build(
    cfg: str, resolution: int, overrides: dict, message: str
) -> None:
    config = resolve_config(cfg, resolution, 1, {"model": "r3gan", **overrides})
    with pytest.raises(OptionError, match=message):
        make_family(config, resolution).build_networks(1, 0)


def test_cosine_augmentation_is_for_r3gan_only() -> None:
    with pytest.raises(OptionError, match="^aug: cosine .* is for `model` r3gan only"):
        resolve_config("cpu", 32, 1, {"model": "stylegan2", "aug": "cosine", "p": 0.2})
    with pytest.raises(OptionError, match="^widths: does not apply to `model` dcgan"):
        resolve_config("cpu", 32, 1, {"model": "dcgan", "widths": [8]})
