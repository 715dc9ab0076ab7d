"""The on-disk cache of dataset feature statistics, so a second evaluation skips the detector.

One .npz per dataset file state (path, size, mtime), statistics options and detector, in
$GANFORGE_CACHE_DIR or ~/.cache/ganforge/metrics. The detector enters the key by a SHA-256 of its
tensors, not by its name, so two different weights files that both call themselves
'inception-2015-12-05' never share an entry. Entries are read without pickle; one that cannot be
read or does not hold what was asked for is ignored with a warning (and then rewritten), and one
that cannot be written costs only the time to recompute it next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.errors import OutputError
from ganforge.metrics.feature_stats import FeatureStats

logger = logging.getLogger(__name__)

CACHE_VERSION = 2


def cache_dir() -> Path:
    """Where dataset feature statistics are cached: $GANFORGE_CACHE_DIR or ~/.cache/ganforge/metrics."""
    env = os.environ.get("GANFORGE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ganforge" / "metrics"


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and values): which weights a detector has."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_path(
    data: str | os.PathLike[str],
    dataset_name: str,
    detector_name: str,
    detector_digest: str,
    key: dict[str, Any],
) -> Path:
    """The cache file for dataset `data`'s statistics: named by dataset and detector, hashed over the rest."""
    path = Path(data).resolve()
    stat = path.stat()
    key = dict(key, version=CACHE_VERSION, path=str(path), size=stat.st_size, mtime=stat.st_mtime_ns,
               detector=detector_name, detector_sha256=detector_digest)
    digest = hashlib.md5(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{dataset_name}-{detector_name}-{digest}.npz"


def load_cached(
    path: Path, *, num_items: int, capture_all: bool, capture_mean_cov: bool, dim: int | None
) -> FeatureStats | None:
    """The statistics cached at `path` if it holds what was asked for; None (with a warning) otherwise."""
    if not path.is_file():
        return None
    try:
        stats = FeatureStats.load(path)
    except Exception as exc:  # a cache entry is disposable: anything unreadable is recomputed
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        problem = _mismatch(stats, num_items, capture_all, capture_mean_cov, dim)
    if problem:
        logger.warning("Ignoring the dataset statistics cache %s (%s); recomputing them.", path, problem)
        return None
    logger.info("Dataset statistics from cache '%s'", path)
    return stats


def _mismatch(
    stats: FeatureStats, num_items: int, capture_all: bool, capture_mean_cov: bool, dim: int | None
) -> str | None:
    """What `stats` lacks of the request, or None."""
    if (capture_all and not stats.capture_all) or (capture_mean_cov and not stats.capture_mean_cov):
        return "it lacks the statistics asked for"
    if stats.num_items != num_items:
        return f"it counts {stats.num_items} images, the dataset {num_items}"
    if dim and stats.dim != dim:
        return f"it holds {stats.dim} values per image, the detector gives {dim}"
    return None


def save_cached(stats: FeatureStats, path: Path) -> None:
    """Cache `stats` at `path`; a cache that cannot be written is a warning, not an error."""
    try:
        stats.save(path)
    except (OSError, OutputError) as exc:
        logger.warning("Could not cache the dataset statistics (%s); they will be recomputed next time.", exc)
