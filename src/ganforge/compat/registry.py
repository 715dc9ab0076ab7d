"""Names of the network classes a checkpoint can rebuild, and the classes they stand for.

A checkpoint stores a network as (registry name, constructor kwargs, state); `get_class` turns the
name back into the class. The registry sits above the model families and the augment pipe, so it
imports their packages directly and none of them needs to know about it. A new family adds its
package to `NETWORK_PACKAGES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ganforge.augment.pipeline import AugmentPipe
from ganforge.compat.bounded import bounded_network, load_checked
from ganforge.errors import NetworkFileError
from ganforge.models import dcgan, r3gan, stylegan, stylegan2

NETWORK_PACKAGES = (stylegan2, stylegan, dcgan, r3gan)
"""The model families' packages; each lists in `NETWORKS` the classes a checkpoint may hold."""

_CLASSES: dict[str, type[nn.Module]] = {
    **{f"{package.__name__.rpartition('.')[2]}.{cls.__name__}": cls
       for package in NETWORK_PACKAGES for cls in package.NETWORKS},
    "augment.AugmentPipe": AugmentPipe,
}
"""Registry name (as stored in checkpoints: family.Class) -> class."""

_NAMES: dict[type[nn.Module], str] = {cls: name for name, cls in _CLASSES.items()}


def names() -> list[str]:
    """Every registered network name."""
    return sorted(_CLASSES)


def get_class(name: str) -> type[nn.Module]:
    """The class registered as `name`; `NetworkFileError` (listing the known names) if there is none."""
    if name not in _CLASSES:
        raise NetworkFileError(f"unknown network class {name!r}; known classes: {', '.join(names())}")
    return _CLASSES[name]


def name_of(network: nn.Module | type[nn.Module]) -> str:
    """The registry name of a network (or network class); `ValueError` if it is not registered."""
    cls = network if isinstance(network, type) else type(network)
    if cls not in _NAMES:
        raise ValueError(
            f"{cls.__module__}.{cls.__qualname__} is not a registered network class; "
            "add it to ganforge.compat.registry to save it in a checkpoint"
        )
    return _NAMES[cls]


def rebuild(
    where: str,
    key: str,
    name: str,
    kwargs: dict[str, Any],
    state: Mapping[str, Any],
    error: type[NetworkFileError] = NetworkFileError,
) -> nn.Module:
    """Network `key` of the file `where`, stored as registry name `name`, its kwargs and its state:
    built by `bounded_network` and loaded by `load_checked` (whose failures raise `error`)."""
    try:
        cls = get_class(name)
    except NetworkFileError as exc:
        raise NetworkFileError(f"{where}: network {key!r}: {exc}") from exc
    what = f"{where}: network {key!r} ({name})"
    return load_checked(bounded_network(cls, kwargs, state, what, error), state, what, error)
