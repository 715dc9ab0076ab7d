"""StyleGAN (2019) generator: a mapping network z -> w and a synthesis network that starts from a
learned 4x4 constant and, per layer, adds scaled noise, bias, activation, instance norm and an AdaIN
style from w; images come out of a ToRGB layer per level of detail (lod) with the progressive-growing
fade-in between levels.

The call signature matches ganforge's StyleGAN2 generator, so the generate, style-mixing, video
and metrics tools run it unchanged. `ganforge.models.stylegan.tf_names` names every parameter after
the variables of the original TensorFlow release.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ganforge.models.stylegan.layers import (
    ACTIVATIONS,
    Blur,
    Conv2d,
    Dense,
    check_choice,
    instance_norm,
    lerp_clip,
    progressive_layout,
    use_fused,
)
from ganforge.ops.bias_act import bias_act
from ganforge.ops.init_args import keeps_init_args, records_init_args
from ganforge.ops.latents import check_latent_input, track_w_avg, truncate
from ganforge.ops.normalize import normalize_2nd_moment
from ganforge.ops.scale2d import upscale2d
from ganforge.ops.style_generator import StyleGenerator

NOISE_MODES = ("random", "const", "none")
LAYER_KINDS = ("const", "conv", "up")


@records_init_args
@keeps_init_args("z_dim", "c_dim", "w_dim", "num_ws", "num_layers", "normalize_latents", "w_avg_beta")
class MappingNetwork(nn.Module):
    """z (and label c) -> w broadcast to [N, num_ws, w_dim], tracking the running mean of w.

    As the original G_mapping: labels are embedded to z_dim by an unscaled matrix and concatenated
    to z, the concatenation is pixel-normalised, then `num_layers` dense layers (lr multiplier 0.01)
    each with activation. `truncation_psi` pulls w towards the tracked mean `w_avg` (TF
    'dlatent_avg'), only in the first `truncation_cutoff` layers when given (None: all layers).
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        layer_features: int = 512,
        lr_multiplier: float = 0.01,
        activation: str = "lrelu",
        normalize_latents: bool = True,
        use_wscale: bool = True,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        check_choice("activation", activation, ACTIVATIONS)
        if z_dim < 1 or num_layers < 1:
            raise ValueError(f"z_dim and num_layers must be positive, got {z_dim} and {num_layers}")
        if c_dim > 0:
            self.embed = nn.Parameter(torch.randn([c_dim, z_dim]))  # labels @ embed, as TF LabelConcat
        features = [z_dim * (2 if c_dim > 0 else 1)] + [layer_features] * (num_layers - 1) + [w_dim]
        for idx in range(num_layers):
            dense = Dense(features[idx], features[idx + 1], gain=math.sqrt(2), lrmul=lr_multiplier,
                          use_wscale=use_wscale, activation=activation)
            setattr(self, f"dense{idx}", dense)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        skip_w_avg_update: bool = False,
    ) -> torch.Tensor:
        """ws [N, num_ws, w_dim]; in training mode (unless skipped) w_avg moves towards the batch mean."""
        check_latent_input("z", z, self.z_dim)
        x = z.to(torch.float32)
        if self.c_dim > 0:
            check_latent_input("c", c, self.c_dim)
            x = torch.cat([x, c.to(torch.float32).matmul(self.embed)], dim=1)
        if self.normalize_latents:
            x = normalize_2nd_moment(x)
        for idx in range(self.num_layers):
            x = getattr(self, f"dense{idx}")(x)

        if self.training and self.w_avg_beta is not None and not skip_w_avg_update:
            track_w_avg(self.w_avg, x, self.w_avg_beta)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            ws = truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)
        return ws


@keeps_init_args(
    "out_channels", "resolution", "kind", "activation", "use_noise", "use_pixel_norm", "use_instance_norm",
)
class SynthesisLayer(nn.Module):
    """One styled layer: learned constant, 3x3 conv or 2x upscaling 3x3 conv + blur ('const', 'conv',
    'up'), then per-channel scaled noise, bias, activation, optional pixel and instance norm, and
    the AdaIN style x * (s0 + 1) + s1 with (s0, s1) a dense map of w (TF 'StyleMod')."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kind: str,
        activation: str = "lrelu",
        use_noise: bool = True,
        use_pixel_norm: bool = False,
        use_instance_norm: bool = True,
        use_wscale: bool = True,
        fused: bool = False,
        blur_filter: Sequence[float] | None = (1, 2, 1),
    ) -> None:
        super().__init__()
        check_choice("kind", kind, LAYER_KINDS)
        if kind == "const":
            self.const = nn.Parameter(torch.ones([1, out_channels, resolution, resolution]))
        else:
            self.conv = Conv2d(in_channels, out_channels, 3, gain=math.sqrt(2), use_wscale=use_wscale,
                               bias=False, resample="up" if kind == "up" else None, fused=fused)
        self.blur = Blur(blur_filter) if kind == "up" and blur_filter else None
        if use_noise:
            self.noise_weight = nn.Parameter(torch.zeros([out_channels]))
            self.register_buffer("noise_const", torch.randn([1, 1, resolution, resolution]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.style = Dense(w_dim, 2 * out_channels, gain=1, use_wscale=use_wscale)

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        """Features [N, out_channels, R, R] from the previous features `x` (unused for 'const')."""
        if self.kind == "const":
            x = self.const.expand(w.shape[0], -1, -1, -1)
        else:
            x = self.conv(x)
            if self.blur is not None:
                x = self.blur(x)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)
            else:
                noise = self.noise_const
            x = x + noise * self.noise_weight.reshape(1, -1, 1, 1)
        x = bias_act(x, self.bias, act=self.activation, gain=1)
        if self.use_pixel_norm:
            x = normalize_2nd_moment(x)
        if self.use_instance_norm:
            x = instance_norm(x)
        style = self.style(w).reshape(-1, 2, self.out_channels, 1, 1)
        return x * (style[:, 0] + 1) + style[:, 1]

    def extra_repr(self) -> str:
        return f"kind={self.kind}, channels={self.out_channels}, resolution={self.resolution}"


class SynthesisBlock(nn.Module):
    """One resolution: conv0 (the constant at 4x4, else the upscaling conv) and conv1 (3x3 conv)."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, **layer_kwargs: Any) -> None:
        super().__init__()
        self.resolution = resolution
        layer_kwargs["resolution"] = resolution
        first = "const" if resolution == 4 else "up"
        self.conv0 = SynthesisLayer(in_channels, out_channels, kind=first, **layer_kwargs)
        self.conv1 = SynthesisLayer(out_channels, out_channels, kind="conv", **layer_kwargs)

    def forward(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        """Features from the previous block's `x` and this block's two latents ws [N, 2, w_dim]."""
        x = self.conv0(x, ws[:, 0], noise_mode=noise_mode)
        return self.conv1(x, ws[:, 1], noise_mode=noise_mode)


@records_init_args
@keeps_init_args("w_dim", "img_resolution", "img_channels", "structure")
class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, img_resolution, img_resolution].

    Blocks ``b4 .. b{img_resolution}`` have ``nf(log2(res) - 1)`` channels (`progressive_layout`).
    With structure 'linear' there is a ToRGB layer per level of detail (``torgb[lod]`` makes the
    image of resolution img_resolution / 2**lod) and the buffer `lod` selects the output: at lod =
    k + f (0 <= f <= 1) the image is (1 - f) * up(level k) + f * up(level k + 1), nearest-neighbour
    upscaled to the full size. 'fixed' has only ``torgb[0]`` and ignores `lod`.
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        fmap_base: int = 8192,
        fmap_decay: float = 1.0,
        fmap_max: int = 512,
        structure: str = "linear",
        activation: str = "lrelu",
        use_noise: bool = True,
        use_pixel_norm: bool = False,
        use_instance_norm: bool = True,
        use_wscale: bool = True,
        fused_scale: bool | str = "auto",
        blur_filter: Sequence[float] | None = (1, 2, 1),
    ) -> None:
        super().__init__()
        log2, nf = progressive_layout(img_resolution, structure, activation, fmap_base, fmap_decay, fmap_max)
        self.img_resolution_log2 = log2
        self.num_ws = 2 * log2 - 2
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        self.register_buffer("lod", torch.zeros([]))

        for res in self.block_resolutions:
            stage = int(math.log2(res))
            block = SynthesisBlock(
                nf(stage - 2) if res > 4 else 0, nf(stage - 1), res, w_dim=w_dim, activation=activation,
                use_noise=use_noise, use_pixel_norm=use_pixel_norm, use_instance_norm=use_instance_norm,
                use_wscale=use_wscale, fused=use_fused(fused_scale, res), blur_filter=blur_filter,
            )
            setattr(self, f"b{res}", block)
        num_torgb = len(self.block_resolutions) if structure == "linear" else 1
        self.torgb = nn.ModuleList(
            Conv2d(nf(log2 - lod - 1), img_channels, 1, gain=1, use_wscale=use_wscale)
            for lod in range(num_torgb)
        )

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False) -> torch.Tensor:
        """Images (nominally in [-1, 1]) for ws; `force_fp32` exists for the tools' sake (always float32)."""
        del force_fp32
        check_choice("noise_mode", noise_mode, NOISE_MODES)
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        for idx, res in enumerate(self.block_resolutions):
            x = getattr(self, f"b{res}")(x, ws[:, 2 * idx : 2 * idx + 2], noise_mode)
            if self.structure == "linear":
                lod = len(self.block_resolutions) - 1 - idx
                level = self.torgb[lod](x)
                img = level if img is None else lerp_clip(level, upscale2d(img), self.lod - lod)
        if self.structure == "fixed":
            img = self.torgb[0](x)
        return img


@records_init_args
@keeps_init_args("style_mixing_prob")
class Generator(StyleGenerator):
    """StyleGAN generator G(z, c) = synthesis(mapping(z, c)), with style mixing while training.

    In training mode, with probability `style_mixing_prob` the latents from layer k on (k uniform
    in [1, layers in use)) come from a second, random z, as the original; see `mix_styles`. The
    original's inference defaults were truncation_psi=0.7, truncation_cutoff=8; here, as for every
    ganforge generator, the call defaults to no truncation and the tools pass it explicitly.
    """

    mapping_class = MappingNetwork
    synthesis_class = SynthesisNetwork

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        synthesis_kwargs: dict[str, Any] | None = None,
        style_mixing_prob: float = 0.9,
    ) -> None:
        if not 0 <= style_mixing_prob <= 1:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob}")
        super().__init__(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        noise_mode: str = "random",
        force_fp32: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images for latents z [N, z_dim] and labels c [N, c_dim]; `generator` drives style mixing."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        if self.training and self.style_mixing_prob > 0:
            ws = self.mix_styles(ws, c, truncation_psi, truncation_cutoff, generator)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32)

    def mix_styles(
        self,
        ws: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """ws with layers from one cutoff on taken from the ws of a fresh random z (same labels).

        The cutoff is shared by the batch: with probability `style_mixing_prob` uniform in
        [1, layers) where layers = num_ws - 2 * floor(lod) are the ones in use, else `layers`.
        """
        device = generator.device if generator is not None else ws.device
        z2 = torch.randn([ws.shape[0], self.z_dim], generator=generator, device=device).to(ws.device)
        ws2 = self.mapping(z2, c, truncation_psi, truncation_cutoff, skip_w_avg_update=True)
        layers = min(max(self.num_ws - 2 * int(self.synthesis.lod), 2), self.num_ws)
        cutoff = layers
        if torch.rand([], generator=generator, device=device) < self.style_mixing_prob:
            cutoff = int(torch.randint(1, layers, [], generator=generator, device=device))
        return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
