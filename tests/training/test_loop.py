"""The training loop on tiny networks: outputs, bit-exact resume, SIGINT, divergence, transfer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import PIL.Image
import pytest
import torch
from tests.training.tiny import (
    assert_same_training,
    latest_snapshot,
    make_dataset,
    stylegan2_networks,
    tiny_config,
    train_straight_and_resumed,
)

from ganforge.compat import load_network
from ganforge.compat.checkpoint import read_training_state, save_network_checkpoint
from ganforge.errors import GanforgeError, OptionError
from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.rundir import new_run_dir
from ganforge.training.snapshot import copy_matching

REPO = Path(__file__).resolve().parents[2]
OPTIONS = LoopOptions(device="cpu", grid=(4, 2), progress=False)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_run_writes_logs_grids_stats_and_snapshots(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds.zip", classes=3)
    config = tiny_config(cond=True, aug="ada", augpipe="bgc", snap=2)
    run_dir = new_run_dir(tmp_path / "runs", "ds-cond-tiny")
    result = training_loop(config, data, run_dir, options=OPTIONS)

    assert result.cur_nimg == 32 and not result.interrupted
    # ticks: tick 0 is one step (8 images), then 16 images per tick -> ticks at 8, 24, 32 images
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [line["Progress/tick"]["mean"] for line in lines] == [0, 1, 2]
    assert [line["Progress/kimg"]["mean"] for line in lines] == [0.008, 0.024, 0.032]
    expected = {"Loss/G/loss", "Loss/D/loss", "Loss/r1_penalty", "Progress/augment", "timestamp"}
    assert expected <= lines[0].keys()
    assert lines[1]["Loss/G/loss"]["num"] == 16 and lines[1]["Loss/G/loss"]["std"] >= 0
    log = (run_dir / "log.txt").read_text()
    assert "tick 0 " in log and "tick 2 " in log and "augment 0.000" in log and "sec/kimg" in log
    assert list(run_dir.glob("events.out.tfevents.*"))
    for name in ("reals.png", "fakes_init.png", "fakes000000.008.png", "fakes000000.032.png"):
        assert PIL.Image.open(run_dir / name).size == (4 * 16, 2 * 16)
    options = json.loads((run_dir / "training_options.json").read_text())
    assert options["data"] == str(data) and options["config"]["cond"] is True

    snapshot = latest_snapshot(tmp_path / "runs")
    assert snapshot == result.snapshot == run_dir / "network-snapshot-000000.032.pt"  # fractional ticks
    assert sorted(p.name for p in run_dir.glob("network-snapshot-*")) == [
        "network-snapshot-000000.008.pt", "network-snapshot-000000.032.pt"]
    networks = load_network(snapshot)
    assert {"G", "D", "G_ema", "augment_pipe"} <= networks.keys()
    assert networks["training_set_kwargs"]["use_labels"] is True
    image = networks["G_ema"](torch.randn(2, 16), torch.eye(3)[:2], noise_mode="const")
    assert image.shape == (2, 3, 16, 16) and torch.isfinite(image).all()
    assert read_training_state(snapshot)["cur_nimg"] == 32


def test_resume_continues_bit_for_bit(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds.zip")
    # Lazy regularisation, pending ADA signs and style mixing all straddle the stop at step 5.
    config = tiny_config(
        kimg=0.072, aug="ada", augpipe="bgc", target=0.1, ada_kimg=0.05, ada_interval=3, G_reg_interval=2,
        D_reg_interval=3, ema_rampup=0.05, snap=1,
    )
    straight, first, snapshot, result = train_straight_and_resumed(config, data, tmp_path, 0.040, OPTIONS)
    assert read_training_state(snapshot)["cur_nimg"] == 40
    assert result.cur_nimg == 72 and result.run_dir == first

    expected = assert_same_training(tmp_path)
    assert float(expected["augment_pipe.p"]) > 0  # ADA did move p
    log = (first / "log.txt").read_text()
    assert log.count("Loading training set") == 2 and "Resuming from snapshot" in log
    # The tick counter continues: straight and resumed runs have the same ticks, snapshots and kimg.
    assert _ticks(first) == _ticks(straight) == [(0, 0.008), (1, 0.024), (2, 0.04), (3, 0.056), (4, 0.072)]
    assert sorted(p.name for p in first.glob("network-snapshot-*")) == sorted(
        p.name for p in straight.glob("network-snapshot-*"))

    with pytest.raises(OptionError, match="already at 0.072 kimg"):
        training_loop(config, data, first, resume_from=latest_snapshot(tmp_path / "resumed"), options=OPTIONS)


def _ticks(run_dir: Path) -> list[tuple[int, float]]:
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    return [(int(line["Progress/tick"]["mean"]), line["Progress/kimg"]["mean"]) for line in lines]


def test_snapshots_never_overwrite_each_other(tmp_path: Path) -> None:
    """Whole-kimg ticks name snapshots by whole kimg, unless that name is taken: then exactly."""
    data = make_dataset(tmp_path / "ds.zip")
    run_dir = new_run_dir(tmp_path / "runs", "x")
    (run_dir / "network-snapshot-000000.pt").write_bytes(b"an earlier snapshot")
    training_loop(tiny_config(kimg_per_tick=1, snap=1), data, run_dir, options=OPTIONS)
    assert (run_dir / "network-snapshot-000000.pt").read_bytes() == b"an earlier snapshot"
    names = sorted(p.name for p in run_dir.glob("*snapshot*"))
    assert names == ["network-snapshot-000000.008.pt", "network-snapshot-000000.032.pt",
                     "network-snapshot-000000.pt"]
    assert (run_dir / "fakes000000.008.png").is_file() and (run_dir / "fakes000000.032.png").is_file()
    assert read_training_state(latest_snapshot(tmp_path / "runs"))["cur_nimg"] == 32


_SIGINT_SCRIPT = """
import sys, torch
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.training.tiny import tiny_config
from ganforge.training.loop import LoopOptions, training_loop
torch.set_num_threads(1)
result = training_loop(tiny_config(kimg=1000.0, snap=1000), {data!r}, Path({run_dir!r}),
                       options=LoopOptions(device="cpu", grid=(2, 2), progress=False))
print("RESULT", result.interrupted, result.cur_nimg, flush=True)
"""


def test_sigint_finishes_the_step_writes_a_snapshot_and_exits_cleanly(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds.zip")
    run_dir = new_run_dir(tmp_path / "runs", "x")
    script = _SIGINT_SCRIPT.format(repo=str(REPO), data=str(data), run_dir=str(run_dir))
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = []
    deadline = time.time() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        if line.startswith("tick 1 "):
            proc.send_signal(signal.SIGINT)
            break
        assert time.time() < deadline, "".join(output)
    rest, _ = proc.communicate(timeout=120)
    output.append(rest)
    text = "".join(output)
    assert proc.returncode == 0, text
    assert "Received SIGINT" in text and "Exiting" in text
    interrupted, nimg = text.split("RESULT ")[1].split()
    assert interrupted == "True" and int(nimg) > 24  # stopped after tick 1, not at 1000 kimg
    snapshot = latest_snapshot(tmp_path / "runs")
    assert read_training_state(snapshot)["cur_nimg"] == int(nimg)
    assert "G_ema" in load_network(snapshot)


def test_diverged_training_stops_with_a_clear_error(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds.zip")
    G, D = stylegan2_networks(tiny_config(), 16, 3, 0)
    with torch.no_grad():
        D.b4.out.weight.fill_(float("nan"))
    source = tmp_path / "poisoned.pt"
    save_network_checkpoint(source, {"G": G, "D": D, "G_ema": G})
    run_dir = new_run_dir(tmp_path / "runs", "x")
    with pytest.raises(GanforgeError, match=r"10 D optimiser steps in a row.*last good snapshot: none"):
        training_loop(tiny_config(kimg=1.0, resume=str(source)), data, run_dir, options=OPTIONS)
    log = (run_dir / "log.txt").read_text()
    assert "Dmain: non-finite gradients, optimiser step skipped (1 in a row for D)" in log
    total = len(G.state_dict())
    assert f"G: copied {total} of {total}" in log


def test_copy_matching_copies_only_same_names_and_shapes() -> None:
    torch.manual_seed(0)
    source, _ = stylegan2_networks(tiny_config(map=3, cbase=512, cmax=32), 16, 3, 0)  # 32 channels at 8, 16
    target, _ = stylegan2_networks(tiny_config(map=2), 16, 3, 0)
    before = {name: t.clone() for name, t in target.state_dict().items()}
    copied, total = copy_matching(source, target)
    assert 0 < copied < total == len(before)
    after, src = target.state_dict(), source.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert "mapping.fc1.weight" in changed and "synthesis.b16.conv1.weight" not in changed
    for name in changed:
        assert torch.equal(after[name], src[name])
