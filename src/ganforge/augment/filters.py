"""The wavelet filters of the augmentations and reflection at image borders: the sym6 low-pass of the
geometric resampling, the sym2 filter bank of image-space filtering, and mirror padding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
"""Low-pass decomposition filter of the Symlet-2 wavelet (the filter bank's prototype)."""

SYM6 = [
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
]  # fmt: skip
"""Low-pass decomposition filter of the Symlet-6 wavelet (the geometric resampling filter)."""

BAND_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)
"""Expected power of natural images in the four filter bands (a 1/f spectrum)."""


def filter_bank(lowpass: Sequence[float], num_bands: int = 4) -> np.ndarray:
    """Zero-phase FIR filters [num_bands, taps] splitting an image into octave bands; rows sum to a delta.

    Band 0 is the low-pass residual, band ``num_bands - 1`` the finest detail. Built like an
    undecimated wavelet transform: each level stretches the filters so far by two, smooths them
    with the half-band low-pass ``H(z)H(1/z)/2`` and adds the high-pass ``H(-z)H(-1/z)/2`` as the
    new band.
    """
    lo = np.asarray(lowpass, dtype=np.float64)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.zeros([num_bands, 1])
    bank[0, 0] = 1
    for band in range(1, num_bands):
        stretched = np.zeros([num_bands, 2 * bank.shape[1] - 1])
        stretched[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in stretched])
        start = (bank.shape[1] - hi2.size) // 2
        bank[band, start : start + hi2.size] += hi2
    return bank


def reflect_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Map any integer positions into [0, size) by mirroring about the edge pixels (no repeat)."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def reflect_pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Reflect-pad NCHW images by any amounts (mirroring again where a pad exceeds the image)."""
    height, width = x.shape[2:]
    cols = reflect_index(torch.arange(-left, width + right, device=x.device), width)
    rows = reflect_index(torch.arange(-top, height + bottom, device=x.device), height)
    return x.index_select(3, cols).index_select(2, rows)
