"""Detector outputs over a dataset or a generator, gathered into `FeatureStats`.

Dataset statistics are cached on disk (see `stats_cache`), so the second evaluation against the
same data skips the detector. Under torchrun each rank takes every `num_gpus`-th batch and the
partial statistics are merged on every rank in single-process order; generated samples are seeded
per batch, so the results do not depend on the number of ranks.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ganforge.data.dataset import ImageDataset
from ganforge.detectors import load_detector
from ganforge.detectors.opaque import opaque_uint8
from ganforge.errors import MetricError
from ganforge.inference.runner import run_generator
from ganforge.metrics.feature_stats import FeatureStats
from ganforge.metrics.stats_cache import cache_path, load_cached, save_cached, weights_digest
from ganforge.progress import progress as progress_bar

DetectorLoader = Callable[[str, "str | None"], nn.Module]


@dataclass
class MetricOptions:
    """What the metrics run on: the generator, the real data and where and how to evaluate.

    `G` is the generator (G_ema of a snapshot); `data` a dataset zip or folder, mirrored when
    `xflip` (the legacy metrics only; `compute_metric` clears it for the others). `detector_path` is
    an explicit weights file for the weighted detectors;
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
    _generated: dict[tuple[str, int, str, bool], FeatureStats] = field(default_factory=dict, repr=False)
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    def detector(self, name: str) -> nn.Module:
        """Detector `name` on the metric device, loaded once per options object."""
        if name not in self._detectors:
            path = None if name == "digits" else self.detector_path
            detector = self.detector_loader(name, path).eval().requires_grad_(False)
            self._detectors[name] = detector.to(self.device)
        return self._detectors[name]

    def detector_digest(self, name: str) -> str:
        """SHA-256 of detector `name`'s weights (computed once per options object)."""
        if name not in self._digests:
            self._digests[name] = weights_digest(self.detector(name))
        return self._digests[name]

    def for_new_weights(self) -> MetricOptions:
        """A copy for the same generator with changed weights: detectors kept, generated features not."""
        return dataclasses.replace(self, _generated={})

    def dataset(self, use_labels: bool = False) -> ImageDataset:
        """The real data (mirrored when `xflip`)."""
        if self.data is None:
            raise MetricError(
                "this metric needs the real data; pass the dataset zip or folder.", param="data"
            )
        return ImageDataset(self.data, use_labels=use_labels, xflip=self.xflip)

    def generator(self) -> nn.Module:
        """The generator, or a MetricError when there is none."""
        if self.G is None:
            raise MetricError("this metric needs a generator; none was given.", param="G")
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
    """Run the detector on uint8 NCHW images (RGBA ones made opaque, see detectors.opaque); return output
    `output` ("features" or "logits")."""
    with torch.no_grad():
        result = detector(opaque_uint8(images).to(device))
    if output not in result:
        raise MetricError(f"Detector '{detector.name}' gives no {output}; it cannot compute this metric.")
    return result[output].float().cpu().numpy()


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
    num_items = len(dataset) if max_items is None else min(len(dataset), max_items)
    cache_file = None
    if opts.cache:
        key = dict(output=output, capture_all=capture_all, capture_mean_cov=capture_mean_cov,
                   max_items=max_items, xflip=opts.xflip)
        digest = opts.detector_digest(detector_name)
        cache_file = cache_path(opts.data, dataset.name, detector.name, digest, key)
        dim = getattr(detector, "feature_dim" if output == "features" else "num_classes", None)
        cached = load_cached(cache_file, num_items=num_items, capture_all=capture_all,
                             capture_mean_cov=capture_mean_cov, dim=dim)
        if cached is not None:
            return cached

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
        save_cached(stats, cache_file)
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
    key = (detector_name, num_gen, output, opts.xflip)  # labels are drawn from the (mirrored) data
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
