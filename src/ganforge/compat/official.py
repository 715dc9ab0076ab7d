"""Official StyleGAN2-ADA-PyTorch network pickles (`network-snapshot-*.pkl`) as ganforge networks.

The file is read with `SafeUnpickler` (no code from the file runs); each network record is rebuilt
as the ganforge class of the same official name from its recorded constructor arguments, and its
parameters and buffers are loaded by their official dotted names with `strict=True`.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from torch import nn

from ganforge.augment.pipeline import AugmentPipe
from ganforge.compat.bounded import bounded_network, load_checked
from ganforge.compat.checkpoint import HEAD_BYTES, ZIP_MAGIC, is_checkpoint
from ganforge.compat.r3gan import convert_r3gan_pickle, is_r3gan_pickle
from ganforge.compat.records import collect_tensors
from ganforge.compat.safe_unpickle import OfficialObject, safe_load
from ganforge.compat.tf_legacy import convert_tf_pickle, is_tf_pickle
from ganforge.errors import NetworkFileError
from ganforge.fileio import atomic_path
from ganforge.models import stylegan2

logger = logging.getLogger(__name__)

NetworkSource = str | os.PathLike[str] | BinaryIO
"""A local path, an http(s) URL, or an open binary file."""

OFFICIAL_CLASSES: dict[str, type[nn.Module]] = {
    "Generator": stylegan2.Generator,
    "Discriminator": stylegan2.Discriminator,
    "MappingNetwork": stylegan2.MappingNetwork,
    "SynthesisNetwork": stylegan2.SynthesisNetwork,
    "AugmentPipe": AugmentPipe,
}
"""Official class name (as a pickle records it) -> the ganforge class that rebuilds it."""

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The number a torch.save file of the legacy (non-zip) format pickles first."""

NETWORK_KEYS = ("G", "D", "G_ema")
"""Keys of a training snapshot that must hold networks ganforge can rebuild."""

_SINGLE_NETWORK_KEYS = {"Generator": "G_ema", "Discriminator": "D"}
"""Key under which a pickle holding one bare network returns it (else its official class name)."""


def cache_dir() -> Path:
    """Where downloaded network files are kept: `$GANFORGE_CACHE_DIR`, else `~/.cache/ganforge`."""
    return Path(os.environ.get("GANFORGE_CACHE_DIR") or Path.home() / ".cache" / "ganforge")


def is_url(source: object) -> bool:
    """Whether `source` is an http(s) URL rather than a local path."""
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def download(url: str) -> Path:
    """Download `url` into the cache (once; later calls reuse the file) and return the local path."""
    name = Path(urllib.parse.urlparse(url).path).name or "network.pkl"
    dest = cache_dir() / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}_{name}"
    if dest.is_file():
        return dest
    logger.info("Downloading %s to %s", url, dest)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(dest) as tmp:
            with open(tmp, "wb") as f:
                shutil.copyfileobj(response, f)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkFileError(
            f"cannot download {url}: {reason}; check the address and your connection, "
            "or download the file yourself and pass its local path"
        ) from exc
    return dest


@contextlib.contextmanager
def open_source(source: NetworkSource) -> Iterator[tuple[BinaryIO, str]]:
    """Open a network source for reading as a seekable binary file; yield it with a name for messages."""
    if isinstance(source, str | os.PathLike):
        path = download(str(source)) if is_url(source) else Path(source)
        name = str(source)
        try:
            f = open(path, "rb")
        except FileNotFoundError as exc:
            raise NetworkFileError(f"network file {name} does not exist") from exc
        except OSError as exc:
            raise NetworkFileError(f"cannot open network file {name}: {exc.strerror or exc}") from exc
        with f:
            yield f, name
        return
    name = str(getattr(source, "name", "<stream>"))
    yield (source if source.seekable() else io.BytesIO(source.read())), name


def load_network_pkl(source: NetworkSource) -> dict[str, Any]:
    """Read an official network pickle (path, URL or binary file) without running code from it.

    Returns the pickled dict with 'G', 'D', 'G_ema' (and any other value that is an official
    network) as ganforge modules in eval mode with `requires_grad` off, like the official loader.
    `augment_pipe` becomes a ganforge `AugmentPipe` (with its `p`); other values stay plain data
    (`training_set_kwargs` a dict). A pickle holding one bare network returns it as {'G_ema': G}
    for a Generator, {'D': D} for a Discriminator, else under its official class name. A legacy
    TensorFlow StyleGAN2, StyleGAN2-ADA or StyleGAN pickle (G, D, Gs) is converted
    (`ganforge.compat.tf_legacy`) to {'G', 'D', 'G_ema'}; an R3GAN snapshot's networks become
    `ganforge.models.r3gan` ones (`ganforge.compat.r3gan`).
    """
    with open_source(source) as (f, name):
        return read_network_pkl(f, name)


def read_network_pkl(f: BinaryIO, name: str) -> dict[str, Any]:
    """`load_network_pkl` on an open binary file; `name` identifies it in error messages."""
    start = f.tell()
    head = f.read(HEAD_BYTES)
    f.seek(start)
    if is_checkpoint(head):
        raise NetworkFileError(
            f"{name} is a ganforge checkpoint, not a network pickle: read it with "
            "ganforge.compat.load_network"
        )
    if head.startswith(ZIP_MAGIC):
        raise NetworkFileError(f"{name} is a zip file, not a network pickle")
    data = safe_load(f, name)
    if is_tf_pickle(data):
        return convert_tf_pickle(data, name)
    if is_r3gan_pickle(data):
        return convert_r3gan_pickle(data, name)
    if isinstance(data, OfficialObject):
        data = {_SINGLE_NETWORK_KEYS.get(data.class_name, data.class_name): data}
    if not isinstance(data, dict):
        if data == TORCH_LEGACY_MAGIC:
            raise NetworkFileError(
                f"{name} is a torch.save file of the legacy (pre-zip) format, not a network pickle or "
                "ganforge checkpoint"
            )
        raise NetworkFileError(f"{name} is not a network pickle: it holds a {type(data).__name__}")
    result: dict[str, Any] = {}
    for key, value in data.items():
        is_network = isinstance(value, OfficialObject) and (
            value.class_name in OFFICIAL_CLASSES or key in NETWORK_KEYS
        )
        if is_network:
            result[key] = build_network(value, name)
        else:
            result[key] = value
    if not any(isinstance(v, nn.Module) for v in result.values()):
        raise NetworkFileError(f"{name} holds no networks (keys: {', '.join(map(str, data)) or 'none'})")
    return result


def build_network(record: OfficialObject, source: str) -> nn.Module:
    """The ganforge network for an official record: constructed from its arguments, weights loaded."""
    cls = OFFICIAL_CLASSES.get(record.class_name)
    if cls is None:
        raise NetworkFileError(
            f"{source}: network class {record.class_name!r} is not one ganforge can rebuild "
            f"(supported: {', '.join(OFFICIAL_CLASSES)})"
        )
    kwargs = official_kwargs(cls, record, source)
    state, what = collect_tensors(record, source), f"{source}: the {record.class_name}"
    return load_checked(bounded_network(cls, kwargs, state, what), state, what)


def official_kwargs(cls: type[nn.Module], record: OfficialObject, source: str) -> dict[str, Any]:
    """The record's constructor arguments as keywords, positional ones named by the class signature."""
    signature = inspect.signature(cls)
    try:
        bound = signature.bind(*record.init_args, **record.init_kwargs)
    except TypeError as exc:
        raise NetworkFileError(
            f"{source}: the arguments of {record.class_name} do not fit ganforge's {cls.__name__}: {exc}"
        ) from exc
    kwargs: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            kwargs.update(value)
        else:
            kwargs[name] = value
    return kwargs
