"""A legacy TensorFlow Network as read from its pickle, and its variables taken by name into torch's layouts.

`TFNetwork` is a checked `TFNetworkRecord` (build function, keyword arguments, sub-networks,
variables); `TFVariables` hands the variables out one by one in torch's layouts so that any left
unconverted can be reported; `load_converted` loads the result into a network strictly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.compat.bounded import state_mismatch
from ganforge.compat.safe_unpickle import TFNetworkRecord
from ganforge.errors import NetworkFileError


@dataclass
class TFNetwork:
    """A checked `TFNetworkRecord`: build function, its kwargs, sub-networks and variables by name."""

    name: str
    func: str
    kwargs: dict[str, Any]
    components: dict[str, TFNetwork]
    variables: dict[str, np.ndarray]

    @classmethod
    def parse(cls, record: Any, source: str) -> TFNetwork:
        """Check the record's state and turn it into a `TFNetwork` (sub-networks included)."""
        if not isinstance(record, TFNetworkRecord):
            found = type(record).__name__
            raise NetworkFileError(f"{source}: expected a TensorFlow Network, found a {found}")
        state = record.state
        name, func = state.get("name"), state.get("build_func_name")
        kwargs, components = state.get("static_kwargs", {}), state.get("components", {})
        variables = state.get("variables")
        if not (isinstance(name, str) and isinstance(func, str) and isinstance(kwargs, dict)
                and isinstance(components, dict) and isinstance(variables, list | tuple)):
            raise NetworkFileError(f"{source}: malformed TensorFlow Network {name!r} (missing or odd fields)")
        values: dict[str, np.ndarray] = {}
        for item in variables:
            if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], np.ndarray | np.generic) and item[1].dtype.kind == "f"):
                raise NetworkFileError(f"{source}: network {name!r} has a malformed variable ({item!r:.80})")
            values[item[0]] = np.asarray(item[1])
        subs = {str(key): cls.parse(value, source) for key, value in components.items()}
        return cls(name, func, dict(kwargs), subs, values)

    def all_variables(self, by_name: bool = False, prefix: str = "") -> dict[str, np.ndarray]:
        """Own and sub-network variables by full name, a sub-network's prefixed with its key in
        `components` ('synthesis/4x4/Conv/weight') or, `by_name`, with its name as TF's `Network.vars`
        does ('G_synthesis/4x4/Conv/weight')."""
        found = {prefix + name: value for name, value in self.variables.items()}
        for key, component in self.components.items():
            sub = component.name if by_name else key
            found.update(component.all_variables(by_name, f"{prefix}{sub}/"))
        return found


class TFVariables:
    """A network's TF variables, taken one by one so that any left unconverted can be reported."""

    def __init__(self, network: TFNetwork, source: str, by_name: bool = False) -> None:
        self.values = network.all_variables(by_name)
        self.unused = set(self.values)
        self.network, self.source = network.name, source

    def take(self, name: str) -> np.ndarray:
        if name not in self.values:
            raise NetworkFileError(f"{self.source}: TF network {self.network!r} lacks variable {name!r}")
        self.unused.discard(name)
        return self.values[name]

    def dense(self, prefix: str, scope: str) -> dict[str, np.ndarray]:
        """A dense layer: TF [in, out] -> torch [out, in]."""
        weight, bias = self.take(f"{scope}/weight"), self.take(f"{scope}/bias")
        return {f"{prefix}.weight": weight.T, f"{prefix}.bias": bias}

    def conv(self, name: str, flip: bool = False) -> np.ndarray:
        """A conv kernel: TF [kh, kw, in, out] -> torch [out, in, kh, kw], spatially flipped if `flip`."""
        w = self.take(name)
        return (w[::-1, ::-1] if flip else w).transpose(3, 2, 0, 1)

    def modulated(self, prefix: str, scope: str, flip: bool = False) -> dict[str, np.ndarray]:
        """A modulated conv: kernel, bias and style affine (TF adds 1 to the style at run time)."""
        return {
            f"{prefix}.weight": self.conv(f"{scope}/weight", flip),
            f"{prefix}.bias": self.take(f"{scope}/bias"),
            f"{prefix}.affine.weight": self.take(f"{scope}/mod_weight").T,
            f"{prefix}.affine.bias": self.take(f"{scope}/mod_bias") + 1,
        }


def load_converted(network: nn.Module, state: dict[str, np.ndarray], v: TFVariables, source: str) -> Any:
    """`network` with the converted `state` loaded strictly once every variable is used and every shape
    fits (resample filters come from the arguments); in eval mode."""
    if v.unused:
        raise NetworkFileError(
            f"{source}: TF network {v.network!r} has variables ganforge does not know how to convert: "
            f"{', '.join(sorted(v.unused))}"
        )
    tensors = {key: torch.from_numpy(np.array(value, dtype=np.float32)) for key, value in state.items()}
    tensors.update((key, t) for key, t in network.state_dict().items() if key.endswith("resample_filter"))
    problem = state_mismatch(network, tensors)
    if problem:
        raise NetworkFileError(f"{source}: TF network {v.network!r}: its variables do not fit its arguments: "
                               f"{problem}")
    network.load_state_dict(tensors, strict=True)
    return network.eval().requires_grad_(False)
