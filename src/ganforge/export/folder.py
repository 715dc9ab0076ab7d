"""Export a network file as a ganforge model folder: safetensors weights, config.json, README.md card.

The folder is the Hugging Face model layout; `ganforge.compat.load_network` (and every `--network`
option) reads it back from safetensors and JSON only, to bit-identical outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import save
from torch import nn

from ganforge import __version__
from ganforge.compat import generator_of, registry
from ganforge.compat.checkpoint import is_json
from ganforge.compat.model_folder import CARD_NAME, CONFIG_NAME, FORMAT, VERSION, WEIGHTS_NAME
from ganforge.export.card import model_card
from ganforge.export.output import export_folder

GENERATOR_KEYS = ("G_ema", "G")
"""The keys that hold generators, in the order the one to describe is picked."""

SHAPE_ATTRIBUTES = ("img_resolution", "img_channels", "c_dim", "z_dim", "w_dim")
"""The generator's attributes that config.json repeats at its top level."""


def pick_networks(nets: dict[str, Any], all_networks: bool, source: str) -> dict[str, nn.Module]:
    """The networks to export by key: every network when `all_networks`, else the generator."""
    modules = {key: value for key, value in nets.items() if isinstance(value, nn.Module)}
    if all_networks:
        return modules
    G = generator_of(modules, source)
    return {key: G for key, value in modules.items() if value is G}


def model_config(networks: dict[str, nn.Module], extra: dict[str, Any]) -> dict[str, Any]:
    """config.json: format, ganforge version, family, the generator's shape and each network's recipe."""
    generator = next((networks[key] for key in GENERATOR_KEYS if key in networks), None)
    first = generator if generator is not None else next(iter(networks.values()))
    family = registry.name_of(first).split(".")[0]
    config: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "ganforge_version": __version__,
        "library_name": "ganforge",
        "family": family,
    }
    for name in SHAPE_ATTRIBUTES:
        if hasattr(first, name):
            config[name] = getattr(first, name)
    if getattr(first, "img_width", None) != getattr(first, "img_height", None):  # non-square: W x H too
        config["img_width"], config["img_height"] = first.img_width, first.img_height
    recorded = extra.get("labels")  # a training snapshot's record of its labels (kind and names)
    names = recorded.get("names") if isinstance(recorded, dict) else None
    config["label_names"] = extra.get("label_names") or names or None
    config["networks"] = {
        key: {"class": registry.name_of(network), "kwargs": network.init_kwargs}
        for key, network in networks.items()
    }
    config["extra"] = extra
    return config


def run_records(source: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The training options and the last metrics a training run wrote beside snapshot `source`
    (`training_options.json`, `metric-*.jsonl` records of this snapshot); None where there are none."""
    path = Path(source)
    if not path.is_file():
        return None, None
    options = None
    try:
        options = json.loads((path.parent / "training_options.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    metrics: dict[str, Any] = {}
    for log in sorted(path.parent.glob("metric-*.jsonl")):
        try:
            records = [
                json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        except (OSError, ValueError):
            continue
        for record in records:
            if isinstance(record, dict) and record.get("snapshot_pkl") == path.name:
                metrics.update(record.get("results") or {})
    return options, metrics or None


def write_model_folder(
    nets: dict[str, Any],
    out: str | os.PathLike[str],
    source: str,
    all_networks: bool = False,
    force: bool = False,
    repo_id: str | None = None,
) -> Path:
    """Write the networks of `nets` (as `load_network` returns them) as model folder `out`; return it.

    Only the generator unless `all_networks`. Plain data of the source (e.g. `training_set_kwargs`)
    goes to config.json's `extra`; the card shows the training run's options and last metrics when
    they lie beside a snapshot `source`, and loads it from Hub repository `repo_id` when given. The
    folder appears whole or not at all.
    """
    networks = pick_networks(nets, all_networks, source)
    extra = {
        key: value for key, value in nets.items() if not isinstance(value, nn.Module) and is_json(value)
    }
    config = model_config(networks, extra)
    tensors = {
        f"{key}.{name}": tensor.detach().cpu().contiguous().clone()
        for key, network in networks.items()
        for name, tensor in network.state_dict().items()
    }
    options, metrics = run_records(source)
    with export_folder(out, force) as tmp:
        (tmp / WEIGHTS_NAME).write_bytes(save(tensors, metadata={"format": "pt"}))  # open()'s permissions
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (tmp / CARD_NAME).write_text(
            model_card(config, options, metrics, Path(source).name, repo_id), encoding="utf-8"
        )
    return Path(out)
