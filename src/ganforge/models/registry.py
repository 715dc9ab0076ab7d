"""Names of the network classes a checkpoint can rebuild, and the classes they stand for.

A checkpoint stores a network as (registry name, constructor kwargs, state); `get_class` turns the
name back into the class. Classes are imported on first use, so this module imports no model code
and model modules need not import it. Later model families add their entries to `_CLASSES`.
"""

from __future__ import annotations

import importlib

from torch import nn

from ganforge.errors import NetworkFileError

_CLASSES: dict[str, tuple[str, str]] = {
    "stylegan2.Generator": ("ganforge.models.stylegan2", "Generator"),
    "stylegan2.Discriminator": ("ganforge.models.stylegan2", "Discriminator"),
    "stylegan2.MappingNetwork": ("ganforge.models.stylegan2", "MappingNetwork"),
    "stylegan2.SynthesisNetwork": ("ganforge.models.stylegan2", "SynthesisNetwork"),
    "stylegan.Generator": ("ganforge.models.stylegan", "Generator"),
    "stylegan.Discriminator": ("ganforge.models.stylegan", "Discriminator"),
    "stylegan.MappingNetwork": ("ganforge.models.stylegan", "MappingNetwork"),
    "stylegan.SynthesisNetwork": ("ganforge.models.stylegan", "SynthesisNetwork"),
    "augment.AugmentPipe": ("ganforge.augment.pipeline", "AugmentPipe"),
    "dcgan.Generator": ("ganforge.models.dcgan", "Generator"),
    "dcgan.Discriminator": ("ganforge.models.dcgan", "Discriminator"),
}
"""Registry name -> (module, class name)."""


def names() -> list[str]:
    """Every registered network name."""
    return sorted(_CLASSES)


def get_class(name: str) -> type[nn.Module]:
    """The class registered as `name`; `NetworkFileError` (listing the known names) if there is none."""
    if name not in _CLASSES:
        raise NetworkFileError(f"unknown network class {name!r}; known classes: {', '.join(names())}")
    module_name, class_name = _CLASSES[name]
    return getattr(importlib.import_module(module_name), class_name)


def name_of(network: nn.Module | type[nn.Module]) -> str:
    """The registry name of a network (or network class); `ValueError` if it is not registered."""
    cls = network if isinstance(network, type) else type(network)
    for name, (module_name, class_name) in _CLASSES.items():
        if cls.__name__ == class_name and cls.__module__.startswith(module_name):
            if get_class(name) is cls:
                return name
    raise ValueError(
        f"{cls.__module__}.{cls.__qualname__} is not a registered network class; "
        "add it to ganforge.models.registry to save it in a checkpoint"
    )
