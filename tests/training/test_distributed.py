"""Two CPU processes (gloo) train the same networks as one process with the same total batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from tests.training.tiny import latest_snapshot, make_dataset, tiny_config

from ganforge.cli.main import main
from ganforge.compat import load_network
from ganforge.training.config import TrainingConfig
from ganforge.training.distributed import DistEnv, reduce_gradients_, shutdown
from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.rundir import new_run_dir

OPTIONS = LoopOptions(device="cpu", grid=(2, 2), progress=False)


def _config(num_gpus: int) -> TrainingConfig:
    # Minibatch-std groups stay within a round; the path-length mean is off because each rank keeps
    # its own running mean (as officially). Noise, style mixing and augmentation draws are seeded
    # per round, so they agree between one and two processes.
    return tiny_config(
        num_gpus=num_gpus, kimg=0.032, batch=8, batch_gpu=2, mbstd_group=2, style_mixing=0.9, pl_weight=0.0,
        D_reg_interval=2, aug="fixed", p=0.5, augpipe="bgc", snap=100,
    )


def _worker(rank: int, port: int, data: str, run_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    finished = False
    try:
        training_loop(_config(2), data, Path(run_dir) if rank == 0 else None, options=OPTIONS)
        finished = True
    finally:
        shutdown(finished)  # as `ganforge train`: a finished rank waits for the others before leaving


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_match_one_process_with_the_same_total_batch(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds.zip")
    single_dir = new_run_dir(tmp_path / "single", "x")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        training_loop(_config(1), data, single_dir, options=OPTIONS)
    finally:
        torch.set_num_threads(threads)
    multi_dir = new_run_dir(tmp_path / "multi", "x")
    mp.spawn(_worker, args=(_free_port(), str(data), str(multi_dir)), nprocs=2, join=True)

    single = load_network(latest_snapshot(tmp_path / "single"))
    multi = load_network(latest_snapshot(tmp_path / "multi"))
    for key in ("G", "D", "G_ema"):
        for (name, a), b in zip(single[key].named_parameters(), multi[key].parameters(), strict=True):
            assert (b - a).abs().max() <= 1e-5, f"{key}.{name}: {(b - a).abs().max()}"
    assert "stats.jsonl" in os.listdir(multi_dir)
    assert (multi_dir / "log.txt").read_text().count("tick 0 ") == 1  # rank 0 alone writes
    G, G_ema = single["G"].parameters(), single["G_ema"].parameters()
    assert not any(torch.equal(p, q) for p, q in zip(G, G_ema, strict=True))


@pytest.mark.slow
def test_two_processes_train_the_cpu_preset_as_one(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node 2 ... train --cfg cpu` works with the preset's batch options (about 30 s):
    each process takes 8 of the 16 images of a step, which computes what one process does in rounds
    of 8. The first tick (one step, every phase) agrees to float rounding; later steps drift apart
    only by rounding, which Adam amplifies (measured: 4e-5 after 9 steps, 0.03 after 63)."""
    data = make_dataset(tmp_path / "ds.zip", count=32, resolution=8)
    args = ["--data", str(data), "--cfg", "cpu", "--kimg", "1", "--workers", "0", "--device", "cpu",
            "--grid", "2x2"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "ganforge.cli.main"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*torchrun, "train", *args, "--outdir", str(tmp_path / "multi")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main(["train", *args, "--outdir", str(tmp_path / "single"), "--batch-gpu", "8"])
    finally:
        torch.set_num_threads(threads)

    (multi_dir,) = (tmp_path / "multi").iterdir()
    (single_dir,) = (tmp_path / "single").iterdir()
    config = json.loads((multi_dir / "training_options.json").read_text())["config"]
    assert (config["num_gpus"], config["batch"], config["batch_gpu"]) == (2, 16, 8)
    for name, tolerance in (("network-snapshot-000000.pt", 1e-5), ("network-snapshot-000001.pt", 0.1)):
        single, multi = load_network(single_dir / name), load_network(multi_dir / name)
        for key in ("G", "D", "G_ema"):
            for (param, a), b in zip(single[key].named_parameters(), multi[key].parameters(), strict=True):
                assert (b - a).abs().max() <= tolerance, f"{name} {key}.{param}: {(b - a).abs().max()}"


def test_single_process_gradient_reduction_keeps_missing_gradients_missing() -> None:
    env = DistEnv(rank=0, world_size=1, device=torch.device("cpu"))
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    a.grad = torch.full([2], 3.0)
    assert [g.tolist() for g in reduce_gradients_([a, b], env)] == [[3.0, 3.0]]
    assert b.grad is None
