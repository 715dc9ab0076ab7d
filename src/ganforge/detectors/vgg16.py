"""VGG16 (configuration D) for improved precision/recall, and the convolutional trunk LPIPS uses.

Precision/recall uses the 4096-d fc2 activations (after ReLU) of VGG16 on 224x224 inputs with
ImageNet normalisation, as the official implementation does. Weights come from torchvision's
`vgg16-397923af.pth`, whose `features.N` / `classifier.N` names are mapped onto this module.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.detectors.base import Detector
from ganforge.detectors.inception import resize_like_tf1
from ganforge.detectors.weights import load_known_weights

INPUT_SIZE = 224
STAGE_CHANNELS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
"""Output channels of the 3x3 convolutions of each of VGG16's five stages."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Trunk(nn.Module):
    """VGG16's 13 convolutions in five stages; `forward` returns each stage's last ReLU output.

    Those are relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3; the stages are joined by 2x2 max pools.
    """

    def __init__(self) -> None:
        super().__init__()
        stages = []
        c_in = 3
        for widths in STAGE_CHANNELS:
            convs = []
            for c_out in widths:
                convs.append(nn.Conv2d(c_in, c_out, 3, padding=1))
                c_in = c_out
            stages.append(nn.ModuleList(convs))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = F.max_pool2d(x, 2)
            for conv in stage:
                x = F.relu(conv(x))
            outputs.append(x)
        return outputs


def torchvision_trunk_key_map(prefix: str) -> dict[str, str]:
    """torchvision `features.N.{weight,bias}` -> `<prefix>stages.S.J.{weight,bias}`.

    torchvision numbers the `features` Sequential with a ReLU after every conv and a max pool after
    every stage, so conv J of stage S sits at index 2 * (convs before it) + S.
    """
    key_map: dict[str, str] = {}
    index = 0
    for s, widths in enumerate(STAGE_CHANNELS):
        for j in range(len(widths)):
            for param in ("weight", "bias"):
                key_map[f"features.{index}.{param}"] = f"{prefix}stages.{s}.{j}.{param}"
            index += 2
        index += 1
    return key_map


class VGG16(Detector):
    """VGG16 detector: uint8 images -> 4096-d fc2 features (after ReLU) and 1000 ImageNet logits.

    Build it with `load_vgg16`; the bare constructor gives untrained weights (tests, the loader).
    """

    name = "vgg16"
    feature_dim = 4096
    num_classes = 1000

    def __init__(self) -> None:
        super().__init__()
        self.trunk = VGG16Trunk()
        self.fc1 = nn.Linear(512 * 7 * 7, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, self.num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 [N, 1 or 3, H, W] -> {"features": [N, 4096], "logits": [N, 1000]}."""
        x = images.to(torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = resize_like_tf1(x, INPUT_SIZE)
        x = (x - self.mean) / self.std
        x = self.trunk(x)[-1]
        x = F.adaptive_avg_pool2d(F.max_pool2d(x, 2), 7).flatten(1)
        features = F.relu(self.fc2(F.relu(self.fc1(x))))
        return {"features": features, "logits": self.fc3(features)}


def torchvision_vgg16_key_map() -> dict[str, str]:
    """torchvision vgg16 state-dict key -> `VGG16` state-dict key."""
    key_map = torchvision_trunk_key_map("trunk.")
    for index, own in ((0, "fc1"), (3, "fc2"), (6, "fc3")):
        for param in ("weight", "bias"):
            key_map[f"classifier.{index}.{param}"] = f"{own}.{param}"
    return key_map


def load_vgg16(path: str | os.PathLike[str] | None = None) -> VGG16:
    """VGG16 with torchvision's ImageNet weights (explicit `path`, cache, or download), in eval mode."""
    model = VGG16()
    load_known_weights(model, "vgg16", path, torchvision_vgg16_key_map())
    return model.eval().requires_grad_(False)
