"""make_loader over a real zip: worker processes, rank sharding, resuming, and real torch.distributed."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganforge.data.dataset import ImageDataset
from ganforge.data.loader import make_loader
from ganforge.data.sampler import InfiniteSampler
from ganforge.training.distributed import shutdown

NUM_CLASSES = 3


def write_zip(path: Path, n: int) -> Path:
    """A labelled zip whose image `i` is filled with the value `i`, so batches reveal their indices."""
    labels = []
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            buf = io.BytesIO()
            PIL.Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(buf, format="PNG")
            name = f"{i // 4:05d}/img{i:08d}.png"
            zf.writestr(name, buf.getvalue())
            labels.append([name, i % NUM_CLASSES])
        zf.writestr("dataset.json", json.dumps({"labels": labels}))
    return path


def indices_of(images: torch.Tensor) -> list[int]:
    return images[:, 0, 0, 0].tolist()


def test_batches_from_zip_with_workers(tmp_path: Path) -> None:
    dataset = ImageDataset(write_zip(tmp_path / "d.zip", 10), use_labels=True)
    batches = make_loader(dataset, 4, seed=5, num_workers=2, prefetch_factor=2)
    seen: list[int] = []
    for images, labels in itertools.islice(batches, 6):
        assert images.shape == (4, 3, 8, 8) and images.dtype == torch.uint8 and images.device.type == "cpu"
        assert labels.shape == (4, NUM_CLASSES) and labels.dtype == torch.float32
        index = indices_of(images)
        assert torch.equal(images, torch.tensor(index, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 8, 8))
        assert torch.equal(labels, torch.eye(NUM_CLASSES)[[i % NUM_CLASSES for i in index]])
        seen += index
    assert seen == list(itertools.islice(InfiniteSampler(dataset, seed=5), 24))


def test_explicit_ranks_get_disjoint_shares(tmp_path: Path) -> None:
    dataset = ImageDataset(write_zip(tmp_path / "d.zip", 12))
    shares = []
    for rank in range(2):
        batches = make_loader(dataset, 3, rank=rank, num_replicas=2, seed=1, num_workers=0)
        shares.append([i for images, _ in itertools.islice(batches, 2) for i in indices_of(images)])
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == list(range(12))


def test_start_index_resumes_the_stream(tmp_path: Path) -> None:
    dataset = ImageDataset(write_zip(tmp_path / "d.zip", 7))
    full = [
        i
        for images, _ in itertools.islice(make_loader(dataset, 2, num_workers=0), 8)
        for i in indices_of(images)
    ]
    resumed = make_loader(dataset, 2, num_workers=1, start_index=6)
    assert [i for images, _ in itertools.islice(resumed, 5) for i in indices_of(images)] == full[6:16]


def _distributed_rank(rank: int, world_size: int, init_file: str, dataset_path: str, out_file: str) -> None:
    """One rank: build the loader from torch.distributed's rank and world size, gather what it saw."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    finished = False
    try:
        batches = make_loader(ImageDataset(dataset_path), 2, seed=7, num_workers=1)
        images = torch.cat([images for images, _ in itertools.islice(batches, 3)]).to(torch.int64)
        gathered = [torch.empty_like(images) for _ in range(world_size)]
        dist.all_gather(gathered, images)
        if rank == 0:
            Path(out_file).write_text(json.dumps([g.tolist() for g in gathered]))
        finished = True
    finally:
        shutdown(finished)  # a rank leaving gloo while a peer still uses it may abort the process


def test_two_distributed_ranks_see_disjoint_images(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "d.zip", 12)
    out_file = tmp_path / "gathered.json"
    args = (2, str(tmp_path / "init"), str(path), str(out_file))
    mp.spawn(_distributed_rank, args=args, nprocs=2, join=True)
    gathered = [torch.tensor(g) for g in json.loads(out_file.read_text())]
    assert [g.shape for g in gathered] == [(6, 3, 8, 8)] * 2
    shares = [indices_of(g) for g in gathered]
    for g, share in zip(gathered, shares, strict=True):  # whole images, not just one pixel, match
        assert torch.equal(g, torch.tensor(share).view(-1, 1, 1, 1).expand(-1, 3, 8, 8))
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == list(range(12))
    stream = list(itertools.islice(InfiniteSampler(range(12), seed=7), 12))
    assert shares == [stream[0::2], stream[1::2]]


def test_workers_read_a_zip_opened_before_the_fork(tmp_path: Path) -> None:
    """Forked workers must not share the parent's zip handle (a shared file offset garbles reads)."""
    rnd = np.random.RandomState(0)
    images = rnd.randint(0, 256, size=(64, 128, 128, 3), dtype=np.uint8)
    with zipfile.ZipFile(tmp_path / "noise.zip", "w") as zf:
        for i, image in enumerate(images):
            buf = io.BytesIO()
            PIL.Image.fromarray(image).save(buf, format="PNG")
            zf.writestr(f"{i:03d}.png", buf.getvalue())
    dataset = ImageDataset(tmp_path / "noise.zip")
    dataset[0]  # the parent holds an open zip when the workers fork
    batches = make_loader(dataset, 8, seed=2, num_workers=2, prefetch_factor=4)
    stream = list(itertools.islice(InfiniteSampler(dataset, seed=2), 64 * 8))
    expected = torch.from_numpy(images).permute(0, 3, 1, 2)
    for k, (batch, _) in enumerate(itertools.islice(batches, 64)):
        assert torch.equal(batch, expected[stream[k * 8 : (k + 1) * 8]])
