"""Network pickles in the official StyleGAN2-ADA layout, written by the tests without the official code.

`official_modules()` registers stand-ins for `torch_utils.persistence` and `dnnlib.util` in
`sys.modules` only while a pickle is written, so the written globals have the official names, and
removes them again so that loading cannot rely on them.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch import nn

PLACEHOLDER_SRC = "raise SystemExit('module source from a network file must never run')\n"
OFFICIAL_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")


class EasyDictStandIn(dict):
    """Pickles as `dnnlib.util.EasyDict` while `official_modules()` is active."""


EasyDictStandIn.__module__, EasyDictStandIn.__qualname__ = "dnnlib.util", "EasyDict"


def _reconstruct_persistent_obj(meta: dict) -> Any:
    raise AssertionError("the test's persistence stand-in is only for writing pickles")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
_reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"


@contextlib.contextmanager
def official_modules() -> Iterator[None]:
    """Make the official persistence and EasyDict names resolvable for pickling, then remove them."""
    assert not any(name in sys.modules for name in OFFICIAL_MODULES)
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDictStandIn  # type: ignore[attr-defined]
    modules = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
               "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in modules:
            del sys.modules[name]


class Persistent:
    """An object of an official persistent class: pickles as `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, class_name: str, state: dict[str, Any], module_src: str = PLACEHOLDER_SRC) -> None:
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.state)
        return _reconstruct_persistent_obj, (meta,)


def easydicts(value: Any) -> Any:
    """`value` with every dict turned into an EasyDict, as the official training code passes kwargs."""
    if isinstance(value, dict):
        return EasyDictStandIn({k: easydicts(v) for k, v in value.items()})
    return value


def persistent(
    module: nn.Module, class_name: str | None = None, init_args: tuple = (), init_kwargs: dict | None = None
) -> Persistent:
    """The official persistent form of a module tree: the same tensors, names and module nesting."""
    children = OrderedDict((name, persistent(child)) for name, child in module.named_children())
    state = {
        "training": module.training,
        "_parameters": OrderedDict(module._parameters),
        "_buffers": OrderedDict(module._buffers),
        "_non_persistent_buffers_set": set(module._non_persistent_buffers_set),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": children,
        "weight_gain": np.float64(0.125),
        "block_resolutions": [4, 8],
        "_init_args": tuple(init_args),
        "_init_kwargs": easydicts(init_kwargs or {}),
    }
    return Persistent(class_name or type(module).__name__, state)


def dumps(obj: Any, protocol: int = 4) -> bytes:
    """Pickle `obj` the way the official code does (`pickle.dump`), with the stand-ins registered."""
    with official_modules():
        buffer = io.BytesIO()
        pickle.dump(obj, buffer, protocol=protocol)
    return buffer.getvalue()
