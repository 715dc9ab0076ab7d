"""Inception-v3 exactly as the FID graph computes it (TensorFlow's inception-2015-12-05).

The 2015-12-05 graph differs from torchvision's Inception-v3 in ways that change FID: 1008 output
classes, average pools that ignore the zero padding, a max pool in the last block's pool branch,
BatchNorm eps 1e-3, TensorFlow 1's bilinear resize (sample at `i * in / out`, no half-pixel
offset) and pixels scaled as `(p - 128) / 128`. Weights come from the widely used pytorch-fid
state dict (`pt_inception-2015-12-05-*.pth`), whose torchvision-style names are mapped onto this
module by `pt_inception_key_map`.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.detectors.base import Detector
from ganforge.detectors.weights import load_known_weights

INPUT_SIZE = 299
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def resize_like_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to `size` x `size` as TF1's `resize_bilinear(align_corners=False)` does.

    Output pixel i samples the input at `i * in / out` (no half-pixel centres), clamped at the
    border; this is the resize inside the FID graph and the official StyleGAN2-ADA detectors.
    """
    for dim in (2, 3):
        n_in = x.shape[dim]
        if n_in == size:
            continue
        src = torch.arange(size, dtype=torch.float32, device=x.device) * (n_in / size)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        shape = [1, 1, 1, 1]
        shape[dim] = size
        w = (src - lo).to(x.dtype).view(shape)
        x = x.index_select(dim, lo) * (1 - w) + x.index_select(dim, hi) * w
    return x


class ConvBN(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3 as in TF), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.norm = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


def _seq(*convs: ConvBN) -> nn.Sequential:
    return nn.Sequential(*convs)


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average pool whose edge windows average only the real pixels (TF's SAME pool)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35x35 block (Mixed_5b-d): 1x1, 5x5, double 3x3 and pooled 1x1 branches."""

    PT_NAMES = {
        "branch1x1": "b1x1.0", "branch5x5_1": "b5x5.0", "branch5x5_2": "b5x5.1",
        "branch3x3dbl_1": "b3x3dbl.0", "branch3x3dbl_2": "b3x3dbl.1", "branch3x3dbl_3": "b3x3dbl.2",
        "branch_pool": "pool_proj.0",
    }

    def __init__(self, c_in: int, pool_channels: int) -> None:
        super().__init__()
        self.b1x1 = _seq(ConvBN(c_in, 64, 1))
        self.b5x5 = _seq(ConvBN(c_in, 48, 1), ConvBN(48, 64, 5, padding=2))
        self.b3x3dbl = _seq(ConvBN(c_in, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, padding=1))
        self.pool_proj = _seq(ConvBN(c_in, pool_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1x1(x), self.b5x5(x), self.b3x3dbl(x), self.pool_proj(_avg_pool_tf(x))], 1)


class BlockB(nn.Module):
    """35x35 -> 17x17 reduction (Mixed_6a): strided 3x3, strided double 3x3 and max pool."""

    PT_NAMES = {
        "branch3x3": "b3x3.0",
        "branch3x3dbl_1": "b3x3dbl.0", "branch3x3dbl_2": "b3x3dbl.1", "branch3x3dbl_3": "b3x3dbl.2",
    }

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.b3x3 = _seq(ConvBN(c_in, 384, 3, stride=2))
        self.b3x3dbl = _seq(ConvBN(c_in, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3x3(x), self.b3x3dbl(x), F.max_pool2d(x, 3, stride=2)], 1)


class BlockC(nn.Module):
    """17x17 block (Mixed_6b-e) with factorised 7x7 convolutions (1x7 then 7x1)."""

    PT_NAMES = {
        "branch1x1": "b1x1.0",
        **{f"branch7x7_{i + 1}": f"b7x7.{i}" for i in range(3)},
        **{f"branch7x7dbl_{i + 1}": f"b7x7dbl.{i}" for i in range(5)},
        "branch_pool": "pool_proj.0",
    }

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.b1x1 = _seq(ConvBN(c_in, 192, 1))
        self.b7x7 = _seq(ConvBN(c_in, c7, 1), ConvBN(c7, c7, **row), ConvBN(c7, 192, **col))
        self.b7x7dbl = _seq(
            ConvBN(c_in, c7, 1), ConvBN(c7, c7, **col), ConvBN(c7, c7, **row), ConvBN(c7, c7, **col),
            ConvBN(c7, 192, **row),
        )
        self.pool_proj = _seq(ConvBN(c_in, 192, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1x1(x), self.b7x7(x), self.b7x7dbl(x), self.pool_proj(_avg_pool_tf(x))], 1)


class BlockD(nn.Module):
    """17x17 -> 8x8 reduction (Mixed_7a): strided 3x3, strided 7x7-then-3x3 and max pool."""

    PT_NAMES = {
        "branch3x3_1": "b3x3.0", "branch3x3_2": "b3x3.1",
        **{f"branch7x7x3_{i + 1}": f"b7x7x3.{i}" for i in range(4)},
    }

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.b3x3 = _seq(ConvBN(c_in, 192, 1), ConvBN(192, 320, 3, stride=2))
        self.b7x7x3 = _seq(
            ConvBN(c_in, 192, 1), ConvBN(192, 192, (1, 7), padding=(0, 3)),
            ConvBN(192, 192, (7, 1), padding=(3, 0)), ConvBN(192, 192, 3, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3x3(x), self.b7x7x3(x), F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    """8x8 block (Mixed_7b, 7c): 3x3 branches split into parallel 1x3 and 3x1 heads.

    The FID graph's last E block (Mixed_7c) max-pools its pool branch; the one before averages.
    """

    PT_NAMES = {
        "branch1x1": "b1x1",
        "branch3x3_1": "b3x3", "branch3x3_2a": "b3x3_row", "branch3x3_2b": "b3x3_col",
        "branch3x3dbl_1": "b3x3dbl.0", "branch3x3dbl_2": "b3x3dbl.1",
        "branch3x3dbl_3a": "b3x3dbl_row", "branch3x3dbl_3b": "b3x3dbl_col",
        "branch_pool": "pool_proj",
    }

    def __init__(self, c_in: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.b1x1 = ConvBN(c_in, 320, 1)
        self.b3x3 = ConvBN(c_in, 384, 1)
        self.b3x3_row = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.b3x3_col = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.b3x3dbl = _seq(ConvBN(c_in, 448, 1), ConvBN(448, 384, 3, padding=1))
        self.b3x3dbl_row = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.b3x3dbl_col = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.pool_proj = ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.b3x3(x)
        b = self.b3x3dbl(x)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_tf(x)
        return torch.cat([
            self.b1x1(x),
            self.b3x3_row(a), self.b3x3_col(a),
            self.b3x3dbl_row(b), self.b3x3dbl_col(b),
            self.pool_proj(pooled),
        ], 1)


class InceptionV3FID(Detector):
    """The FID Inception-v3: uint8 images -> 2048-d pool features and 1008-way logits.

    Build it with `load_inception`, which loads the real weights; the bare constructor gives
    untrained weights and exists for tests and for the loader itself.
    """

    name = "inception-2015-12-05"
    feature_dim = 2048
    num_classes = 1008

    STEM_PT_NAMES = {
        "Conv2d_1a_3x3": "conv1a", "Conv2d_2a_3x3": "conv2a", "Conv2d_2b_3x3": "conv2b",
        "Conv2d_3b_1x1": "conv3b", "Conv2d_4a_3x3": "conv4a",
    }
    BLOCK_PT_NAMES = {
        "Mixed_5b": "mixed5b", "Mixed_5c": "mixed5c", "Mixed_5d": "mixed5d", "Mixed_6a": "mixed6a",
        "Mixed_6b": "mixed6b", "Mixed_6c": "mixed6c", "Mixed_6d": "mixed6d", "Mixed_6e": "mixed6e",
        "Mixed_7a": "mixed7a", "Mixed_7b": "mixed7b", "Mixed_7c": "mixed7c",
    }

    def __init__(self) -> None:
        super().__init__()
        self.conv1a = ConvBN(3, 32, 3, stride=2)
        self.conv2a = ConvBN(32, 32, 3)
        self.conv2b = ConvBN(32, 64, 3, padding=1)
        self.conv3b = ConvBN(64, 80, 1)
        self.conv4a = ConvBN(80, 192, 3)
        self.mixed5b = BlockA(192, 32)
        self.mixed5c = BlockA(256, 64)
        self.mixed5d = BlockA(288, 64)
        self.mixed6a = BlockB(288)
        self.mixed6b = BlockC(768, 128)
        self.mixed6c = BlockC(768, 160)
        self.mixed6d = BlockC(768, 160)
        self.mixed6e = BlockC(768, 192)
        self.mixed7a = BlockD(768)
        self.mixed7b = BlockE(1280, max_pool=False)
        self.mixed7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, self.num_classes)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 [N, 1 or 3, H, W] -> {"features": [N, 2048], "logits": [N, 1008]}.

        The logits leave out the fc bias, as the original Inception Score code (and StyleGAN2-ADA's
        `no_output_bias`) does: the Inception Score is what these logits are for. The bias stays a
        parameter so that the published state dict loads unchanged.
        """
        x = images.to(torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = resize_like_tf1(x, INPUT_SIZE)
        x = (x - 128) / 128
        x = self.conv2b(self.conv2a(self.conv1a(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.conv4a(self.conv3b(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.mixed5b, self.mixed5c, self.mixed5d, self.mixed6a, self.mixed6b, self.mixed6c,
                      self.mixed6d, self.mixed6e, self.mixed7a, self.mixed7b, self.mixed7c):
            x = block(x)
        features = x.mean(dim=(2, 3))
        return {"features": features, "logits": features @ self.fc.weight.t()}


def pt_inception_key_map(model: InceptionV3FID) -> dict[str, str]:
    """pt_inception state-dict key (torchvision names) -> this module's state-dict key."""
    key_map: dict[str, str] = {}

    def add_conv(pt_prefix: str, own_prefix: str) -> None:
        key_map[f"{pt_prefix}.conv.weight"] = f"{own_prefix}.conv.weight"
        for k in _BN_KEYS:
            key_map[f"{pt_prefix}.bn.{k}"] = f"{own_prefix}.norm.{k}"

    for pt_name, own_name in InceptionV3FID.STEM_PT_NAMES.items():
        add_conv(pt_name, own_name)
    for pt_name, own_name in InceptionV3FID.BLOCK_PT_NAMES.items():
        block = getattr(model, own_name)
        for pt_branch, own_branch in block.PT_NAMES.items():
            add_conv(f"{pt_name}.{pt_branch}", f"{own_name}.{own_branch}")
    key_map["fc.weight"] = "fc.weight"
    key_map["fc.bias"] = "fc.bias"
    return key_map


def load_inception(path: str | os.PathLike[str] | None = None) -> InceptionV3FID:
    """The FID Inception with the pytorch-fid weights (explicit `path`, cache, or download), in eval mode."""
    model = InceptionV3FID()
    load_known_weights(model, "inception", path, pt_inception_key_map(model))
    return model.eval().requires_grad_(False)
