"""Detector outputs over a dataset or a generator, gathered into `FeatureStats`.

Dataset statistics are cached on disk (one .npz per dataset file state, options and detector) in
`$GANFORGE_CACHE_DIR` or ~/.cache/ganforge/metrics, so the second evaluation against the same
data skips the detector. Under torchrun each rank takes every `num_gpus`-th batch and the partial
statistics are merged on every rank in single-process order; generated samples are seeded per
batch, so the results do not depend on the number of ranks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganforge.data.dataset import ImageDataset
from ganforge.errors import MetricError
from ganforge.fileio import atomic_path
from ganforge.metrics.detectors import load_detector
from ganforge.progress import progress as progress_bar
from ganforge.tools.runner import run_generator

logger = logging.getLogger(__name__)

DetectorLoader = Callable[[str, "str | None"], nn.Module]
CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where dataset feature statistics are cached: $GANFORGE_CACHE_DIR or ~/.cache/ganforge/metrics."""
    env = os.environ.get("GANFORGE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ganforge" / "metrics"


class FeatureStats:
    """Accumulates detector outputs [N, D]: all rows (`capture_all`) and/or float64 sums for mean/cov."""

    def __init__(self, capture_all: bool = False, capture_mean_cov: bool = False) -> None:
        self.capture_all = capture_all
        self.capture_mean_cov = capture_mean_cov
        self.num_items = 0
        self.rows: list[np.ndarray] = []
        self.sum: np.ndarray | None = None
        self.sum_sq: np.ndarray | None = None

    def append(self, x: np.ndarray) -> None:
        """Add rows x [n, D]."""
        x = np.asarray(x, dtype=np.float32)
        self.num_items += len(x)
        if self.capture_all:
            self.rows.append(x)
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            if self.sum is None:
                self.sum = np.zeros(x.shape[1])
                self.sum_sq = np.zeros([x.shape[1], x.shape[1]])
            self.sum += x64.sum(axis=0)
            self.sum_sq += x64.T @ x64

    def merge(self, other: FeatureStats) -> None:
        """Add the rows and sums of `other` (another rank's share)."""
        self.num_items += other.num_items
        self.rows.extend(other.rows)
        if other.sum is not None:
            self.sum = other.sum.copy() if self.sum is None else self.sum + other.sum
            self.sum_sq = other.sum_sq.copy() if self.sum_sq is None else self.sum_sq + other.sum_sq

    def all(self) -> np.ndarray:
        """Every row, float32 [N, D]."""
        if not self.capture_all:
            raise ValueError("FeatureStats: rows were not captured (capture_all=False)")
        return np.concatenate(self.rows) if len(self.rows) != 1 else self.rows[0]

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Float64 mean [D] and biased covariance [D, D]."""
        if not self.capture_mean_cov or self.sum is None:
            raise ValueError("FeatureStats: no mean/covariance sums (capture_mean_cov=False or no rows)")
        mean = self.sum / self.num_items
        return mean, self.sum_sq / self.num_items - np.outer(mean, mean)

    def save(self, path: Path) -> None:
        """Write to `path` (.npz) atomically."""
        arrays = {"num_items": np.array(self.num_items)}
        if self.capture_all:
            arrays["all"] = self.all()
        if self.capture_mean_cov:
            arrays["sum"], arrays["sum_sq"] = self.sum, self.sum_sq
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> FeatureStats:
        """Read statistics written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            stats = cls(capture_all="all" in data, capture_mean_cov="sum" in data)
            stats.num_items = int(data["num_items"])
            if stats.capture_all:
                stats.rows = [data["all"]]
            if stats.capture_mean_cov:
                stats.sum, stats.sum_sq = data["sum"], data["sum_sq"]
        return stats


@dataclass
class MetricOptions:
    """What the metrics run on: the generator, the real data and where and how to evaluate.

    `G` is the generator (G_ema of a snapshot); `data` a dataset zip or folder, mirrored when
    `xflip`. `detector_path` is an explicit weights file for the weighted detectors;
    `detector_loader(name, path)` loads a detector by name (tests pass their own). `seed` fixes
    the generated samples; `num_gen`, when set, overrides each metric's generated sample count.
    """

    G: nn.Module | None = None
    data: str | os.PathLike[str] | None = None
    xflip: bool = False
    detector_path: str | None = None
    detector_loader: DetectorLoader = load_detector
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 64
    seed: int = 0
    num_gen: int | None = None
    cache: bool = True
    rank: int = 0
    num_gpus: int = 1
    progress: bool | None = None
    _detectors: dict[str, nn.Module] = field(default_factory=dict, repr=False)
    _generated: dict[tuple[str, int, str], FeatureStats] = field(default_factory=dict, repr=False)

    def detector(self, name: str) -> nn.Module:
        """Detector `name` on the metric device, loaded once per options object."""
        if name not in self._detectors:
            path = None if name == "digits" else self.detector_path
            detector = self.detector_loader(name, path).eval().requires_grad_(False)
            self._detectors[name] = detector.to(self.device)
        return self._detectors[name]

    def for_new_weights(self) -> MetricOptions:
        """A copy for the same generator with changed weights: detectors kept, generated features not."""
        return dataclasses.replace(self, _generated={})

    def dataset(self, use_labels: bool = False) -> ImageDataset:
        """The real data (mirrored when `xflip`)."""
        if self.data is None:
            raise MetricError("This metric needs the real data; pass the dataset with --data.")
        return ImageDataset(self.data, use_labels=use_labels, xflip=self.xflip)

    def generator(self) -> nn.Module:
        """The generator, or a MetricError when there is none."""
        if self.G is None:
            raise MetricError("This metric needs a generator; pass a network file with --network.")
        return self.G


def _my_batches(num_items: int, opts: MetricOptions) -> list[range]:
    """This rank's share of the item batches: batch j goes to rank j % num_gpus."""
    starts = range(0, num_items, opts.batch_size)[opts.rank :: opts.num_gpus]
    return [range(start, min(start + opts.batch_size, num_items)) for start in starts]


def _gather(stats: FeatureStats, opts: MetricOptions) -> FeatureStats:
    """Merge the statistics of all ranks on every rank, rows back in single-process order.

    Each rank appended one row block per batch of `_my_batches`, so global batch j is block
    j // num_gpus of rank j % num_gpus.
    """
    if opts.num_gpus == 1:
        return stats
    parts: list[FeatureStats | None] = [None] * opts.num_gpus
    torch.distributed.all_gather_object(parts, stats)
    merged = FeatureStats(stats.capture_all, stats.capture_mean_cov)
    for part in parts:
        merged.merge(part)
    num_blocks = sum(len(part.rows) for part in parts)
    merged.rows = [parts[j % opts.num_gpus].rows[j // opts.num_gpus] for j in range(num_blocks)]
    return merged


def _detect(detector: nn.Module, images: torch.Tensor, output: str, device: torch.device) -> np.ndarray:
    """Run the detector on uint8 NCHW images; return output `output` ("features" or "logits")."""
    with torch.no_grad():
        result = detector(images.to(device))
    if output not in result:
        raise MetricError(f"Detector '{detector.name}' gives no {output}; it cannot compute this metric.")
    return result[output].float().cpu().numpy()


def _cache_file(opts: MetricOptions, dataset: ImageDataset, detector_name: str, key: dict) -> Path:
    """The cache file for dataset statistics: named by dataset and detector, hashed over everything else."""
    path = Path(opts.data).resolve()
    stat = path.stat()
    key = dict(key, version=CACHE_VERSION, path=str(path), size=stat.st_size, mtime=stat.st_mtime_ns,
               xflip=opts.xflip, detector=detector_name)
    digest = hashlib.md5(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{dataset.name}-{detector_name}-{digest}.npz"


def dataset_features(
    opts: MetricOptions,
    detector_name: str,
    *,
    output: str = "features",
    capture_all: bool = False,
    capture_mean_cov: bool = False,
    max_items: int | None = None,
) -> FeatureStats:
    """Detector outputs over the real data (the first `max_items` items), from the cache when there."""
    dataset = opts.dataset()
    detector = opts.detector(detector_name)
    key = dict(output=output, capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=max_items)
    cache_file = _cache_file(opts, dataset, detector.name, key) if opts.cache else None
    if cache_file is not None and cache_file.is_file():
        logger.info("Dataset statistics from cache '%s'", cache_file)
        return FeatureStats.load(cache_file)

    num_items = len(dataset) if max_items is None else min(len(dataset), max_items)
    # An own generator: the loader must not draw from the global RNG (training resumes bit-exactly).
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=_my_batches(num_items, opts), generator=torch.Generator()
    )
    stats = FeatureStats(capture_all, capture_mean_cov)
    batches = progress_bar(loader, total=len(loader), desc="dataset features", enabled=opts.progress)
    for images, _labels in batches:
        stats.append(_detect(detector, images, output, opts.device))
    stats = _gather(stats, opts)
    if cache_file is not None and opts.rank == 0:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        stats.save(cache_file)
    return stats


def _to_uint8_nchw(img: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] to uint8 NCHW, rounded as the official metrics do."""
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def sample_labels(opts: MetricOptions, G: nn.Module, num: int) -> torch.Tensor:
    """Labels [num, c_dim] drawn (seeded) from the real data's labels, as the official metrics do."""
    if G.c_dim == 0:
        return torch.zeros([num, 0])
    dataset = opts.dataset(use_labels=True)
    if dataset.label_dim != G.c_dim:
        raise MetricError(
            f"The generator takes {G.c_dim} label values but dataset '{opts.data}' has "
            f"{dataset.label_dim}; pass the labelled dataset the network was trained on."
        )
    picks = np.random.RandomState(opts.seed).randint(len(dataset), size=num)
    return torch.from_numpy(np.stack([dataset.get_label(i) for i in picks]))


def generator_features(
    opts: MetricOptions,
    detector_name: str,
    num_gen: int,
    *,
    output: str = "features",
    labels: torch.Tensor | None = None,
) -> FeatureStats:
    """Detector outputs over `num_gen` images of G (truncation 1, random noise, as the official metrics).

    Latents are drawn from a generator seeded with `opts.seed`; labels are `labels` [num_gen, c_dim]
    when given, else sampled from the real data. Each batch's noise is seeded by its index. The
    statistics hold every row and the mean/cov sums; with labels sampled from the data they are
    kept in `opts`, so metrics sharing a detector and sample count (fid + kid) generate once.
    """
    key = (detector_name, num_gen, output)
    if labels is None and key in opts._generated:
        return opts._generated[key]
    stats = _generate(opts, detector_name, num_gen, output, labels)
    if labels is None:
        opts._generated[key] = stats
    return stats


def _generate(
    opts: MetricOptions, detector_name: str, num_gen: int, output: str, labels: torch.Tensor | None
) -> FeatureStats:
    G = opts.generator()
    z = torch.randn([num_gen, G.z_dim], generator=torch.Generator().manual_seed(opts.seed))
    c = sample_labels(opts, G, num_gen) if labels is None else labels
    detector = opts.detector(detector_name)
    stats = FeatureStats(capture_all=True, capture_mean_cov=True)
    starts = [batch.start for batch in _my_batches(num_gen, opts)]
    devices = []
    if opts.device.type == "cuda":
        devices = [torch.cuda.current_device() if opts.device.index is None else opts.device.index]
    for start in progress_bar(starts, total=len(starts), desc="generator features", enabled=opts.progress):
        end = start + opts.batch_size
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(opts.seed * 1_000_003 + start)
            images = run_generator(
                G, z[start:end], c[start:end], batch_size=opts.batch_size, noise_mode="random",
                device=opts.device, progress=False, output_transform=_to_uint8_nchw,
            )
        stats.append(_detect(detector, images, output, opts.device))
    return _gather(stats, opts)
