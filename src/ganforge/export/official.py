"""Write G, D, G_ema and the augment pipe as a pickle that the official StyleGAN2-ADA-PyTorch loads.

The official `legacy.load_network_pkl` rebuilds each network from a `torch_utils.persistence`
record (a dict: type 'class', version 6, `module_src`, `class_name` and the object's `__dict__` as
`state`): it runs `module_src` as a fresh module and takes `class_name` from it. The records here
carry a one-line `module_src` importing the user's own official checkout (`from training.networks
import *`), so the file holds no official source; the state is the ganforge module's `__dict__`,
which mirrors the official attributes, less ganforge's own attributes, with the official
constructor arguments (`_init_args`, `_init_kwargs`) and ganforge's weights. Submodules' records
carry no constructor arguments: only the top-level networks' are recorded, and only they are
used (by `force_fp16`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ganforge.augment.pipeline import AugmentPipe
from ganforge.compat import registry
from ganforge.errors import NetworkFileError
from ganforge.export.output import export_file
from ganforge.models.stylegan2 import discriminator as disc
from ganforge.models.stylegan2 import generator, layers
from ganforge.ops.minibatch_std import MinibatchStdLayer

PERSISTENCE_VERSION = 6
"""The record version the official `torch_utils.persistence` accepts."""

NETWORKS = "from training.networks import *"
AUGMENT = "from training.augment import *"

SIZE = frozenset({"img_width", "img_height"})  # ganforge's non-square shape attributes
OFFICIAL: dict[type[nn.Module], tuple[str, str, frozenset[str]]] = {
    generator.Generator: (NETWORKS, "Generator", SIZE),
    layers.MappingNetwork: (NETWORKS, "MappingNetwork", frozenset()),
    generator.SynthesisNetwork: (NETWORKS, "SynthesisNetwork", SIZE),
    generator.SynthesisBlock: (NETWORKS, "SynthesisBlock", frozenset({"img_aspect"})),
    generator.SynthesisLayer: (NETWORKS, "SynthesisLayer", frozenset({"shape"})),
    generator.ToRGBLayer: (NETWORKS, "ToRGBLayer", frozenset()),
    layers.FullyConnectedLayer: (NETWORKS, "FullyConnectedLayer", frozenset({"in_features", "out_features"})),
    layers.Conv2dLayer: (NETWORKS, "Conv2dLayer", frozenset({"in_channels", "out_channels"})),
    disc.Discriminator: (NETWORKS, "Discriminator", frozenset({"cmap_dim"}) | SIZE),
    disc.DiscriminatorBlock: (NETWORKS, "DiscriminatorBlock", frozenset({"img_aspect"})),
    disc.DiscriminatorEpilogue: (NETWORKS, "DiscriminatorEpilogue", frozenset({"img_aspect"})),
    MinibatchStdLayer: (NETWORKS, "MinibatchStdLayer", frozenset()),
    AugmentPipe: (AUGMENT, "AugmentPipe", frozenset({"_geom_delay"})),
}
"""ganforge class -> (module_src of its record, official class name, attributes only ganforge has)."""

GANFORGE_ONLY = frozenset({"init_kwargs"})
"""Attributes of every ganforge network that the official classes lack."""

REQUIRED = ("G", "D", "G_ema")
"""The networks the official loader requires (it asserts each is a module)."""


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> None:
    """Stands for `torch_utils.persistence._reconstruct_persistent_obj` in the pickle; never called."""
    raise RuntimeError("a stand-in for the official function, written by name only")


class _Record:
    """A persistent object as the official pickles hold it: the reconstruct call with its meta dict."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta


class _Writer(pickle._Pickler):
    """The pure-Python pickler, which can write the official reconstruct function's name as a global."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _Record):
            return _reconstruct_persistent_obj, (obj.meta,)
        return NotImplemented

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if obj is not _reconstruct_persistent_obj:
            super().save(obj, save_persistent_id)
        elif id(obj) in self.memo:
            self.write(self.get(self.memo[id(obj)][0]))
        else:
            self.save("torch_utils.persistence")
            self.save("_reconstruct_persistent_obj")
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)


def official_record(module: nn.Module, top: bool = True) -> _Record:
    """The persistence record of `module` and, recursively, its submodules."""
    entry = OFFICIAL.get(type(module))
    if entry is None:
        raise NetworkFileError(f"{type(module).__name__} has no official StyleGAN2-ADA counterpart")
    module_src, class_name, own = entry
    state: dict[str, Any] = {}
    for key, value in module.__dict__.items():
        if key in own or key in GANFORGE_ONLY:
            continue
        if key == "_modules":
            value = {
                name: None if child is None else official_record(child, top=False)
                for name, child in value.items()
            }
        state[key] = value.item() if isinstance(value, np.generic) else value
    state["_init_args"] = ()
    state["_init_kwargs"] = dict(module.init_kwargs) if top else {}
    meta = {
        "type": "class",
        "version": PERSISTENCE_VERSION,
        "module_src": module_src,
        "class_name": class_name,
        "state": state,
    }
    return _Record(meta)


def write_official_pkl(
    nets: dict[str, Any], out: str | os.PathLike[str], source: str, force: bool = False
) -> Path:
    """Write G, D, G_ema (and the augment pipe, training_set_kwargs when present) of `nets` as an
    official network pickle at `out`; StyleGAN2 networks only."""
    for key, value in nets.items():
        if isinstance(value, nn.Module) and type(value) not in OFFICIAL:
            family = registry.name_of(value).split(".")[0]
            raise NetworkFileError(
                f"{source}: {key} is a {family} network; the official StyleGAN2-ADA code has StyleGAN2 "
                "networks only (export others with format 'safetensors' or 'onnx')"
            )
    for key in REQUIRED:
        network = nets.get(key)
        if getattr(network, "img_width", None) != getattr(network, "img_height", None):
            raise NetworkFileError(
                f"{source}: {key} makes {network.img_width}x{network.img_height} images; the official "
                "StyleGAN2-ADA code builds square networks only (export with format 'safetensors' or 'onnx')"
            )
    missing = [key for key in REQUIRED if not isinstance(nets.get(key), nn.Module)]
    if missing:
        raise NetworkFileError(
            f"{source} lacks {', '.join(missing)}; the official loader needs G, D and G_ema: export a "
            "training snapshot"
        )
    data: dict[str, Any] = {key: official_record(nets[key].cpu().eval()) for key in REQUIRED}
    data["augment_pipe"] = (
        official_record(nets["augment_pipe"].cpu())
        if isinstance(nets.get("augment_pipe"), AugmentPipe)
        else None
    )
    kwargs = nets.get("training_set_kwargs")
    data["training_set_kwargs"] = dict(kwargs) if isinstance(kwargs, dict) else None
    with export_file(out, force) as tmp, open(tmp, "wb") as f:
        _Writer(f, protocol=4).dump(data)
    return Path(out)
