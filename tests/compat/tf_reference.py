"""Numpy runs of the TF graphs of StyleGAN2, StyleGAN2-ADA and StyleGAN, the reference for conversions.

They follow NVlabs/stylegan2's networks_stylegan2.py and upfirdn_2d.py, NVlabs/stylegan2-ada's
training/networks.py (label embedding, activation clamping) and NVlabs/stylegan's networks_stylegan.py
op by op on the pickled numpy arrays, in float64: TF layouts (HWIO kernels, [in, out] dense weights),
the runtime weight scaling, conv2d_transpose of the flipped kernel for up-sampling, FIR filtering by
explicit taps.
"""

from __future__ import annotations

import numpy as np
import torch
from tests.compat.tf_pickles import TinyConfig, TinyV1Config

V = dict[str, np.ndarray]
SQRT2 = np.sqrt(2.0)
FIR = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64.0  # TF _setup_kernel([1, 3, 3, 1])


# --- TF ops in numpy ------------------------------------------------------------------------------


def lrelu(x: np.ndarray) -> np.ndarray:
    """fused_bias_act's 'lrelu': alpha 0.2, default gain sqrt(2)."""
    return np.where(x >= 0, x, 0.2 * x) * SQRT2


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, lrmul: float = 1.0) -> np.ndarray:
    """dense_layer + bias: weight [in, out] scaled at run time by lrmul / sqrt(fan_in), bias by lrmul."""
    y = x @ (w.astype(np.float64) * (lrmul / np.sqrt(w.shape[0])))
    return y if b is None else y + b * lrmul


def conv_valid(x: np.ndarray, w: np.ndarray, stride: int = 1) -> np.ndarray:
    """tf.nn.conv2d(padding='VALID') of NCHW `x` with an HWIO kernel: correlation, tap by tap."""
    k = w.shape[0]
    ho, wo = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[3], ho, wo))
    for a in range(k):
        for b in range(k):
            patch = x[:, :, a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride]
            out += np.einsum("nchw,co->nohw", patch, w[a, b])
    return out


def pad(x: np.ndarray, p0: int, p1: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p0, p1), (p0, p1)))


def conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return conv_valid(pad(x, w.shape[0] // 2, w.shape[0] // 2), w)


def upfirdn(x: np.ndarray, k: np.ndarray, up: int = 1, down: int = 1, p0: int = 0, p1: int = 0) -> np.ndarray:
    """upfirdn_2d (ref): insert zeros, pad, convolve with k (correlate with k flipped), keep every down-th."""
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * up, w * up))
    z[:, :, ::up, ::up] = x
    z = pad(z, p0, p1)
    flipped = k[::-1, ::-1]
    size = z.shape[2] - k.shape[0] + 1
    taps = [(a, b) for a in range(k.shape[0]) for b in range(k.shape[1])]
    out = sum(flipped[a, b] * z[:, :, a:a + size, b:b + size] for a, b in taps)
    return out[:, :, ::down, ::down]


def upsample_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """upsample_conv_2d: conv2d_transpose (stride 2, VALID) of the flipped kernel, then the FIR filter."""
    flipped = w[::-1, ::-1]  # [kh, kw, in, out]; conv2d_transpose's filter is [kh, kw, out, in]
    k = w.shape[0]
    n, _, h, wd = x.shape
    y = np.zeros((n, w.shape[3], (h - 1) * 2 + k, (wd - 1) * 2 + k))
    for a in range(k):
        for b in range(k):
            y[:, :, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum("nchw,co->nohw", x, flipped[a, b])
    p = (FIR.shape[0] - 2) - (k - 1)
    return upfirdn(y, FIR * 4, p0=(p + 1) // 2 + 1, p1=p // 2 + 1)


def conv_downsample(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """conv_downsample_2d: FIR filter with the conv's padding folded in, then conv2d stride 2."""
    p = (FIR.shape[0] - 2) + (w.shape[0] - 1)
    return conv_valid(upfirdn(x, FIR, p0=(p + 1) // 2, p1=p // 2), w, stride=2)


def upsample(x: np.ndarray) -> np.ndarray:
    p = FIR.shape[0] - 2
    return upfirdn(x, FIR * 4, up=2, p0=(p + 1) // 2 + 1, p1=p // 2)


def downsample(x: np.ndarray) -> np.ndarray:
    p = FIR.shape[0] - 2
    return upfirdn(x, FIR, down=2, p0=(p + 1) // 2, p1=p // 2)


def he(w: np.ndarray) -> np.ndarray:
    """get_weight's runtime coefficient (gain 1, use_wscale): w / sqrt(fan_in)."""
    return w.astype(np.float64) / np.sqrt(np.prod(w.shape[:-1]))


# --- the TF networks ------------------------------------------------------------------------------


def modulated_conv(x: np.ndarray, dlatent: np.ndarray, v: V, scope: str, demodulate: bool = True,
                   up: bool = False) -> np.ndarray:
    """modulated_conv2d_layer, one sample at a time (the fused form's per-sample kernels), float32 eps."""
    w = he(v[f"{scope}/weight"])
    s = dense(dlatent, v[f"{scope}/mod_weight"], v[f"{scope}/mod_bias"]) + 1  # [N, in]
    out = []
    for i in range(x.shape[0]):
        ww = w * s[i][None, None, :, None]
        if demodulate:
            ww = ww / np.sqrt(np.square(ww).sum(axis=(0, 1, 2)) + 1e-8)
        out.append(upsample_conv(x[i:i + 1], ww) if up else conv_same(x[i:i + 1], ww))
    return np.concatenate(out)


def normalize(x: np.ndarray) -> np.ndarray:
    """normalize_2nd_moment over features."""
    return x * (1.0 / np.sqrt(np.mean(np.square(x), axis=1, keepdims=True) + 1e-8))


def mapping(z: np.ndarray, v: V, layers: int, c: np.ndarray | None = None) -> np.ndarray:
    """G_mapping; labels `c` (StyleGAN2-ADA) are embedded by LabelEmbed, normalised and appended."""
    x = normalize(z)
    if c is not None:
        y = dense(c, v["mapping/LabelEmbed/weight"], v["mapping/LabelEmbed/bias"])
        x = np.concatenate([x, normalize(y)], axis=1)
    for i in range(layers):
        x = lrelu(dense(x, v[f"mapping/Dense{i}/weight"], v[f"mapping/Dense{i}/bias"], lrmul=0.01))
    return x


def clamp(x: np.ndarray, limit: float | None) -> np.ndarray:
    """fused_bias_act's clamp (after the activation and its gain)."""
    return x if limit is None else np.clip(x, -limit, limit)


def synthesis(dl: np.ndarray, v: V, cfg: TinyConfig) -> np.ndarray:
    """G_synthesis_stylegan2 (or StyleGAN2-ADA's G_synthesis, clamping at `cfg.conv_clamp`) with
    randomize_noise=False (the stored noise inputs)."""

    def layer(x: np.ndarray, idx: int, scope: str, up: bool = False) -> np.ndarray:
        x = modulated_conv(x, dl[:, idx], v, f"synthesis/{scope}", up=up)
        x = x + v[f"synthesis/noise{idx}"] * v[f"synthesis/{scope}/noise_strength"]
        return clamp(lrelu(x + v[f"synthesis/{scope}/bias"][None, :, None, None]), cfg.conv_clamp)

    def torgb(x: np.ndarray, y: np.ndarray | None, res: int) -> np.ndarray:
        scope = f"synthesis/{2**res}x{2**res}/ToRGB"
        t = modulated_conv(x, dl[:, res * 2 - 3], v, scope, demodulate=False)
        t = clamp(t + v[f"{scope}/bias"][None, :, None, None], cfg.conv_clamp)
        return t if y is None else y + t

    arch = cfg.g_architecture
    x = np.tile(v["synthesis/4x4/Const/const"].astype(np.float64), (dl.shape[0], 1, 1, 1))
    x = layer(x, 0, "4x4/Conv")
    y = torgb(x, None, 2) if arch == "skip" else None
    for res in range(3, cfg.log2 + 1):
        scope = f"{2**res}x{2**res}"
        t = x
        x = layer(x, res * 2 - 5, f"{scope}/Conv0_up", up=True)
        x = layer(x, res * 2 - 4, f"{scope}/Conv1")
        if arch == "resnet":
            t = upsample_conv(t, he(v[f"synthesis/{scope}/Skip/weight"]))
            x = (x + t) / SQRT2
        if arch == "skip":
            y = upsample(y)
        if arch == "skip" or res == cfg.log2:
            y = torgb(x, y, res)
    return y


def minibatch_stddev(x: np.ndarray, group_size: int | None, features: int) -> np.ndarray:
    g = x.shape[0] if group_size is None else min(group_size, x.shape[0])
    n, c, h, w = x.shape
    y = x.reshape(g, -1, features, c // features, h, w)
    y = np.sqrt(np.mean(np.square(y - y.mean(axis=0, keepdims=True)), axis=0) + 1e-8)
    y = y.mean(axis=(2, 3, 4))  # [M, features]
    return np.concatenate([x, np.tile(y[:, :, None, None], (g, 1, h, w))], axis=1)


def discriminator(img: np.ndarray, v: V, cfg: TinyConfig, c: np.ndarray | None = None) -> np.ndarray:
    """D_stylegan2 (unconditional), or StyleGAN2-ADA's D_main: clamping at `cfg.conv_clamp`, and with
    labels `c` embedded (LabelEmbed, Mapping{i}) for the output to be projected on."""
    arch = cfg.d_architecture

    def act(x: np.ndarray, scope: str) -> np.ndarray:
        return clamp(lrelu(x + v[f"{scope}/bias"][None, :, None, None]), cfg.conv_clamp)

    def fromrgb(x: np.ndarray | None, y: np.ndarray, scope: str) -> np.ndarray:
        t = act(conv_same(y, he(v[f"{scope}/FromRGB/weight"])), f"{scope}/FromRGB")
        return t if x is None else x + t

    x, y = None, img.astype(np.float64)
    for res in range(cfg.log2, 2, -1):
        scope = f"{2**res}x{2**res}"
        if arch == "skip" or res == cfg.log2:
            x = fromrgb(x, y, scope)
        t = x
        x = act(conv_same(x, he(v[f"{scope}/Conv0/weight"])), f"{scope}/Conv0")
        x = act(conv_downsample(x, he(v[f"{scope}/Conv1_down/weight"])), f"{scope}/Conv1_down")
        if arch == "resnet":
            x = (x + conv_downsample(t, he(v[f"{scope}/Skip/weight"]))) / SQRT2
        if arch == "skip":
            y = downsample(y)
    if arch == "skip":
        x = fromrgb(x, y, "4x4")
    if cfg.mbstd_num_features:
        x = minibatch_stddev(x, cfg.mbstd_group_size, cfg.mbstd_num_features)
    x = act(conv_same(x, he(v["4x4/Conv/weight"])), "4x4/Conv")
    x = lrelu(dense(x.reshape(x.shape[0], -1), v["4x4/Dense0/weight"], v["4x4/Dense0/bias"]))
    x = dense(x, v["Output/weight"], v["Output/bias"])
    if c is None:
        return x
    cmap = normalize(dense(c, v["LabelEmbed/weight"], v["LabelEmbed/bias"]))
    for i in range(cfg.d_mapping_layers):
        cmap = lrelu(dense(cmap, v[f"Mapping{i}/weight"], v[f"Mapping{i}/bias"], lrmul=0.1))
    return np.sum(x * cmap, axis=1, keepdims=True) / np.sqrt(cmap.shape[1])


def v1_dense(x: np.ndarray, w: np.ndarray, b: np.ndarray, gain: float, lrmul: float = 1.0) -> np.ndarray:
    """StyleGAN's dense + apply_bias: weight scaled by gain * lrmul / sqrt(fan_in), bias by lrmul."""
    return x @ (w.astype(np.float64) * (gain * lrmul / np.sqrt(w.shape[0]))) + b * lrmul


def v1_conv(x: np.ndarray, w: np.ndarray, gain: float = SQRT2) -> np.ndarray:
    return conv_same(x, he(w) * gain)


def leaky(x: np.ndarray) -> np.ndarray:
    """StyleGAN's leaky_relu: max(x, 0.2 x), no gain (that sits in the weights)."""
    return np.maximum(x, 0.2 * x)


def blur(x: np.ndarray) -> np.ndarray:
    """blur2d([1, 2, 1]): normalised depthwise 3x3 filter, SAME padding."""
    k = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16
    xp, h = pad(x, 1, 1), x.shape[2]
    return sum(k[a, b] * xp[:, :, a:a + h, b:b + h] for a in range(3) for b in range(3))


def v1_mapping(z: np.ndarray, c: np.ndarray, v: V, cfg: TinyV1Config) -> np.ndarray:
    x = np.concatenate([z, c @ v["G_mapping/LabelConcat/weight"]], axis=1)
    x = x / np.sqrt(np.mean(np.square(x), axis=1, keepdims=True) + 1e-8)
    for i in range(cfg.mapping_layers):
        x = leaky(v1_dense(x, v[f"G_mapping/Dense{i}/weight"], v[f"G_mapping/Dense{i}/bias"], SQRT2, 0.01))
    return x


def v1_synthesis(dl: np.ndarray, v: V) -> np.ndarray:
    """G_synthesis at 8x8, lod 0, stored noise: const, conv, up-conv + blur, conv, ToRGB_lod0."""
    s = "G_synthesis"

    def epilogue(x: np.ndarray, idx: int, scope: str) -> np.ndarray:
        x = x + v[f"{s}/noise{idx}"] * v[f"{s}/{scope}/Noise/weight"][None, :, None, None]
        x = leaky(x + v[f"{s}/{scope}/bias"][None, :, None, None])
        x = x - x.mean(axis=(2, 3), keepdims=True)
        x = x / np.sqrt(np.mean(np.square(x), axis=(2, 3), keepdims=True) + 1e-8)
        style = v1_dense(dl[:, idx], v[f"{s}/{scope}/StyleMod/weight"], v[f"{s}/{scope}/StyleMod/bias"], 1.0)
        style = style.reshape(x.shape[0], 2, x.shape[1], 1, 1)
        return x * (style[:, 0] + 1) + style[:, 1]

    const = np.tile(v[f"{s}/4x4/Const/const"].astype(np.float64), (dl.shape[0], 1, 1, 1))
    x = epilogue(const, 0, "4x4/Const")
    x = epilogue(v1_conv(x, v[f"{s}/4x4/Conv/weight"]), 1, "4x4/Conv")
    x = epilogue(blur(v1_conv(x.repeat(2, axis=2).repeat(2, axis=3), v[f"{s}/8x8/Conv0_up/weight"])), 2,
                 "8x8/Conv0_up")
    x = epilogue(v1_conv(x, v[f"{s}/8x8/Conv1/weight"]), 3, "8x8/Conv1")
    return v1_conv(x, v[f"{s}/ToRGB_lod0/weight"], gain=1.0) + v[f"{s}/ToRGB_lod0/bias"][None, :, None, None]


def v1_discriminator(img: np.ndarray, c: np.ndarray, v: V, cfg: TinyV1Config) -> np.ndarray:
    """D_basic at 8x8, lod 0, with label projection."""

    def act_bias(x: np.ndarray, scope: str) -> np.ndarray:
        return leaky(x + v[f"{scope}/bias"][None, :, None, None])

    x = act_bias(v1_conv(img, v["FromRGB_lod0/weight"]), "FromRGB_lod0")
    x = act_bias(v1_conv(x, v["8x8/Conv0/weight"]), "8x8/Conv0")
    x = v1_conv(blur(x), v["8x8/Conv1_down/weight"])
    x = act_bias(0.25 * (x[:, :, ::2, ::2] + x[:, :, 1::2, ::2] + x[:, :, ::2, 1::2] + x[:, :, 1::2, 1::2]),
                 "8x8/Conv1_down")
    x = minibatch_stddev(x, cfg.mbstd_group_size, 1)
    x = act_bias(v1_conv(x, v["4x4/Conv/weight"]), "4x4/Conv")
    x = leaky(v1_dense(x.reshape(x.shape[0], -1), v["4x4/Dense0/weight"], v["4x4/Dense0/bias"], SQRT2))
    x = v1_dense(x, v["4x4/Dense1/weight"], v["4x4/Dense1/bias"], 1.0)
    return np.sum(x * c, axis=1, keepdims=True)


# --- comparison ------------------------------------------------------------------------------------


def close(actual: torch.Tensor, expected: np.ndarray, tol: float = 1e-4) -> None:
    expected_t = torch.from_numpy(expected).to(torch.float32)
    assert actual.shape == expected_t.shape
    scale = max(1.0, float(expected_t.abs().max()))
    torch.testing.assert_close(actual, expected_t, rtol=0, atol=tol * scale)
