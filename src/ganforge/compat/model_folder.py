"""ganforge model folders (the Hugging Face model layout): weights in safetensors, the rest in JSON.

A folder holds `model.safetensors` (each network's tensors under the prefix `KEY.`, e.g.
`G_ema.mapping.fc0.weight`) and `config.json` (format, version, family, each network's registry
name and constructor arguments, the generator's shape, label names, plain extra data), and
usually a `README.md` model card. Reading it involves no pickle at all: safetensors and JSON only.
`ganforge.export` writes these folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ganforge.compat import registry
from ganforge.errors import NetworkFileError

FORMAT = "ganforge-model"
VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"


def is_model_folder(source: object) -> bool:
    """Whether `source` is a path to a folder (a model folder or not: the reader says what is missing)."""
    return isinstance(source, str | os.PathLike) and Path(source).is_dir()


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked `config.json` of model folder `folder`."""
    path = Path(folder) / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NetworkFileError(
            f"{folder} is a folder without {CONFIG_NAME}; give a ganforge model folder (written by "
            "`ganforge export --format safetensors`) or a network file"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NetworkFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise NetworkFileError(f'{path} is not a ganforge model config (no "format": "{FORMAT}")')
    if config.get("version") != VERSION:
        raise NetworkFileError(
            f"{path} is a ganforge model of version {config.get('version')!r}; this ganforge reads version "
            f"{VERSION} - use the ganforge release that wrote it"
        )
    if not isinstance(config.get("networks"), dict) or not config["networks"]:
        raise NetworkFileError(f"{path} lists no networks")
    return config


def read_model_folder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The networks of a model folder by key (eval mode, `requires_grad` off) plus its extra data."""
    config = read_config(folder)
    path = Path(folder) / WEIGHTS_NAME
    try:
        tensors = load_file(path)
    except FileNotFoundError:
        raise NetworkFileError(
            f"{folder} has {CONFIG_NAME} but no {WEIGHTS_NAME}; copy the whole folder"
        ) from None
    except (OSError, SafetensorError) as exc:
        raise NetworkFileError(f"cannot read {path}: {exc}; export the model again") from exc
    result: dict[str, Any] = {}
    for key, entry in config["networks"].items():
        result[key] = _rebuild(folder, key, entry, tensors)
    extra = config.get("extra") or {}
    if isinstance(extra, dict):
        result.update({k: v for k, v in extra.items() if k not in result})
    return result


def _rebuild(folder: str | os.PathLike[str], key: str, entry: Any, tensors: dict[str, Any]) -> nn.Module:
    """Network `key` of the folder: its class from the registry, its tensors those under `key.`."""
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("class"), str)
        and isinstance(entry.get("kwargs"), dict)
    ):
        raise NetworkFileError(f"{folder}/{CONFIG_NAME}: malformed entry for network {key!r}")
    prefix = f"{key}."
    state = {name[len(prefix) :]: tensor for name, tensor in tensors.items() if name.startswith(prefix)}
    return registry.rebuild(str(folder), key, entry["class"], entry["kwargs"], state)
