"""The shipped digits-v1 detector: loads without pickle, classifies held-out digits, handles inputs."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from ganforge.detectors import Detector, load_detector
from ganforge.detectors.digits import (
    FEATURE_DIM,
    WEIGHTS_FILE,
    DigitsClassifier,
    digits_arrays,
    heldout_split,
    load_digits_detector,
)

Batch = tuple[torch.Tensor, torch.Tensor]


@pytest.fixture(scope="module")
def detector() -> DigitsClassifier:
    return load_digits_detector()


@pytest.fixture(scope="module")
def heldout() -> Batch:
    images, labels = digits_arrays()
    _, heldout_idx = heldout_split(len(images))
    return torch.from_numpy(images[heldout_idx]), torch.from_numpy(labels[heldout_idx])


def _predict(net: DigitsClassifier, images: torch.Tensor) -> torch.Tensor:
    return net(images)["logits"].argmax(dim=1)


def test_weights_file_is_small_and_loads_without_pickle() -> None:
    source = resources.files("ganforge.detectors") / WEIGHTS_FILE
    with source.open("rb") as f:
        data = f.read()
    assert len(data) < 400_000
    with source.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert set(arrays) == set(DigitsClassifier().state_dict())
    assert all(a.dtype == np.float16 for a in arrays.values())


def test_loaded_frozen_in_eval_mode(detector: DigitsClassifier) -> None:
    assert isinstance(detector, Detector)
    assert (detector.name, detector.feature_dim, detector.num_classes) == ("digits-v1", FEATURE_DIM, 10)
    assert not detector.training
    assert not any(p.requires_grad for p in detector.parameters())
    via_name = load_detector("digits")
    for a, b in zip(detector.state_dict().values(), via_name.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_split_is_a_disjoint_fifth() -> None:
    train_idx, heldout_idx = heldout_split(1797)
    assert len(heldout_idx) == 359
    assert np.array_equal(np.sort(np.concatenate([train_idx, heldout_idx])), np.arange(1797))
    assert np.array_equal(heldout_split(1797)[1], heldout_idx)


def test_heldout_accuracy(detector: DigitsClassifier, heldout: Batch) -> None:
    images, labels = heldout
    with torch.no_grad():
        acc = (_predict(detector, images) == labels).float().mean().item()
    print(f"digits-v1 held-out accuracy: {acc:.4f} on {len(labels)} images")
    assert acc >= 0.95


def test_output_shapes_and_dtypes(detector: DigitsClassifier, heldout: Batch) -> None:
    out = detector(heldout[0][:5])
    assert set(out) == {"features", "logits"}
    assert out["features"].shape == (5, FEATURE_DIM) and out["features"].dtype == torch.float32
    assert out["logits"].shape == (5, 10) and out["logits"].dtype == torch.float32
    assert (out["features"] >= 0).all() and out["features"].abs().sum() > 0


def test_rgb_matches_gray(detector: DigitsClassifier, heldout: Batch) -> None:
    gray = heldout[0][:16]
    rgb = gray.expand(-1, 3, -1, -1).contiguous()
    torch.testing.assert_close(detector(rgb)["features"], detector(gray)["features"])


def test_64px_input_is_resized(detector: DigitsClassifier, heldout: Batch) -> None:
    images, labels = heldout
    big = images.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert big.shape[2:] == (64, 64)
    out = detector(big)
    assert out["features"].shape == (len(images), FEATURE_DIM)
    assert (out["logits"].argmax(dim=1) == labels).float().mean() >= 0.95


def test_deterministic_and_batch_independent(detector: DigitsClassifier, heldout: Batch) -> None:
    images = heldout[0][:32]
    first, second = detector(images), detector(images.clone())
    assert torch.equal(first["features"], second["features"])
    assert torch.equal(first["logits"], second["logits"])
    single = torch.cat([detector(images[i : i + 1])["features"] for i in range(4)])
    torch.testing.assert_close(single, first["features"][:4], rtol=1e-5, atol=1e-5)


def test_rejects_float_and_bad_channels(detector: DigitsClassifier) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="C in"):
        detector(torch.zeros(1, 2, 32, 32, dtype=torch.uint8))
