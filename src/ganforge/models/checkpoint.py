"""ganforge network checkpoints: networks rebuilt from registry name, kwargs and state.

A checkpoint is a `torch.save` archive of plain data only::

    {"format": "ganforge-checkpoint", "version": 1,
     "networks": {key: {"class": registry name, "kwargs": init_kwargs, "state": state_dict}},
     "extra": JSON-able data,
     "training_state": tensors and plain data (optional; training snapshots only)}

so it is read back with `torch.load(weights_only=True)` and every network is rebuilt from the
registry. Users read checkpoints (and official pickles) with `ganforge.compat.load_network`.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from typing import Any, BinaryIO

import torch
from torch import nn

from ganforge.errors import NetworkFileError
from ganforge.fileio import atomic_open
from ganforge.models import registry

FORMAT = "ganforge-checkpoint"
VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of every checkpoint (`torch.save` writes zip archives)."""


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


def read_checkpoint(f: BinaryIO, name: str) -> dict[str, Any]:
    """The networks and extra data of a ganforge checkpoint open as `f` (`name` for messages)."""
    try:
        data = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise NetworkFileError(
            f"refusing to load {name}: it holds objects other than tensors and plain data "
            f"({_weights_only_reason(str(exc))}); ganforge never runs code from network files"
        ) from exc
    except Exception as exc:
        raise NetworkFileError(
            f"cannot load {name}: the file is truncated or corrupt ({type(exc).__name__}); "
            "copy or download it again"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NetworkFileError(f"{name} is a torch.save file but not a ganforge checkpoint")
    if data.get("version") != VERSION:
        raise NetworkFileError(
            f"{name} is a ganforge checkpoint of version {data.get('version')!r}; this ganforge reads "
            f"version {VERSION} - use the ganforge release that wrote it"
        )
    networks, extra = data.get("networks"), data.get("extra", {})
    if not isinstance(networks, dict) or not isinstance(extra, dict):
        raise NetworkFileError(f"{name}: malformed ganforge checkpoint (networks or extra is not a dict)")
    result: dict[str, Any] = {key: _rebuild(key, entry, name) for key, entry in networks.items()}
    result.update(extra)
    return result


def read_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `training_state` stored in the checkpoint at `path` (`NetworkFileError` if it has none)."""
    with open(path, "rb") as f:
        data = torch.load(f, map_location="cpu", weights_only=True)
    state = data.get("training_state") if isinstance(data, dict) and data.get("format") == FORMAT else None
    if not isinstance(state, dict):
        raise NetworkFileError(f"{path} holds no training state; resume needs a snapshot written by training")
    return state


def _rebuild(key: str, entry: Any, name: str) -> nn.Module:
    """One network of a checkpoint, constructed from its registry name and kwargs, weights loaded."""
    if not isinstance(entry, dict) or not {"class", "kwargs", "state"} <= entry.keys():
        raise NetworkFileError(f"{name}: malformed entry for network {key!r}")
    try:
        cls = registry.get_class(entry["class"])
    except NetworkFileError as exc:
        raise NetworkFileError(f"{name}: network {key!r}: {exc}") from exc
    try:
        network = cls(**entry["kwargs"])
        network.load_state_dict(entry["state"], strict=True)
    except Exception as exc:
        problem = " ".join(str(exc).split())
        message = f"{name}: cannot rebuild network {key!r} ({entry['class']}): {problem}"
        raise NetworkFileError(message) from exc
    return network.eval().requires_grad_(False)


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


def _weights_only_reason(message: str) -> str:
    """The line of torch's long weights-only refusal that names what was refused."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line:
            return line
    return lines[-1] if lines else "unsupported content"
