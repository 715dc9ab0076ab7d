"""Which networks a loader really builds: a file's arguments must be checked on fake tensors first."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor


@contextlib.contextmanager
def real_builds(monkeypatch: pytest.MonkeyPatch, cls: type[nn.Module]) -> Iterator[list[bool]]:
    """Yield a list that gets, for each construction of `cls`, whether it allocated real tensors."""
    built: list[bool] = []
    init = cls.__init__

    def spy(self: nn.Module, *args: object, **kwargs: object) -> None:
        built.append(not isinstance(torch.empty(0), FakeTensor))
        init(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(cls, "__init__", spy)
        yield built
