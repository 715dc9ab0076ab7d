"""Finding, downloading and loading the weight files of the public detectors (Inception, VGG16, LPIPS).

Weights are looked up in this order: an explicit path (`ganforge metrics --detector PATH`),
`$GANFORGE_DETECTOR_DIR`, `~/.cache/ganforge/detectors`, then downloaded from the public URL into
the detector folder unless `GANFORGE_OFFLINE=1`. Files are read with `torch.load(weights_only=True)`
only: a weights file can never run code, and a detector is never built from random weights.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ganforge.errors import MetricError
from ganforge.fileio import atomic_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsFile:
    """A public weights file: the name it is kept under and where it is published."""

    file_name: str
    url: str
    what: str


KNOWN_WEIGHTS: dict[str, WeightsFile] = {
    "inception": WeightsFile(
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth",
        "FID Inception-v3 (2015-12-05 graph, pytorch-fid state dict)",
    ),
    "vgg16": WeightsFile(
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "VGG16 (torchvision ImageNet state dict)",
    ),
    "lpips": WeightsFile(
        "lpips-vgg-v0.1.pth",
        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
        "LPIPS v0.1 linear layers for VGG16",
    ),
}
"""Detector kind -> its weights file."""

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.pth$")
"""torch hub convention: a file name ending in `-<sha256 prefix>.pth`."""


def default_detector_dir() -> Path:
    """The folder downloads go to: `$GANFORGE_DETECTOR_DIR`, else `~/.cache/ganforge/detectors`."""
    env = os.environ.get("GANFORGE_DETECTOR_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ganforge" / "detectors"


def _search_dirs() -> list[Path]:
    """Folders searched for a known weights file, in order."""
    dirs = [default_detector_dir(), Path.home() / ".cache" / "ganforge" / "detectors"]
    return list(dict.fromkeys(dirs))


def _offline() -> bool:
    return os.environ.get("GANFORGE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_weights(kind: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Return a local weights file for detector `kind` ("inception", "vgg16" or "lpips").

    An explicit `path` must exist (a folder means the known file name inside it). Otherwise the
    known file is looked up in the detector folders and, when online, downloaded into
    `default_detector_dir()`. Raises MetricError saying what to download and where to put it.
    """
    if kind not in KNOWN_WEIGHTS:
        raise MetricError(f"Unknown detector weights {kind!r}; known: {', '.join(KNOWN_WEIGHTS)}.")
    spec = KNOWN_WEIGHTS[kind]
    if path is not None:
        explicit = Path(path)
        if explicit.is_dir():
            explicit = explicit / spec.file_name
        if not explicit.is_file():
            raise MetricError(
                f"Detector weights file {explicit} does not exist; for the {spec.what} weights "
                f"download {spec.url} and pass its path."
            )
        return explicit
    for folder in _search_dirs():
        candidate = folder / spec.file_name
        if candidate.is_file():
            return candidate
    dest = default_detector_dir() / spec.file_name
    if _offline():
        reason = "GANFORGE_OFFLINE is set, so nothing is downloaded"
    else:
        try:
            return _download(spec, dest)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = f"downloading {spec.url} failed ({getattr(exc, 'reason', exc)})"
    searched = ", ".join(str(d) for d in _search_dirs())
    raise MetricError(
        f"No {spec.what} weights: {spec.file_name} is not in {searched} and {reason}. "
        f"Download {spec.url} and save it as {dest} (or set GANFORGE_DETECTOR_DIR to the folder "
        "holding it, or pass the file with `ganforge metrics --detector PATH`)."
    )


def _download(spec: WeightsFile, dest: Path) -> Path:
    """Download `spec.url` atomically to `dest`, checking the hash prefix its name carries."""
    logger.info("Downloading %s to %s", spec.url, dest)
    digest = hashlib.sha256()
    with urllib.request.urlopen(spec.url, timeout=60) as response, atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        match = _HASH_IN_NAME.search(spec.file_name)
        if match and not digest.hexdigest().startswith(match.group(1)):
            raise ValueError(f"the downloaded file's sha256 does not start with {match.group(1)}")
    return dest


def read_state_dict(path: Path, what: str, url: str) -> dict[str, torch.Tensor]:
    """Read a weights-only state dict (str -> tensor) from `path`; MetricError if it is anything else."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file becomes one clear message
        raise MetricError(
            f"Cannot read {path} as a {what} state dict ({type(exc).__name__}: {str(exc)[:200]}); "
            f"ganforge reads plain weights files only, e.g. {url}."
        ) from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise MetricError(f"{path} is not a {what} state dict (a mapping of names to tensors).")
    return dict(state)


def _listed(names: Iterable[str], limit: int = 6) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_mapped_state_dict(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    key_map: Mapping[str, str],
    source: Path,
    what: str,
    ignored_prefixes: tuple[str, ...] = (),
) -> None:
    """Copy `state` into `module`, renaming file keys to module keys with `key_map`.

    Every mapped key must be in the file with the module's shape, except BatchNorm's
    `num_batches_tracked` counters (absent from older files); file keys that are neither mapped nor
    under `ignored_prefixes` are refused. Raises MetricError naming the offending keys.
    """
    missing = [k for k in key_map if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in key_map and not k.startswith(ignored_prefixes)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {_listed(missing)}")
        if extra:
            parts.append(f"unexpected keys {_listed(extra)}")
        raise MetricError(f"{source} is not a {what} weights file: {'; '.join(parts)}.")
    targets = module.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for file_key, module_key in key_map.items():
        if file_key not in state:
            continue
        tensor = state[file_key]
        if tensor.shape != targets[module_key].shape:
            raise MetricError(
                f"{source} is not a {what} weights file: {file_key} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(targets[module_key].shape)}."
            )
        mapped[module_key] = tensor
    module.load_state_dict(mapped, strict=False)


def load_known_weights(
    module: torch.nn.Module,
    kind: str,
    path: str | os.PathLike[str] | None,
    key_map: Mapping[str, str],
    ignored_prefixes: tuple[str, ...] = (),
) -> None:
    """Fill `module` from the weights of detector `kind`: `resolve_weights`, `read_state_dict`, then
    `load_mapped_state_dict` with `key_map` (see those for the lookup and the checks)."""
    spec = KNOWN_WEIGHTS[kind]
    file = resolve_weights(kind, path)
    state = read_state_dict(file, spec.what, spec.url)
    load_mapped_state_dict(module, state, key_map, file, spec.what, ignored_prefixes=ignored_prefixes)
