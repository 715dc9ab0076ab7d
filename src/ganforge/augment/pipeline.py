"""The StyleGAN2-ADA augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", appendix B), differentiable so that D's gradients reach G.

Stages run in the paper's order; each augmentation is applied to each sample independently with
probability ``multiplier * p``, where `p` is the strength buffer that ADA adjusts:

1. Pixel blitting (xflip, rotate90, integer translation): composed into one integer 3x3 matrix per
   sample and executed as an exact pixel gather with reflection at the borders (lossless).
2. General geometry (isotropic scale, rotation before and after anisotropic scale, fractional
   translation): composed into one 3x3 matrix per sample and executed once: reflect padding, 2x
   upsampling with the orthogonal sym6 wavelet low-pass, bilinear `grid_sample`, 2x downsampling with
   the same filter reversed. Because the filter is orthogonal, a pure integer mapping loses nothing;
   the filter's group delay is accounted for when the sampling grid is built.
3. Colour (brightness, contrast, luma flip, hue rotation, saturation): one 4x4 homogeneous matrix per
   sample. For 1-channel images the matrix acts on the luma (mean of its RGB rows), so brightness,
   contrast and luma flip apply and hue and saturation are skipped, as in the official release.
4. Image-space filtering: per-sample gains of four frequency bands (a sym2 filter bank).
5. Corruptions: additive Gaussian noise, cutout.

Samples whose geometric or colour transform is the identity skip that stage, so ``p = 0`` is an exact
identity. Randomness comes from torch's global RNG unless `forward` is given a `torch.Generator`.
Buffer names (`p`, `Hz_geom`, `Hz_fbank`) and constructor keywords follow the official release, so
an official snapshot's `augment_pipe` loads with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.augment.filters import BAND_POWER, SYM2, SYM6, filter_bank, reflect_index, reflect_pad
from ganforge.augment.matrices import apply_colour, homogeneous3d, rotate2d, scale2d, translate2d
from ganforge.errors import OptionError
from ganforge.ops.init_args import records_init_args
from ganforge.ops.upfirdn2d import setup_filter, upfirdn2d

_BLIT = {"xflip": 1, "rotate90": 1, "xint": 1}
_GEOM = {"scale": 1, "rotate": 1, "aniso": 1, "xfrac": 1}
_COLOR = {"brightness": 1, "contrast": 1, "lumaflip": 1, "hue": 1, "saturation": 1}
AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    "blit": dict(_BLIT),
    "geom": dict(_GEOM),
    "color": dict(_COLOR),
    "filter": {"imgfilter": 1},
    "noise": {"noise": 1},
    "cutout": {"cutout": 1},
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1, "cutout": 1},
    "r3gan": {**_BLIT, **_GEOM, **{name: 0.5 for name in _COLOR}, "cutout": 1},  # R3GAN's train.py
}
"""The paper's augmentation sets (training's `augpipe`): name -> AugmentPipe multipliers."""


def build_augment_pipe(preset: str, **overrides: Any) -> AugmentPipe:
    """An `AugmentPipe` with the multipliers of a named preset (see `AUGMENT_PRESETS`)."""
    if preset not in AUGMENT_PRESETS:
        raise OptionError(
            f"unknown preset {preset!r}; choose one of: {', '.join(AUGMENT_PRESETS)}", param="preset"
        )
    return AugmentPipe(**{**AUGMENT_PRESETS[preset], **overrides})


def _on_samples(
    x: torch.Tensor, selected: torch.Tensor, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Replace the selected samples of `x` by ``fn(x[index], index)``; the others pass through untouched."""
    index = selected.nonzero().squeeze(1)
    if index.numel() == 0:
        return x
    if index.numel() == x.shape[0]:
        return fn(x, index)
    return x.index_copy(0, index, fn(x[index], index))


class _Draws:
    """Random draws for one batch: per-sample values, each kept with probability `prob`."""

    def __init__(
        self, n: int, device: torch.device, dtype: torch.dtype, generator: torch.Generator | None
    ) -> None:
        self.n, self.device, self.dtype, self.generator = n, device, dtype, generator

    def uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand([self.n, *shape], generator=self.generator, device=self.device, dtype=self.dtype)

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn([self.n, *shape], generator=self.generator, device=self.device, dtype=self.dtype)

    def keep(self, prob: torch.Tensor, value: torch.Tensor, default: float) -> torch.Tensor:
        """`value` where a uniform draw falls below `prob`, else `default` (per sample)."""
        chosen = self.uniform().reshape([self.n] + [1] * (value.ndim - 1)) < prob
        return torch.where(chosen, value, torch.full_like(value, default))


@records_init_args
class AugmentPipe(nn.Module):
    """StyleGAN2-ADA augmentations with per-augmentation probability multipliers and strength `p`.

    Every multiplier defaults to 0 (off); a preset from `AUGMENT_PRESETS` sets the paper's groups to 1.
    The `*_std` values are standard deviations in log2 units for scale-like parameters (lognormal) and
    in image units or image sizes for additive ones; `rotate_max` and `hue_max` are fractions of a half
    turn either way; `xint_max`, `xfrac_std` and `cutout_size` are relative to the image size.
    """

    def __init__(
        self,
        xflip: float = 0,
        rotate90: float = 0,
        xint: float = 0,
        xint_max: float = 0.125,
        scale: float = 0,
        rotate: float = 0,
        aniso: float = 0,
        xfrac: float = 0,
        scale_std: float = 0.2,
        rotate_max: float = 1,
        aniso_std: float = 0.2,
        xfrac_std: float = 0.125,
        brightness: float = 0,
        contrast: float = 0,
        lumaflip: float = 0,
        hue: float = 0,
        saturation: float = 0,
        brightness_std: float = 0.2,
        contrast_std: float = 0.5,
        hue_max: float = 1,
        saturation_std: float = 1,
        imgfilter: float = 0,
        imgfilter_bands: Sequence[float] = (1, 1, 1, 1),
        imgfilter_std: float = 1,
        noise: float = 0,
        cutout: float = 0,
        noise_std: float = 0.1,
        cutout_size: float = 0.5,
    ) -> None:
        super().__init__()
        for name, value in self.init_kwargs.items():
            if name != "imgfilter_bands":
                setattr(self, name, float(value))
        self.imgfilter_bands = [float(b) for b in imgfilter_bands]
        if len(self.imgfilter_bands) != len(BAND_POWER):
            raise ValueError(f"imgfilter_bands needs {len(BAND_POWER)} values, got {self.imgfilter_bands}")

        self.register_buffer("p", torch.ones([]))  # overall strength, adjusted by ADA
        self.register_buffer("Hz_geom", setup_filter(SYM6))
        self.register_buffer("Hz_fbank", torch.as_tensor(filter_bank(SYM2), dtype=torch.float32))
        self._geom_delay = float(np.dot(np.arange(len(SYM6)), SYM6) / np.sum(SYM6))

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment float NCHW images (1 or 3 channels for colour ops); same shape and dtype out."""
        if images.ndim != 4:
            raise ValueError(f"expected NCHW images, got shape {tuple(images.shape)}")
        work_dtype = torch.promote_types(images.dtype, torch.float32)
        draws = _Draws(images.shape[0], images.device, work_dtype, generator)
        x = images.to(work_dtype)
        x = self._blit(x, draws)
        x = self._geometric(x, draws)
        x = self._colour(x, draws)
        x = self._filter(x, draws)
        x = self._corrupt(x, draws)
        return x.to(images.dtype)

    def _prob(self, multiplier: float, dtype: torch.dtype) -> torch.Tensor:
        return multiplier * self.p.to(dtype)

    # --- Stage 1: pixel blitting -----------------------------------------------------------------

    def _blit(self, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
        """x-flip, 90-degree rotations and integer translation as one exact pixel gather."""
        if self.xflip <= 0 and self.rotate90 <= 0 and self.xint <= 0:
            return x
        n, _, height, width = x.shape
        dt = x.dtype
        inv = torch.eye(3, dtype=dt, device=x.device).expand(n, 3, 3)  # output pixel -> input pixel
        ones = torch.ones([n], dtype=dt, device=x.device)
        if self.xflip > 0:
            flip = draws.keep(self._prob(self.xflip, dt), torch.floor(draws.uniform() * 2), 0)
            inv = inv @ scale2d(1 - 2 * flip, ones)
        if self.rotate90 > 0:
            quarter = draws.keep(self._prob(self.rotate90, dt), torch.floor(draws.uniform() * 4), 0).long()
            cos = torch.tensor([1, 0, -1, 0], dtype=dt, device=x.device)[quarter]
            sin = torch.tensor([0, 1, 0, -1], dtype=dt, device=x.device)[quarter]
            inv = inv @ rotate2d(cos, -sin)
        if self.xint > 0:
            shift = draws.keep(self._prob(self.xint, dt), (draws.uniform(2) * 2 - 1) * self.xint_max, 0)
            inv = inv @ translate2d(-torch.round(shift[:, 0] * width), -torch.round(shift[:, 1] * height))
        # Pixel centres in coordinates centred on the image; the matrices map them onto pixel centres.
        cy, cx = (height - 1) / 2, (width - 1) / 2
        ys, xs = torch.meshgrid(
            torch.arange(height, dtype=dt, device=x.device) - cy,
            torch.arange(width, dtype=dt, device=x.device) - cx,
            indexing="ij",
        )
        points = torch.stack([xs.flatten(), ys.flatten(), torch.ones_like(xs.flatten())])  # [3, HW]
        source = inv[:, :2] @ points  # [N, 2, HW]
        sx = reflect_index(torch.round(source[:, 0] + cx).long(), width)
        sy = reflect_index(torch.round(source[:, 1] + cy).long(), height)
        index = (sy * width + sx)[:, None].expand(-1, x.shape[1], -1)
        return x.flatten(2).gather(2, index).reshape(x.shape)

    # --- Stage 2: general geometric transformations ----------------------------------------------

    def _geometric(self, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
        """Scale, rotation, anisotropic scale and fractional translation, resampled once per sample."""
        if self.scale <= 0 and self.rotate <= 0 and self.aniso <= 0 and self.xfrac <= 0:
            return x
        n, _, height, width = x.shape
        dt = x.dtype
        inv = torch.eye(3, dtype=dt, device=x.device).expand(n, 3, 3)  # output pixel -> input pixel
        if self.scale > 0:
            s = draws.keep(self._prob(self.scale, dt), torch.exp2(draws.normal() * self.scale_std), 1)
            inv = inv @ scale2d(1 / s, 1 / s)
        # Rotation happens before and after the anisotropic scaling, each with probability p_rot,
        # so that at least one of them happens with probability rotate * p.
        p_rot = 1 - torch.sqrt((1 - self._prob(self.rotate, dt)).clamp(0, 1))
        if self.rotate > 0:
            theta = draws.keep(p_rot, (draws.uniform() * 2 - 1) * math.pi * self.rotate_max, 0)
            inv = inv @ rotate2d(torch.cos(theta), -torch.sin(theta))
        if self.aniso > 0:
            s = draws.keep(self._prob(self.aniso, dt), torch.exp2(draws.normal() * self.aniso_std), 1)
            inv = inv @ scale2d(1 / s, s)
        if self.rotate > 0:
            theta = draws.keep(p_rot, (draws.uniform() * 2 - 1) * math.pi * self.rotate_max, 0)
            inv = inv @ rotate2d(torch.cos(theta), -torch.sin(theta))
        if self.xfrac > 0:
            shift = draws.keep(self._prob(self.xfrac, dt), draws.normal(2) * self.xfrac_std, 0)
            inv = inv @ translate2d(-shift[:, 0] * width, -shift[:, 1] * height)
        changed = (inv != torch.eye(3, dtype=dt, device=x.device)).flatten(1).any(dim=1)
        return _on_samples(x, changed, lambda sub, index: self._resample(sub, inv[index]))

    def _resample(self, x: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """Images resampled at ``inv @ output pixel`` (centred pixel coordinates), antialiased.

        Upsampling by 2 with filter f (delay d = its centre of mass) puts upsampled pixel u (centred
        coordinates) at input position (u + e) / 2 with e = taps - 1/2 - pad - d. Downsampling by 2
        with f reversed makes output pixel o the weighted mean of intermediate pixels around 2o + d.
        The intermediate grid is built so both line up; an identity `inv` then reproduces the input
        exactly, since the wavelet filter is orthogonal.
        """
        f = self.Hz_geom.to(x.dtype)
        taps = f.numel()
        delay = self._geom_delay
        _, _, height, width = x.shape

        # Intermediate (2x) output grid, in centred coordinates of the output image.
        def grid_axis(size: int) -> torch.Tensor:
            q = torch.arange(2 * size + taps - 2, dtype=x.dtype, device=x.device)
            return (q - delay) / 2 - (size - 1) / 2

        gx, gy = grid_axis(width), grid_axis(height)
        ys, xs = torch.meshgrid(gy, gx, indexing="ij")
        points = torch.stack([xs.flatten(), ys.flatten(), torch.ones_like(xs.flatten())])  # [3, P]
        source = inv[:, :2] @ points  # [N, 2, P] in centred input coordinates

        # Reflect-pad enough to cover the sampled area plus the filter support, by at most the image
        # size per side (beyond that grid_sample reads zeros, as in the official pipeline).
        corners = torch.stack([gx[[0, -1, -1, 0]], gy[[0, 0, -1, -1]], torch.ones_like(gx[:4])])
        reach = inv[:, :2] @ corners  # [N, 2, 4]
        half = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=x.dtype, device=x.device)
        limit = torch.tensor([width - 1, height - 1], dtype=x.dtype, device=x.device)
        support = taps / 4 + 1
        margins = torch.stack([-reach.amin(dim=(0, 2)), reach.amax(dim=(0, 2))]) - half + support
        (mx0, my0), (mx1, my1) = torch.minimum(margins.ceil().clamp(min=0), limit).long().tolist()
        x = reflect_pad(x, mx0, mx1, my0, my1)
        pad_w, pad_h = width + mx0 + mx1, height + my0 + my1
        n, channels = x.shape[:2]

        # The FIR passes run on one-channel images: plain convolutions are faster than grouped ones.
        up_pad = taps // 2
        x = upfirdn2d(
            x.reshape(n * channels, 1, pad_h, pad_w), f, up=2, padding=[up_pad, taps - 1 - up_pad] * 2, gain=4
        )
        x = x.reshape(n, channels, 2 * pad_h, 2 * pad_w)
        e = taps - 0.5 - up_pad - delay
        # Centred input coordinates -> padded image -> upsampled image -> grid_sample's [-1, 1].
        offset = torch.tensor([(mx0 - mx1) / 2, (my0 - my1) / 2], dtype=x.dtype, device=x.device)
        size = torch.tensor([pad_w, pad_h], dtype=x.dtype, device=x.device)
        grid = (2 * (source + offset[:, None]) - e) / size[:, None]
        grid = grid.transpose(1, 2).reshape(-1, gy.numel(), gx.numel(), 2)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = upfirdn2d(x.reshape(n * channels, 1, *x.shape[2:]), f, down=2, flip_filter=True)
        return x.reshape(n, channels, height, width)

    # --- Stage 3: colour transformations ---------------------------------------------------------

    def _colour(self, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
        """Brightness, contrast, luma flip, hue rotation and saturation as one 4x4 matrix per sample."""
        channels = x.shape[1]
        rgb_only = channels > 1  # hue and saturation need chroma
        enabled = [self.brightness, self.contrast, self.lumaflip]
        enabled += [self.hue, self.saturation] if rgb_only else []
        if max(enabled) <= 0:
            return x
        if channels not in (1, 3):
            raise ValueError(f"colour augmentations need 1 or 3 channels, got {channels}")
        n, dt, dev = x.shape[0], x.dtype, x.device
        eye = torch.eye(3, dtype=dt, device=dev).expand(n, 3, 3)
        luma = torch.full([3], 1 / math.sqrt(3), dtype=dt, device=dev)
        luma_outer = torch.outer(luma, luma)
        colour = torch.eye(4, dtype=dt, device=dev).expand(n, 4, 4)  # colour_in -> colour_out
        if self.brightness > 0:
            b = draws.keep(self._prob(self.brightness, dt), draws.normal() * self.brightness_std, 0)
            colour = homogeneous3d(eye, b[:, None].expand(n, 3)) @ colour
        if self.contrast > 0:
            c = draws.keep(self._prob(self.contrast, dt), torch.exp2(draws.normal() * self.contrast_std), 1)
            colour = homogeneous3d(eye * c[:, None, None]) @ colour
        if self.lumaflip > 0:
            flip = draws.keep(self._prob(self.lumaflip, dt), torch.floor(draws.uniform() * 2), 0)
            colour = homogeneous3d(eye - 2 * luma_outer * flip[:, None, None]) @ colour  # Householder
        if self.hue > 0 and rgb_only:
            theta = draws.keep(
                self._prob(self.hue, dt), (draws.uniform() * 2 - 1) * math.pi * self.hue_max, 0
            )
            cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
            cross = torch.tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=dt, device=dev) / math.sqrt(3)
            colour = homogeneous3d(cos * eye + sin * cross + (1 - cos) * luma_outer) @ colour  # Rodrigues
        if self.saturation > 0 and rgb_only:
            s = draws.keep(
                self._prob(self.saturation, dt), torch.exp2(draws.normal() * self.saturation_std), 1
            )
            colour = homogeneous3d(eye + (s[:, None, None] - 1) * (eye - luma_outer)) @ colour
        changed = (colour != torch.eye(4, dtype=dt, device=dev)).flatten(1).any(dim=1)
        return _on_samples(x, changed, lambda sub, index: apply_colour(sub, colour[index]))

    # --- Stage 4: image-space filtering ----------------------------------------------------------

    def _filter(self, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
        """Amplify or attenuate four frequency bands per sample, keeping the expected image power."""
        if self.imgfilter <= 0:
            return x
        n, channels = x.shape[:2]
        dt, dev = x.dtype, x.device
        power = torch.tensor(BAND_POWER, dtype=dt, device=dev)
        num_bands = len(BAND_POWER)
        gains = torch.ones([n, num_bands], dtype=dt, device=dev)
        selected = torch.zeros([n], dtype=torch.bool, device=dev)
        for band, band_strength in enumerate(self.imgfilter_bands):
            chosen = draws.uniform() < self._prob(self.imgfilter * band_strength, dt)
            amp = torch.where(chosen, torch.exp2(draws.normal() * self.imgfilter_std), 1)
            t = torch.ones([n, num_bands], dtype=dt, device=dev)
            t[:, band] = amp
            gains = gains * t / (power * t.square()).sum(dim=1, keepdim=True).sqrt()
            selected = selected | chosen

        def apply(sub: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            taps = (gains[index] @ self.Hz_fbank.to(dt)).repeat_interleave(channels, dim=0)  # [M*C, T]
            r = taps.shape[1] // 2
            m, _, height, width = sub.shape
            y = reflect_pad(sub, r, r, r, r).reshape(1, m * channels, height + 2 * r, width + 2 * r)
            y = F.conv2d(y, taps[:, None, None, :], groups=m * channels)
            y = F.conv2d(y, taps[:, None, :, None], groups=m * channels)
            return y.reshape(sub.shape)

        return _on_samples(x, selected, apply)

    # --- Stage 5: image-space corruptions --------------------------------------------------------

    def _corrupt(self, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
        """Additive Gaussian noise with a random per-sample sigma, then a cutout rectangle."""
        n, channels, height, width = x.shape
        dt = x.dtype
        if self.noise > 0:
            sigma = draws.keep(self._prob(self.noise, dt), draws.normal().abs() * self.noise_std, 0)
            x = x + draws.normal(channels, height, width) * sigma[:, None, None, None]
        if self.cutout > 0:
            size = draws.keep(
                self._prob(self.cutout, dt), torch.full([n], self.cutout_size, dtype=dt, device=x.device), 0
            )
            centre = draws.uniform(2)
            cols = (torch.arange(width, dtype=dt, device=x.device) + 0.5) / width
            rows = (torch.arange(height, dtype=dt, device=x.device) + 0.5) / height
            outside_x = (cols[None, :] - centre[:, :1]).abs() >= size[:, None] / 2  # [N, W]
            outside_y = (rows[None, :] - centre[:, 1:]).abs() >= size[:, None] / 2  # [N, H]
            keep = outside_x[:, None, None, :] | outside_y[:, None, :, None]
            x = x * keep.to(dt)
        return x
