"""ganforge network checkpoints: networks rebuilt from registry name, kwargs and state.

A checkpoint is a `torch.save` archive of plain data only::

    {"format": "ganforge-checkpoint", "version": 1,
     "networks": {key: {"class": registry name, "kwargs": init_kwargs, "state": state_dict}},
     "extra": JSON-able data,
     "training_state": tensors and plain data (optional; training snapshots only)}

so it is read back with `torch.load(weights_only=True)` and every network is rebuilt from the
registry. Users read checkpoints (and official pickles) with `ganforge.compat.load_network`.
Every network read from a file, checkpoint or not, is built by `compat.bounded`, which never
allocates much more than the file's tensors take, however large a network its arguments describe.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import torch
from torch import nn

from ganforge.compat import registry
from ganforge.compat.bounded import first_few
from ganforge.data.formats.images import IMAGE_EXTENSIONS
from ganforge.errors import NetworkFileError
from ganforge.fileio import atomic_open

FORMAT = "ganforge-checkpoint"
VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of every checkpoint (`torch.save` writes zip archives)."""

HEAD_BYTES = 1 << 16
"""How much of a file's start holds a checkpoint's FORMAT marker (torch.save writes data.pkl first)."""

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
    held = f"it holds {first_few(files, 2)}" if files else "it is empty"
    return f"{name} is a zip file, not a network pickle or ganforge checkpoint ({held})"


def _held(data: Any) -> str:
    """What a torch.save file that is no checkpoint holds, in a few words."""
    if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return (f"a bare state_dict of {len(data)} tensors, without the class and arguments needed to "
                "rebuild a network; save networks with ganforge.compat.save_network")
    if isinstance(data, dict):
        return f"a dict with keys {first_few([repr(k) for k in data])}"
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
    kwargs, state = entry["kwargs"], entry["state"]
    return registry.rebuild(name, key, entry["class"], kwargs, state, DamagedCheckpointError)


def is_json(value: Any) -> bool:
    """Whether `value` is plain JSON-able data, as a checkpoint's `extra` must be (and a model folder's)."""
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


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
