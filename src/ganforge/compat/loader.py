"""`load_network`: the one reader users call for any network file, whatever its format."""

from __future__ import annotations

from typing import Any

from torch import nn

from ganforge.compat.checkpoint import ZIP_MAGIC, read_checkpoint
from ganforge.compat.hub import is_hub_address, load_hub_model
from ganforge.compat.model_folder import is_model_folder, read_model_folder
from ganforge.compat.official import NetworkSource, open_source, read_network_pkl
from ganforge.errors import NetworkFileError


def load_network(source: NetworkSource) -> dict[str, Any]:
    """Read a ganforge checkpoint, a ganforge model folder or an official StyleGAN2-ADA pickle.

    `source` is a path (a model folder is read from its safetensors and JSON only), an http(s) URL
    (downloaded once into the cache, see `ganforge.compat.official.cache_dir`), an
    `hf://user/name[@revision]` model on the Hugging Face Hub, or a binary file. Files are told
    apart by their first bytes. Returns a dict of the networks by key ('G', 'D', 'G_ema', ...), in
    eval mode with `requires_grad` off, plus the file's other data (a checkpoint's `extra` items;
    an official snapshot's `training_set_kwargs`, `augment_pipe`, ...). No code from the file is
    ever run. Every failure is a `NetworkFileError` saying what the file is; a ganforge checkpoint
    that is truncated or corrupt raises its subclass `DamagedCheckpointError`.
    """
    if is_hub_address(source):
        return load_hub_model(str(source))
    if is_model_folder(source):
        return read_model_folder(source)
    with open_source(source) as (f, name):
        start = f.tell()
        head = f.read(len(ZIP_MAGIC))
        f.seek(start)
        if head == ZIP_MAGIC:
            return read_checkpoint(f, name)
        return read_network_pkl(f, name)


def generator_of(nets: dict[str, Any], source: object) -> nn.Module:
    """The generator to sample from in `load_network`'s result: G_ema, else G (`source` names the file)."""
    G = nets.get("G_ema")
    if G is None:
        G = nets.get("G")
    if G is None:
        raise NetworkFileError(f"{source}: the file holds no generator (neither 'G_ema' nor 'G')")
    return G
