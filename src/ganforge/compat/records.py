"""The tensors of a pickled module record (an official network or a plain `torch.nn` module read by
`SafeUnpickler`) as one dict by dotted name, the way `state_dict` names them."""

from __future__ import annotations

from typing import Any

import torch

from ganforge.compat.safe_unpickle import OfficialObject, TorchModuleRecord
from ganforge.errors import NetworkFileError


def collect_tensors(
    record: OfficialObject | TorchModuleRecord, source: str, prefix: str = ""
) -> dict[str, Any]:
    """Every persistent parameter and buffer of a record and its sub-records, by dotted official name."""
    state = record.state
    skip = state.get("_non_persistent_buffers_set") or set()
    tensors: dict[str, Any] = {}
    items = [*_table(state, "_parameters", source).items(), *_table(state, "_buffers", source).items()]
    for name, tensor in items:
        if tensor is None or name in skip:
            continue
        if not isinstance(tensor, torch.Tensor):
            raise NetworkFileError(f"{source}: {prefix}{name} is a {type(tensor).__name__}, not a tensor")
        tensors[prefix + name] = tensor.detach()
    for name, child in _table(state, "_modules", source).items():
        if child is None:
            continue
        if not isinstance(child, OfficialObject | TorchModuleRecord):
            raise NetworkFileError(f"{source}: submodule {prefix}{name} is a {type(child).__name__}")
        tensors.update(collect_tensors(child, source, f"{prefix}{name}."))
    return tensors


def _table(state: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    """One of a module record's name -> value tables (`_parameters`, `_buffers`, `_modules`)."""
    table = state.get(key, {})
    if not isinstance(table, dict):
        raise NetworkFileError(f"{source}: a module's {key} is a {type(table).__name__}, not a dict")
    return table
