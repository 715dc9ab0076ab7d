"""How much a loader really allocates: a file claiming a huge network must cost next to nothing."""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

FACTORIES = _device_constructors()


class Allocations(TorchFunctionMode):
    """Within `with Allocations() as counted:`, `counted.bytes` sums the tensors that factory functions
    (randn, zeros, as_tensor...) create for real, that is not on the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in FACTORIES and isinstance(out, torch.Tensor) and not out.is_meta:
            self.bytes += out.numel() * out.element_size()
        return out
