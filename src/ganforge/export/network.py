"""`export_network`: any network file `load_network` reads, written in a format other tools take."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ganforge.compat import generator_of, load_network
from ganforge.errors import OptionError
from ganforge.export.folder import write_model_folder
from ganforge.export.hub import push_to_hub
from ganforge.export.official import write_official_pkl
from ganforge.export.onnx import export_onnx

FORMATS = ("safetensors", "onnx", "official")
"""safetensors: a model folder (the Hugging Face layout); onnx: the generator as an ONNX graph;
official: a StyleGAN2-ADA-PyTorch pickle for the official code."""


def export_network(
    network: str | os.PathLike[str],
    out: str | os.PathLike[str],
    format: str = "safetensors",
    all_networks: bool = False,
    parts: Sequence[str] | None = None,
    force: bool = False,
    push_to_hub_repo: str | None = None,
) -> list[Path]:
    """Write network file `network` to `out` in `format`; return the paths written.

    safetensors: the generator (every network with `all_networks`) as model folder `out`, uploaded
    to Hub repository `push_to_hub_repo` when given. onnx: the generator as one graph, or with
    `parts` its mapping and synthesis in folder `out`. official: G, D, G_ema and the augment pipe
    as a pickle the official StyleGAN2-ADA-PyTorch `legacy.load_network_pkl` loads. An existing
    `out` is refused unless `force`.
    """
    if format not in FORMATS:
        raise OptionError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    if push_to_hub_repo is not None and format != "safetensors":
        raise OptionError("push_to_hub_repo uploads model folders only; use format='safetensors'")
    if all_networks and format != "safetensors":
        raise OptionError(
            "all_networks applies to format='safetensors' (an official pickle always holds every network, "
            "an ONNX graph the generator)"
        )
    if parts and format != "onnx":
        raise OptionError("parts apply to format='onnx' only")
    nets = load_network(network)
    if format == "onnx":
        return export_onnx(generator_of(nets, network), out, parts, force)
    if format == "official":
        return [write_official_pkl(nets, out, str(network), force)]
    folder = write_model_folder(nets, out, str(network), all_networks, force, push_to_hub_repo)
    if push_to_hub_repo is not None:
        push_to_hub(folder, push_to_hub_repo)
    return [folder]
