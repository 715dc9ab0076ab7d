"""R3GAN snapshots (brownvc/R3GAN `network-snapshot-*.pkl`, the published `R3GAN-*` pickles) as
ganforge networks.

Those files pickle R3GAN's modules by class name, without their constructor arguments; the
`SafeUnpickler` reads them as inert records (`R3GAN_CLASSES`). Each network's arguments are read
off its tensors' shapes and its stages' `DataType` (bfloat16 stages stay bfloat16), its tensors
are renamed to ganforge's (`ganforge.models.r3gan.from_r3gan_names`) and loaded strictly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.compat.bounded import bounded_network, load_checked
from ganforge.compat.records import collect_tensors
from ganforge.compat.safe_unpickle import TorchModuleRecord
from ganforge.errors import NetworkFileError
from ganforge.models import r3gan

_WRAPPERS = {"training.networks.Generator": "G", "training.networks.Discriminator": "D"}
_MODELS = {"R3GAN.Networks.Generator": "G", "R3GAN.Networks.Discriminator": "D"}
"""R3GAN's network classes (the training wrapper and the bare network) -> 'G' or 'D'."""


def _kind(value: Any) -> str | None:
    """'G' or 'D' for a record of an R3GAN generator or discriminator, else None."""
    if not isinstance(value, TorchModuleRecord):
        return None
    return _WRAPPERS.get(value.class_name) or _MODELS.get(value.class_name)


def is_r3gan_pickle(data: Any) -> bool:
    """Whether unpickled `data` is an R3GAN snapshot: a dict holding R3GAN networks."""
    return isinstance(data, dict) and any(_kind(value) for value in data.values())


def convert_r3gan_pickle(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The snapshot with every R3GAN network rebuilt as a ganforge one; other values stay plain data."""
    return {key: build_r3gan_network(value, source, key) if _kind(value) else value
            for key, value in data.items()}


def build_r3gan_network(record: TorchModuleRecord, source: str, key: str) -> nn.Module:
    """The ganforge network for the R3GAN network record stored under `key`."""
    kind = _kind(record)
    what = f"{source}: the R3GAN network {key!r}"
    model = _child(record, "Model", what) if record.class_name in _WRAPPERS else record
    try:
        state = r3gan.from_r3gan_names(collect_tensors(model, source))
    except KeyError as exc:
        raise NetworkFileError(f"{what} is not laid out as R3GAN's: {exc.args[0]}") from exc
    try:
        kwargs = (_generator_kwargs if kind == "G" else _discriminator_kwargs)(state)
    except (KeyError, IndexError, ValueError, ZeroDivisionError) as exc:
        raise NetworkFileError(f"{what} is not laid out as R3GAN's: {exc!r} is missing or malformed") from exc
    kwargs["bf16_stages"] = _bf16_stages(model, what)
    cls = r3gan.Generator if kind == "G" else r3gan.Discriminator
    return load_checked(bounded_network(cls, kwargs, state, what), state, what)


def _child(record: TorchModuleRecord, name: str, what: str) -> TorchModuleRecord:
    child = record.state.get("_modules", {}).get(name)
    if not isinstance(child, TorchModuleRecord):
        raise NetworkFileError(f"{what} has no {name} module")
    return child


def _bf16_stages(model: TorchModuleRecord, what: str) -> list[int]:
    """The indices of the stages whose `DataType` is bfloat16 (R3GAN's `FP16Stages`)."""
    stages = _child(model, "MainLayers", what).state.get("_modules", {})
    chosen = []
    for index, stage in enumerate(stages.values()):
        dtype = stage.state.get("DataType", torch.float32) if isinstance(stage, TorchModuleRecord) else None
        if dtype not in (torch.float32, torch.bfloat16):
            raise NetworkFileError(f"{what}: stage {index} computes in {dtype!r}, not float32 or bfloat16")
        if dtype == torch.bfloat16:
            chosen.append(index)
    return chosen


def _layer_counts(state: dict[str, torch.Tensor]) -> list[int]:
    """The number of layers of each stage, from the names `stages.<i>.layers.<j>.*`."""
    counts: dict[int, int] = {}
    for name in state:
        parts = name.split(".")
        if parts[0] == "stages":
            stage, layer = int(parts[1]), int(parts[3])
            counts[stage] = max(counts.get(stage, 0), layer + 1)
    return [counts[i] for i in range(len(counts))]


def _block_shape(state: dict[str, torch.Tensor], stage: int, layer: int) -> tuple[int, int, int, int]:
    """(width, cardinality, expansion, kernel size) of the residual block at (stage, layer)."""
    conv1 = state[f"stages.{stage}.layers.{layer}.conv1.weight"]
    conv2 = state[f"stages.{stage}.layers.{layer}.conv2.weight"]
    width, expanded = conv1.shape[1], conv1.shape[0]
    return width, expanded // conv2.shape[1], expanded // width, conv2.shape[-1]


def _stage_lists(state: dict[str, torch.Tensor], widths: list[int], block_layers: list[range]
                 ) -> dict[str, Any]:
    """The per-stage arguments shared by G and D, given the widths and each stage's block layers."""
    cardinalities, expansion, kernel_size = [], 2, 3
    for stage, layers in enumerate(block_layers):
        groups = 1
        for layer in layers:
            _, groups, expansion, kernel_size = _block_shape(state, stage, layer)
        cardinalities.append(groups)
    return {"widths": widths, "cardinalities": cardinalities, "blocks": [len(r) for r in block_layers],
            "expansion": expansion, "kernel_size": kernel_size}


def _generator_kwargs(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    counts = _layer_counts(state)
    widths = [state["stages.0.layers.0.basis"].shape[0]]
    for stage in range(1, len(counts)):
        linear = state.get(f"stages.{stage}.layers.0.linear.weight")
        widths.append(widths[-1] if linear is None else linear.shape[0])
    embed = state.get("embed.weight")
    embed_dim, c_dim = (0, 0) if embed is None else tuple(embed.shape)
    return {
        "z_dim": state["stages.0.layers.0.linear.weight"].shape[1] - embed_dim, "c_dim": c_dim,
        "img_resolution": 4 * 2 ** (len(counts) - 1), "img_channels": state["to_rgb.weight"].shape[0],
        "embed_dim": embed_dim,
        **_stage_lists(state, widths, [range(1, n) for n in counts]),
    }


def _discriminator_kwargs(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    counts = _layer_counts(state)
    widths = [state["from_rgb.weight"].shape[0]]
    for stage in range(len(counts) - 1):
        linear = state.get(f"stages.{stage}.layers.{counts[stage] - 1}.linear.weight")
        widths.append(widths[-1] if linear is None else linear.shape[0])
    embed = state.get("embed.weight")
    embed_dim, c_dim = (0, 0) if embed is None else tuple(embed.shape)
    return {
        "c_dim": c_dim, "img_resolution": 4 * 2 ** (len(counts) - 1),
        "img_channels": state["from_rgb.weight"].shape[1], "embed_dim": embed_dim,
        **_stage_lists(state, widths, [range(n - 1) for n in counts]),
    }
