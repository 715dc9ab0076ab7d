"""ganforge network checkpoints: networks rebuilt from registry name, kwargs and state.

A checkpoint is a `torch.save` archive of plain data only::

    {"format": "ganforge-checkpoint", "version": 1,
     "networks": {key: {"class": registry name, "kwargs": init_kwargs, "state": state_dict}},
     "extra": JSON-able data,
     "training_state": tensors and plain data (optional; training snapshots only)}

so it is read back with `torch.load(weights_only=True)` and every network is rebuilt from the
registry. Users read checkpoints (and official pickles) with `ganforge.compat.load_network`.
Every network read from a file, checkpoint or not, is built by `bounded_network`, which never
allocates much more than the file's tensors take, however large a network its arguments describe.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import threading
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_parameter_registration_hook,
)
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

from ganforge.compat import registry
from ganforge.data.formats.images import IMAGE_EXTENSIONS
from ganforge.errors import NetworkFileError
from ganforge.fileio import atomic_open

FORMAT = "ganforge-checkpoint"
VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of every checkpoint (`torch.save` writes zip archives)."""

HEAD_BYTES = 1 << 16
"""How much of a file's start holds a checkpoint's FORMAT marker (torch.save writes data.pkl first)."""

MAX_ARGUMENT = 1 << 24
"""The largest integer a stored constructor argument may hold (channels, resolution, layer counts)."""

MAX_LIST = 256
"""The longest list a stored constructor argument may hold (resample filters have 2-8 taps)."""

_REMAKE = "remake it with the command that wrote it (training, ganforge convert) or use an earlier snapshot"


class DamagedCheckpointError(NetworkFileError):
    """A ganforge checkpoint that cannot be read in full: truncated, corrupt, or its tensors do not
    fit its arguments. Training catches it to fall back to an earlier snapshot."""


def save_network_checkpoint(
    path: str | os.PathLike[str],
    networks: Mapping[str, nn.Module],
    extra: Mapping[str, Any] | None = None,
    training_state: Mapping[str, Any] | None = None,
) -> None:
    """Write `networks` (key -> registered network) and JSON-able `extra` to `path` atomically.

    `load_network` returns the networks and the `extra` items side by side in one dict, so their
    keys must differ. `training_state` (optimiser states, counters: tensors and plain data only) is
    stored beside them for resuming training; `load_network` ignores it, `read_training_state`
    returns it.
    """
    if not networks:
        raise ValueError("save_network_checkpoint needs at least one network")
    extra = dict(extra or {})
    clash = sorted(set(networks) & set(extra))
    if clash:
        raise ValueError(f"extra keys {clash} clash with network keys")
    _check_json(extra, "extra")
    entries = {}
    for key, network in networks.items():
        class_name = registry.name_of(network)
        kwargs = getattr(network, "init_kwargs", None)
        if not isinstance(kwargs, dict):
            raise ValueError(f"network {key!r} ({type(network).__name__}) has no init_kwargs dict")
        _check_json(kwargs, f"{key}.init_kwargs")
        state = {name: tensor.cpu() for name, tensor in network.state_dict().items()}
        entries[key] = {"class": class_name, "kwargs": kwargs, "state": state}
    payload: dict[str, Any] = {"format": FORMAT, "version": VERSION, "networks": entries, "extra": extra}
    if training_state is not None:
        _check_plain(training_state, "training_state")
        payload["training_state"] = _to_cpu(training_state)
    with atomic_open(path) as f:  # a file object: write errors surface as OSError, not RuntimeError
        torch.save(payload, f)


def save_network(
    path: str | os.PathLike[str], extra: Mapping[str, Any] | None = None, **networks: nn.Module
) -> None:
    """`save_network_checkpoint` with networks as keyword arguments: `save_network(p, G=G, G_ema=G_ema)`."""
    save_network_checkpoint(path, networks, extra)


def is_checkpoint(head: bytes) -> bool:
    """Whether `head`, the first `HEAD_BYTES` of a file, starts a ganforge checkpoint (whole or not)."""
    return head.startswith(ZIP_MAGIC) and FORMAT.encode() in head


def read_checkpoint(f: BinaryIO, name: str) -> dict[str, Any]:
    """The networks and extra data of a ganforge checkpoint open as `f` (`name` for messages).

    Raises `DamagedCheckpointError` for a checkpoint that is truncated or corrupt, and
    `NetworkFileError` saying what the file is when it is no checkpoint at all.
    """
    data = _read_payload(f, name)
    networks, extra = data.get("networks"), data.get("extra", {})
    if not isinstance(networks, dict) or not isinstance(extra, dict):
        raise DamagedCheckpointError(f"{name}: malformed ganforge checkpoint (networks or extra not a dict)")
    result: dict[str, Any] = {key: _rebuild(key, entry, name) for key, entry in networks.items()}
    result.update(extra)
    return result


def read_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `training_state` stored in the checkpoint at `path`.

    `DamagedCheckpointError` if the checkpoint is truncated or corrupt, `NetworkFileError` if it is
    missing, no checkpoint, or holds no training state.
    """
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise NetworkFileError(f"cannot open snapshot {path}: {exc.strerror or exc}") from exc
    with f:
        data = _read_payload(f, str(path))
    state = data.get("training_state")
    if not isinstance(state, dict):
        raise NetworkFileError(f"{path} holds no training state; resume needs a snapshot written by training")
    return state


def rebuild_network(
    cls: type[nn.Module],
    kwargs: dict[str, Any],
    state: Mapping[str, Any],
    what: str,
    error: type[NetworkFileError] = NetworkFileError,
) -> nn.Module:
    """`cls(**kwargs)` with `state` loaded strictly, in eval mode with `requires_grad` off.

    The network is built by `bounded_network`, within what the tensors of `state` take, and its
    tensors' names and shapes are checked against them before loading; failures raise `error` with
    a message starting with `what`.
    """
    network = bounded_network(cls, kwargs, state, what, error)
    problem = state_mismatch(network, state)
    if problem:
        raise error(f"{what}: the stored tensors do not fit its arguments: {problem}")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise error(f"{what}: cannot load its tensors: {' '.join(str(exc).split())}") from exc
    return network.eval().requires_grad_(False)


def bounded_network(
    cls: type[nn.Module],
    kwargs: dict[str, Any],
    stored: Mapping[str, Any],
    what: str,
    error: type[NetworkFileError] = NetworkFileError,
) -> nn.Module:
    """`cls(**kwargs)` for a file whose tensors for it are `stored`, built only as far as they could fill it.

    Arguments that no network has (integers above `MAX_ARGUMENT`, lists longer than `MAX_LIST`) are
    refused first; then every tensor the constructor creates is sized on the meta device before it is
    allocated, and building stops with `error` once they would take more than 4x the stored bytes
    (plus 16 MiB), or number more than 4x the stored tensors (plus 64): a small file can never make
    this allocate a large network.
    """
    _check_arguments(kwargs, what, error)
    size = sum(_nbytes(value) for value in stored.values())
    budget, limit = 4 * size + (16 << 20), 4 * len(stored) + 64
    try:
        with _tensor_budget(limit), _AllocationBudget(budget):
            return cls(**kwargs)
    except _TooManyTensors:
        raise error(
            f"{what}: its arguments describe a network of more than {limit} tensors, but the file holds "
            f"{len(stored)}"
        ) from None
    except _TooLarge:
        raise error(
            f"{what}: its arguments describe a network larger than {_size(budget)}, far more than its "
            f"{len(stored)} stored tensors take ({_size(size)})"
        ) from None
    except Exception as exc:
        raise error(f"{what}: cannot be built from its arguments: {exc}") from exc


def state_mismatch(network: nn.Module, state: Mapping[str, Any]) -> str:
    """How the tensors of `state` differ from those `network` has, by name and shape ('' if they fit)."""
    expected = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = []
    for key, value in state.items():
        if key not in expected:
            continue
        if not isinstance(value, torch.Tensor):
            wrong.append(f"{key} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != expected[key]:
            wrong.append(f"{key} {list(value.shape)} (arguments: {list(expected[key])})")
    parts = [
        f"{len(names)} {label} ({_some(names)})"
        for names, label in ((missing, "missing"), (unexpected, "unexpected"), (wrong, "of another shape"))
        if names
    ]
    if not parts:
        return ""
    count = f"{len(expected)} tensors needed, {len(state)} stored"
    return f"{count}; {'; '.join(parts)}"


def _some(items: list[str], shown: int = 2) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


class _TooManyTensors(Exception):
    """Raised inside a fake build that registers more tensors than its file can account for."""


@contextlib.contextmanager
def _tensor_budget(limit: int) -> Iterator[None]:
    """Raise `_TooManyTensors` once this thread registers more than `limit` parameters and buffers."""
    thread, count = threading.get_ident(), 0

    def hook(module: nn.Module, name: str, tensor: Any) -> None:
        nonlocal count
        if threading.get_ident() == thread:
            count += 1
            if count > limit:
                raise _TooManyTensors

    handles = [register_module_parameter_registration_hook(hook),
               register_module_buffer_registration_hook(hook)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class _TooLarge(Exception):
    """Raised inside a build that would allocate more than its budget."""


class _AllocationBudget(TorchFunctionMode):
    """Sizes each tensor factory call (randn, zeros, as_tensor...) on the meta device and raises
    `_TooLarge` instead of allocating once the factories' total would pass `budget` bytes."""

    _FACTORIES = _device_constructors()  # torch's own list of the functions that create tensors
    _SIZED = (torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn)
    """Factories sized like `torch.empty`: sized by it on meta (randn's own meta path imports sympy)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget, self.allocated = budget, 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in self._FACTORIES:
            if func in self._SIZED:
                size_kwargs = {key: kwargs[key] for key in ("size", "dtype") if key in kwargs}
                planned = torch.empty(*args, **size_kwargs, device="meta")
            else:
                planned = func(*args, **{**kwargs, "device": "meta"})
            self.allocated += planned.numel() * planned.element_size()
            if self.allocated > self.budget:
                raise _TooLarge
        return func(*args, **kwargs)


def _size(size: int) -> str:
    """A byte count in KiB, MiB or GiB."""
    for unit, shift in (("GiB", 30), ("MiB", 20)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.1f} {unit}"
    return f"{size / 1024:.1f} KiB"


def _nbytes(value: Any) -> int:
    """The bytes of a stored tensor or numpy array (0 for anything else)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    return value.nbytes if isinstance(value, np.ndarray | np.generic) else 0


def _check_arguments(value: Any, what: str, error: type[NetworkFileError], path: str = "") -> None:
    """Refuse integers above `MAX_ARGUMENT` and lists longer than `MAX_LIST` (at any depth): no
    network has them, and a constructor could turn them into huge tensors (a filter's outer product)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_arguments(item, what, error, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            raise error(f"{what}: argument {path} is a list of {len(value)} items ({MAX_LIST} at most)")
        for i, item in enumerate(value):
            _check_arguments(item, what, error, f"{path}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
        raise error(f"{what}: argument {path}={value} is larger than any network's ({MAX_ARGUMENT} at most)")


def _read_payload(f: BinaryIO, name: str) -> dict[str, Any]:
    """The checkpoint dict in `f`, read with `weights_only`; each failure says what the file is."""
    start = f.tell()
    head = f.read(HEAD_BYTES)
    f.seek(start)
    if not head.startswith(ZIP_MAGIC):
        raise NetworkFileError(f"{name} is not a ganforge checkpoint (those are zip archives)")
    ours = is_checkpoint(head)
    names = _checked_archive(f, name, ours)
    f.seek(start)
    if not any(PurePosixPath(n).name == "data.pkl" for n in names):
        raise NetworkFileError(_other_zip(name, names))
    try:
        data = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        held = _refused_global(str(exc))
        if ours:
            raise NetworkFileError(
                f"refusing to load {name}: besides tensors and plain data it holds {held}; ganforge never "
                "runs code from network files"
            ) from None
        raise NetworkFileError(
            f"{name} is not a ganforge checkpoint: it is a torch.save file holding {held}, which ganforge "
            "never unpickles (that could run code from the file); save networks with "
            "ganforge.compat.save_network"
        ) from None
    except Exception as exc:
        reason = _first_line(exc)
        if ours:
            raise _damaged(name, "damaged", reason) from exc
        raise NetworkFileError(f"{name} is a damaged torch.save file ({reason}); copy it again") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        held = _held(data)
        raise NetworkFileError(f"{name} is a torch.save file but not a ganforge checkpoint: it holds {held}")
    if data.get("version") != VERSION:
        raise NetworkFileError(
            f"{name} is a ganforge checkpoint of version {data.get('version')!r}; this ganforge reads "
            f"version {VERSION} - use the ganforge release that wrote it"
        )
    return data


def _checked_archive(f: BinaryIO, name: str, ours: bool) -> list[str]:
    """The member names of zip file `f`, each member read through once to check its CRC (torch does
    not); a zip whose end (its directory) is missing is truncated."""
    try:
        with zipfile.ZipFile(f) as archive:
            for info in archive.infolist():
                try:
                    with archive.open(info) as member:
                        while member.read(1 << 20):
                            pass
                except zipfile.BadZipFile as exc:
                    record = info.filename.split("/", 1)[-1]
                    raise zipfile.BadZipFile(f"its record {record} fails its CRC check") from exc
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        truncated = isinstance(exc, zipfile.BadZipFile) and "not a zip file" in str(exc)
        problem = f"{f.seek(0, os.SEEK_END)} bytes, its end is missing" if truncated else str(exc)
        kind = "truncated" if truncated else "damaged"
        if ours:
            raise _damaged(name, kind, problem) from exc
        raise NetworkFileError(f"{name} is a {kind} zip file ({problem})") from exc


def _damaged(name: str, kind: str, problem: str) -> DamagedCheckpointError:
    """The error for a checkpoint ganforge wrote that is now `kind` (truncated, damaged): never told
    to be downloaded again."""
    return DamagedCheckpointError(f"{name} is a {kind} ganforge checkpoint ({problem}); {_REMAKE}")


def _other_zip(name: str, names: list[str]) -> str:
    """What a zip file that torch.save did not write is: a dataset, or some other archive."""
    files = [n for n in names if not n.endswith("/")]
    if any(PurePosixPath(n).suffix.lower() in IMAGE_EXTENSIONS or PurePosixPath(n).name == "dataset.json"
           for n in files):
        return (f"{name} is a dataset zip (images), not a network file: give a network pickle or a ganforge "
                "checkpoint")
    held = f"it holds {_some(files, 2)}" if files else "it is empty"
    return f"{name} is a zip file, not a network pickle or ganforge checkpoint ({held})"


def _held(data: Any) -> str:
    """What a torch.save file that is no checkpoint holds, in a few words."""
    if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return (f"a bare state_dict of {len(data)} tensors, without the class and arguments needed to "
                "rebuild a network; save networks with ganforge.compat.save_network")
    if isinstance(data, dict):
        return f"a dict with keys {_some([repr(k) for k in data])}"
    return f"a {type(data).__name__}"


def _refused_global(message: str) -> str:
    """What torch's weights-only loader refused, from its message (never its advice to bypass it)."""
    match = re.search(r"GLOBAL ([\w.]+)", message)
    return f"a pickled {match.group(1)}" if match else "other Python objects"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _rebuild(key: str, entry: Any, name: str) -> nn.Module:
    """One network of a checkpoint, constructed from its registry name and kwargs, weights loaded."""
    if not (isinstance(entry, dict) and {"class", "kwargs", "state"} <= entry.keys()
            and isinstance(entry["kwargs"], dict) and isinstance(entry["state"], dict)):
        raise DamagedCheckpointError(f"{name}: malformed entry for network {key!r}")
    try:
        cls = registry.get_class(entry["class"])
    except NetworkFileError as exc:
        raise NetworkFileError(f"{name}: network {key!r}: {exc}") from exc
    what = f"{name}: network {key!r} ({entry['class']})"
    return rebuild_network(cls, entry["kwargs"], entry["state"], what, DamagedCheckpointError)


def _check_json(value: Any, what: str) -> None:
    """Refuse data that is not plain JSON-able values, so that `weights_only` loading can read it."""
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must hold JSON-able data only: {exc}") from exc


def _check_plain(value: Any, what: str) -> None:
    """Refuse anything but tensors, numbers, strings, None and lists/tuples/dicts of them."""
    if isinstance(value, torch.Tensor | int | float | str | bool | None):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{what}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise ValueError(f"{what} has a {type(key).__name__} key; only str and int keys are allowed")
            _check_plain(item, f"{what}[{key!r}]")
    else:
        raise ValueError(f"{what} is a {type(value).__name__}; only tensors and plain data can be stored")


def _to_cpu(value: Any) -> Any:
    """`value` with every tensor moved to the CPU (containers rebuilt as plain dicts and lists)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(item) for item in value)
    return value
