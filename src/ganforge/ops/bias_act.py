"""Bias add, activation, gain and clamp in one call, written with plain PyTorch ops.

Every step matches the StyleGAN2-ADA definition (bias, activation, multiply by gain, then clamp), and
each activation keeps its official default slope `alpha` and default `gain`, so layers reproduce the
official numerics. All steps are differentiable twice (R1 and path-length regularisation need it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F


class Activation(NamedTuple):
    """An activation function with its default slope parameter and its variance-preserving gain."""

    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, _a: x, 0.0, 1.0),
    "relu": Activation(lambda x, _a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, _a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, _a: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, _a: F.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, _a: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, _a: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, _a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def activation_gain(act: str) -> float:
    """The default gain of activation `act` (sqrt(2) for relu-like functions, else 1)."""
    return _spec(act).def_gain


def _spec(act: str) -> Activation:
    try:
        return ACTIVATIONS[act]
    except KeyError:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}") from None


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Return clamp(act(x + b) * gain) with `b` broadcast along dimension `dim` of `x`.

    `alpha` and `gain` default to the activation's own values; `clamp=None` disables clamping,
    otherwise the result is limited to [-clamp, clamp] after the gain.
    """
    spec = _spec(act)
    alpha = float(spec.def_alpha if alpha is None else alpha)
    gain = float(spec.def_gain if gain is None else gain)
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be non-negative or None, got {clamp}")
    if b is not None:
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias of shape {tuple(b.shape)} does not match dim {dim} of {tuple(x.shape)}")
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x
