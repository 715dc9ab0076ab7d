"""Build a network that a file describes without letting the file make it allocate much.

A file's constructor arguments are untrusted: `bounded_network` refuses arguments no network has,
sizes every tensor the constructor creates before it is allocated and stops once they would far
exceed the tensors the file stores; `load_checked` then checks names and shapes and loads them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_parameter_registration_hook,
)
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

from ganforge.errors import NetworkFileError

MAX_ARGUMENT = 1 << 24
"""The largest integer a stored constructor argument may hold (channels, resolution, layer counts)."""

MAX_LIST = 256
"""The longest list a stored constructor argument may hold (resample filters have 2-8 taps)."""


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


def load_checked(
    network: nn.Module, state: Mapping[str, Any], what: str, error: type[NetworkFileError] = NetworkFileError
) -> nn.Module:
    """`network` with `state` loaded strictly, in eval mode with `requires_grad` off; tensor names and
    shapes are checked first, so failures raise `error` with a message starting with `what`."""
    problem = state_mismatch(network, state)
    if problem:
        raise error(f"{what}: the stored tensors do not fit its arguments: {problem}")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise error(f"{what}: cannot load its tensors: {' '.join(str(exc).split())}") from exc
    return network.eval().requires_grad_(False)


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
        f"{len(names)} {label} ({first_few(names)})"
        for names, label in ((missing, "missing"), (unexpected, "unexpected"), (wrong, "of another shape"))
        if names
    ]
    if not parts:
        return ""
    count = f"{len(expected)} tensors needed, {len(state)} stored"
    return f"{count}; {'; '.join(parts)}"


def first_few(items: list[str], shown: int = 2) -> str:
    """The first `shown` of `items`, then how many more there are."""
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
