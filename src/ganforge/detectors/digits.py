"""`digits-v1`: a small CNN classifier for the bundled 32 x 32 digits, the offline detector.

It needs no download, so `fid_digits`, `kid_digits` and `class_acc` work on any machine (tests,
the demo report, CPU benchmarks). Its weights ship with the package as `digits-v1.npz` (float16
arrays keyed by state-dict name, read without pickle) and are made by
`scripts/train_digits_detector.py`, which trains on `demo:digits` minus the held-out split below.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.detectors.base import Detector
from ganforge.errors import MetricError

WEIGHTS_FILE = "digits-v1.npz"
RESOLUTION = 32
NUM_CLASSES = 10
FEATURE_DIM = 128
HELDOUT_FRACTION = 0.2
SPLIT_SEED = 0
_CHANNELS = (16, 32, 64, 128)


class DigitsClassifier(Detector):
    """Four 3 x 3 conv stages (16-32-64-128 channels, max-pooled 32 -> 4 px, then global average),
    a 128-d ReLU layer (the features) and a 10-way linear head (the logits).

    Input is raw uint8 N x C x H x W with C in {1, 3}: RGB becomes gray by the channel mean,
    other sizes are resized to 32 x 32 (bilinear, antialiased), and pixels map to [-1, 1].
    """

    name = "digits-v1"
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for i, out_channels in enumerate(_CHANNELS):
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
            if i < len(_CHANNELS) - 1:
                layers.append(nn.MaxPool2d(2))
            in_channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(in_channels, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """uint8 N x C x H x W (C in {1, 3}) -> float32 N x 1 x 32 x 32 in [-1, 1]."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"digits-v1 takes uint8 images N x C x H x W with C in {{1, 3}}, "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        x = images.to(torch.float32).mean(dim=1, keepdim=True)
        if x.shape[2:] != (RESOLUTION, RESOLUTION):
            x = F.interpolate(
                x, size=(RESOLUTION, RESOLUTION), mode="bilinear", antialias=True, align_corners=False
            )
        return x / 127.5 - 1

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"features": float32 [N, 128], "logits": float32 [N, 10]} for uint8 `images`."""
        x = self.convs(self.prepare(images).to(self.fc.weight.device))
        features = F.relu(self.fc(x.mean(dim=(2, 3))))
        return {"features": features, "logits": self.head(features)}


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All of `demo:digits` as uint8 N x 1 x 32 x 32 images and int64 labels, in source order."""
    from ganforge.data.sources import open_source

    items = open_source("demo:digits")
    images = np.stack([item.load() for item in items]).transpose(0, 3, 1, 2)
    labels = np.array([item.label for item in items], dtype=np.int64)
    return np.ascontiguousarray(images), labels


def heldout_split(num_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: a seeded permutation whose first 20% the weights never saw."""
    order = np.random.default_rng(SPLIT_SEED).permutation(num_images)
    num_heldout = round(num_images * HELDOUT_FRACTION)
    return np.sort(order[num_heldout:]), np.sort(order[:num_heldout])


def state_to_arrays(net: DigitsClassifier) -> dict[str, np.ndarray]:
    """The network's parameters as float16 arrays, the form stored in the weights file."""
    return {k: v.detach().cpu().numpy().astype(np.float16) for k, v in net.state_dict().items()}


def load_digits_detector() -> DigitsClassifier:
    """The shipped digits-v1 classifier in eval mode with gradients off."""
    source = resources.files(__package__) / WEIGHTS_FILE
    try:
        with source.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            state = {k: torch.from_numpy(npz[k].astype(np.float32)) for k in npz.files}
    except FileNotFoundError as e:
        raise MetricError(
            f"The digits detector weights {WEIGHTS_FILE} are missing from ganforge.detectors; "
            "reinstall ganforge or run scripts/train_digits_detector.py to make them."
        ) from e
    net = DigitsClassifier()
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)
