"""Training snapshots: the networks plus everything needed to continue training bit for bit, and
the transfer of matching weights from a network file into a new run.

A snapshot is a ganforge checkpoint (`ganforge.compat.checkpoint`): the networks G, D, G_ema and
the augment pipe (when there is one) are stored as usual, so `ganforge.compat.load_network` and
`ganforge generate` open it like any network file; the training state (counters, optimiser
states, loss, ADA and schedule state) rides along as the checkpoint's `training_state`. Randomness needs no
stored state: the loop derives every random draw from (seed, rank, step).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ganforge.compat import load_network
from ganforge.compat.checkpoint import read_training_state, save_network_checkpoint
from ganforge.errors import NetworkFileError

logger = logging.getLogger(__name__)

NETWORK_KEYS = ("G", "D", "G_ema", "augment_pipe")


@dataclass
class TrainingState:
    """Where training stands: counters and the state dicts of the objects that learn."""

    cur_nimg: int
    cur_tick: int
    batch_idx: int
    G_opt: dict[str, Any]
    D_opt: dict[str, Any]
    loss: dict[str, Any]
    ada: dict[str, Any] | None
    schedule: dict[str, Any] = field(default_factory=dict)  # the model family's schedule state


def save_snapshot(
    path: str | os.PathLike[str],
    networks: dict[str, nn.Module | None],
    state: TrainingState,
    extra: dict[str, Any],
) -> None:
    """Write networks (keys of `NETWORK_KEYS`; None entries skipped), `state` and JSON-able `extra`."""
    unknown = set(networks) - set(NETWORK_KEYS)
    if unknown:
        raise ValueError(f"unexpected snapshot networks {sorted(unknown)}")
    present = {key: module for key, module in networks.items() if module is not None}
    save_network_checkpoint(path, present, extra=extra, training_state=asdict(state))


def load_snapshot(
    path: str | os.PathLike[str], networks: dict[str, nn.Module | None]
) -> TrainingState:
    """Load a snapshot's weights into `networks` (strictly, same keys present) and return its state."""
    stored = load_network(os.fspath(path))
    for key, module in networks.items():
        if (module is None) != (key not in stored):
            have = "has" if key in stored else "lacks"
            raise NetworkFileError(
                f"{path} {have} '{key}' but this run's options say otherwise; resume with the options "
                "the run was started with"
            )
        if module is not None:
            try:
                module.load_state_dict(stored[key].state_dict(), strict=True)
            except RuntimeError as exc:
                problem = " ".join(str(exc).split())
                raise NetworkFileError(f"{path}: '{key}' does not fit this run's network: {problem}") from exc
    raw = read_training_state(path)
    try:
        return TrainingState(**raw)
    except TypeError as exc:
        raise NetworkFileError(f"{path}: malformed training state ({exc})") from exc


def transfer_weights(source: str, networks: dict[str, nn.Module]) -> None:
    """Start a new run from network file `source`: copy its tensors whose names and shapes match."""
    logger.info('Resuming from "%s"', source)
    loaded = load_network(source)
    for key, module in networks.items():
        if not isinstance(loaded.get(key), nn.Module):
            logger.info("  %s: not in the file, left as initialised", key)
            continue
        copied, total = copy_matching(loaded[key], module)
        logger.info("  %s: copied %d of %d parameters and buffers", key, copied, total)


def copy_matching(source: nn.Module, target: nn.Module) -> tuple[int, int]:
    """Copy `source`'s parameters and buffers into `target`'s of the same name and shape.

    Returns (number copied, number of tensors in `target`).
    """
    src = dict(source.state_dict())
    dst = target.state_dict()
    copied = 0
    with torch.no_grad():
        for name, tensor in dst.items():
            if name in src and src[name].shape == tensor.shape:
                tensor.copy_(src[name].to(tensor.device, tensor.dtype))
                copied += 1
    return copied, len(dst)
