"""Train the digits-v1 detector on `demo:digits` and write its weights file (float16 .npz).

Deterministic on CPU (fixed seeds, 2 threads, deterministic kernels); takes about two minutes.
The held-out split comes from `ganforge.detectors.digits.heldout_split`, so the tests can
measure accuracy on the same images. Refuses to write weights scoring below --min-accuracy there.

    python scripts/train_digits_detector.py [--out PATH] [--epochs N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.detectors.digits import (
    WEIGHTS_FILE,
    DigitsClassifier,
    digits_arrays,
    heldout_split,
    state_to_arrays,
)
from ganforge.fileio import atomic_path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/ganforge/detectors" / WEIGHTS_FILE
MAX_SHIFT = 2
BATCH = 64


def shifted(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each uint8 image moved by a random whole-pixel shift of up to MAX_SHIFT, zero-filled."""
    n, _, h, w = images.shape
    padded = F.pad(images, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=gen).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


@torch.no_grad()
def accuracy(net: DigitsClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of `images` whose arg-max logit is the label."""
    net.eval()
    predicted = torch.cat([net(images[i : i + 256])["logits"].argmax(1) for i in range(0, len(images), 256)])
    return (predicted == labels).float().mean().item()


def train(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int) -> DigitsClassifier:
    """Adam with a cosine learning-rate decay on shifted copies of `images`."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = DigitsClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * -(-len(images) // BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for start in range(0, len(images), BATCH):
            idx = order[start : start + BATCH]
            loss = F.cross_entropy(net(shifted(images[idx], gen))["logits"], labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1:3d}/{epochs}  loss {total / len(images):.4f}", flush=True)
    return net


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="weights file to write")
    parser.add_argument("--epochs", type=int, default=25, help="passes over the training split")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation, order and shifts")
    parser.add_argument("--min-accuracy", type=float, default=0.95, help="held-out accuracy required")
    args = parser.parse_args()

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    images_np, labels_np = digits_arrays()
    images, labels = torch.from_numpy(images_np), torch.from_numpy(labels_np)
    train_idx, heldout_idx = map(torch.from_numpy, heldout_split(len(images)))
    print(f"demo:digits: {len(train_idx)} training, {len(heldout_idx)} held-out images")

    net = train(images[train_idx], labels[train_idx], args.epochs, args.seed)
    arrays = state_to_arrays(net)
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    train_acc = accuracy(net, images[train_idx], labels[train_idx])
    heldout_acc = accuracy(net, images[heldout_idx], labels[heldout_idx])
    print(f"float16 weights: train accuracy {train_acc:.4f}, held-out accuracy {heldout_acc:.4f}")
    if heldout_acc < args.min_accuracy:
        print(f"held-out accuracy below {args.min_accuracy}; not writing {args.out}", file=sys.stderr)
        return 1

    with atomic_path(args.out) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
