"""Two CPU processes (gloo) train the same networks as one process with the same total batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
from tests.training.tiny import make_dataset, tiny_config

from ganforge.compat import load_network
from ganforge.training.distributed import DistEnv, reduce_gradients_
from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.presets import TrainingConfig
from ganforge.training.rundir import latest_snapshot, new_run_dir

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
    try:
        training_loop(_config(2), data, Path(run_dir) if rank == 0 else None, options=OPTIONS)
    finally:
        torch.distributed.destroy_process_group()


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


def test_single_process_gradient_reduction_keeps_missing_gradients_missing() -> None:
    env = DistEnv(rank=0, world_size=1, device=torch.device("cpu"))
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    a.grad = torch.full([2], 3.0)
    assert [g.tolist() for g in reduce_gradients_([a, b], env)] == [[3.0, 3.0]]
    assert b.grad is None
