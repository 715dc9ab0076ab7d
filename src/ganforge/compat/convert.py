"""Any network file ganforge reads (official PyTorch or legacy TensorFlow pickle) as a ganforge checkpoint."""

from __future__ import annotations

import logging
import os
from typing import Any

from torch import nn

from ganforge.compat.checkpoint import is_json, save_network_checkpoint
from ganforge.compat.loader import load_network
from ganforge.compat.official import NetworkSource

logger = logging.getLogger(__name__)


def convert_network(source: NetworkSource, dest: str | os.PathLike[str]) -> list[str]:
    """Read `source` with `load_network` and write its networks and plain data to checkpoint `dest`.

    The checkpoint is written atomically and is read back by `load_network` without any pickled
    code. Values that are neither networks nor JSON-able data are left out (with a warning).
    Returns the keys of the networks written, e.g. ['G', 'D', 'G_ema'].
    """
    data = load_network(source)
    networks = {key: value for key, value in data.items() if isinstance(value, nn.Module)}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in networks:
            continue
        if is_json(value):
            extra[key] = value
        else:
            logger.warning("Leaving %r (a %s) out of %s: not plain data", key, type(value).__name__, dest)
    save_network_checkpoint(dest, networks, extra)
    return list(networks)
