"""Multi-process training helpers: process-group setup from the torchrun environment, gradient and
statistics reduction, and weight broadcasting.

Gradients are reduced by hand (one flattened all-reduce per optimiser step) instead of through
DistributedDataParallel: the loss calls the networks' halves directly, needs double backward for
its regularisers, and the loop checks the reduced gradients for non-finite values before stepping.
The loop scales each round's loss so that the per-rank gradients already sum to the mean over the
whole batch; the reduction is therefore a plain sum.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ganforge.errors import OptionError
from ganforge.inference.runner import pick_device


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job: its rank, the number of ranks, and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistEnv:
    """Join the process group described by torchrun's RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* variables.

    Without WORLD_SIZE (or with 1) this is a single process and no group is created. `device` is
    resolved as by every command (`pick_device`); with CUDA each rank uses GPU LOCAL_RANK and the
    nccl backend, otherwise the gloo backend.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = pick_device(device)
    if resolved.type == "cuda" and world_size > 1:
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    if world_size > 1 and not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in os.environ:
                raise OptionError(f"WORLD_SIZE={world_size} but {name} unset; start with torchrun")
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(
            backend, rank=rank, world_size=world_size, timeout=datetime.timedelta(minutes=30)
        )
    return DistEnv(rank=rank, world_size=world_size, device=resolved)


def shutdown(finished: bool = False) -> None:
    """Leave the process group joined by `init_distributed` (no-op when there is none).

    After a finished run every rank first waits for the others (rank 0 may still be writing its last
    snapshot): a rank that left the gloo group while a peer still used it aborted at exit now and
    then (SIGABRT, 1 run in 6 under load). After a failure nobody waits: another rank may be gone.
    """
    if dist.is_available() and dist.is_initialized():
        if finished:
            with contextlib.suppress(RuntimeError):  # a peer failed at its end: it reports that itself
                dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum_(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum `tensor` over all ranks in place (no-op for a single process) and return it."""
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def reduce_gradients_(params: Iterable[nn.Parameter], env: DistEnv) -> list[torch.Tensor]:
    """Sum the gradients of `params` over ranks in place and return them.

    Only gradients that exist count (an optimiser skips parameters without one; a phase with
    nothing to learn, e.g. path length with weight 0, has none anywhere). With several ranks every
    rank must pass the same parameters in the same order, and a missing gradient becomes zeros
    when others exist, so that the flattened layouts agree.
    """
    params = list(params)
    if not env.distributed or all(param.grad is None for param in params):
        return [param.grad for param in params if param.grad is not None]
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    grads = [param.grad for param in params]
    if grads:
        flat = torch.cat([grad.flatten() for grad in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        for grad, part in zip(grads, flat.split([grad.numel() for grad in grads]), strict=True):
            grad.copy_(part.view_as(grad))
    return grads


def broadcast_module_(module: nn.Module, env: DistEnv) -> None:
    """Give every rank rank 0's parameters and buffers (no-op for a single process)."""
    if env.distributed:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def any_rank(flag: bool, env: DistEnv) -> bool:
    """Whether `flag` is true on at least one rank (so all ranks take the same branch)."""
    if not env.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
