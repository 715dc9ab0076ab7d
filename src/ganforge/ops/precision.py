"""The dtype of the StyleGAN2 `use_fp16` blocks, and the training precisions that choose it
(shared by the networks, the loss and the training loop).

The official release computes its top `num_fp16_res` resolutions in float16 whenever they are not
forced to float32; ganforge does so on CUDA by default (a CPU has no fast float16) and on any device
with `force_fp16`, which runs the same casts, clamps and layouts (so the float16 path is testable on
a CPU). `half_dtype=torch.bfloat16` runs those blocks in bfloat16 instead (float32's range: nothing
overflows, so neither clamps nor loss scaling are needed).
"""

from __future__ import annotations

from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""Training precisions: auto (the official behaviour: float16 blocks on CUDA, float32 on a CPU),
fp32 (no float16 blocks, no clamps: official train.py with fp32 set), fp16 and bf16 (any device)."""

HALF_DTYPES = (torch.float16, torch.bfloat16)


def block_dtype(
    use_fp16: bool,
    device: torch.device,
    force_fp32: bool = False,
    force_fp16: bool = False,
    half_dtype: torch.dtype = torch.float16,
) -> torch.dtype:
    """`half_dtype` for a `use_fp16` block on CUDA, or on any device with `force_fp16`; else float32."""
    if force_fp32 and force_fp16:
        raise ValueError("force_fp32 and force_fp16 exclude each other; pass at most one")
    if half_dtype not in HALF_DTYPES:
        raise ValueError(f"half_dtype must be torch.float16 or torch.bfloat16, got {half_dtype}")
    half = use_fp16 and not force_fp32 and (force_fp16 or device.type == "cuda")
    return half_dtype if half else torch.float32


def computes_float16(precision: str, device: torch.device) -> bool:
    """Whether training `precision` runs the use_fp16 blocks in float16 on `device`."""
    return precision == "fp16" or (precision == "auto" and device.type == "cuda")


def forward_kwargs(precision: str, regularising: bool = False) -> dict[str, Any]:
    """The G.synthesis / D forward arguments of training `precision` for a main or a regularisation
    pass (bf16 keeps R1 and path length in float32, as R3GAN does; fp16 runs them in float16 as the
    official release does on a GPU)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return {"force_fp32": True}
    if precision == "fp16":
        return {"force_fp16": True}
    if precision == "bf16":
        return {"force_fp32": True} if regularising else {"force_fp16": True, "half_dtype": torch.bfloat16}
    return {}
