"""make_loader: the endless stream of training batches, sharded across ranks and moved to a device."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from ganforge.data.sampler import InfiniteSampler
from ganforge.errors import GanforgeError


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    rank: int | None = None,
    num_replicas: int | None = None,
    seed: int = 0,
    num_workers: int = 2,
    device: torch.device | str = "cpu",
    prefetch_factor: int = 2,
    start_index: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Infinite iterator of (images, labels) batches of this rank's share of `dataset`.

    Images stay uint8 NCHW as stored (the training loop scales them), labels are float32.
    `rank`/`num_replicas` left as None come from torch.distributed when it is initialised,
    else 0 and 1. `start_index` resumes the sampler order after that many images drawn by all
    ranks together (see InfiniteSampler). Memory is pinned only when `device` is CUDA. Worker
    processes start on the first `next()`.
    """
    device = torch.device(device)
    distributed = dist.is_available() and dist.is_initialized()
    if rank is None:
        rank = dist.get_rank() if distributed else 0
    if num_replicas is None:
        num_replicas = dist.get_world_size() if distributed else 1
    sampler = InfiniteSampler(
        dataset, rank=rank, num_replicas=num_replicas, seed=seed, start_index=start_index
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
    )
    return _to_device(loader, device)


def _to_device(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Move each (images, labels) batch to `device`; from pinned memory the copy is asynchronous."""
    iterator = iter(batches)
    while True:
        try:
            images, labels = next(iterator)
        except StopIteration:
            return
        except GanforgeError as exc:
            raise _without_worker_traceback(exc) from exc
        yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)


def _without_worker_traceback(exc: GanforgeError) -> GanforgeError:
    """The error a DataLoader worker raised, with its own one-line message again.

    torch re-raises a worker's exception as the same type whose message is "Caught X in DataLoader
    worker process N." followed by the worker's whole traceback, which ends in "module.X: message".
    """
    text = str(exc)
    marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    if not text.startswith("Caught ") or marker not in text:
        return exc
    return type(exc)(text.rsplit(marker, 1)[1].strip())
