"""Metrics that do not suit the generator or the data refuse with one line, before any work."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from tests.metrics.test_compute import tiny_generator, write_zip

from ganforge.errors import MetricError
from ganforge.metrics.compute import compute_metrics
from ganforge.models.dcgan import Generator as DCGANGenerator


def gray_digits_sized(path: Path, count: int) -> Path:
    """A zip of `count` random 32 x 32 grayscale images: the shape the digits metrics accept."""
    rnd = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            buf = io.BytesIO()
            PIL.Image.fromarray((rnd.rand(32, 32) * 255).astype(np.uint8)).save(buf, format="PNG")
            zf.writestr(f"00000/img{i:08d}.png", buf.getvalue())
    return path


def no_detector(name: str, _path: str | None) -> None:
    raise AssertionError(f"the {name} detector was loaded: the misfit was not caught first")


def refusal(names: list[str], G: object, data: Path | None = None) -> str:
    with pytest.raises(MetricError) as info:
        compute_metrics(names, G, data, detector_loader=no_detector, num_gen=8)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("c_dim, got", [(0, "is unconditional"), (4, "takes 4 label values")])
def test_class_accuracy_needs_the_detectors_ten_classes(c_dim: int, got: str) -> None:
    message = refusal(["class_acc"], tiny_generator(c_dim=c_dim, res=32, channels=1))
    assert message.startswith("class_acc needs a generator conditioned on the detector's 10 classes")
    assert message.endswith(f"(made by `ganforge train --cond` on labelled digits); this one {got}.")


def test_class_accuracy_needs_digit_sized_images() -> None:
    message = refusal(["class_acc"], tiny_generator(c_dim=10, res=16, channels=3))
    assert message == ("class_acc needs a generator of 32x32 grayscale images (what its detector knows); "
                       "this one makes 16x16 RGB images.")


@pytest.mark.parametrize("name", ["fid_digits", "kid_digits"])
def test_digits_metrics_need_digits_data(name: str, tmp_path: Path) -> None:
    data = write_zip(tmp_path / "photos.zip", count=4)  # 16 x 16 RGB
    message = refusal([name], tiny_generator(res=32, channels=1), data)
    assert message == (f"{name} needs 32x32 grayscale digit images (what its detector knows), but dataset "
                       f"{data} holds 16x16 RGB images; for other data use fid50k_full or kid50k_full.")


def test_digits_metrics_need_a_digits_generator(tmp_path: Path) -> None:
    data = gray_digits_sized(tmp_path / "digits.zip", count=4)
    message = refusal(["kid_digits"], tiny_generator(res=16, channels=3), data)
    assert message.startswith("kid_digits needs a generator of 32x32 grayscale images")


@pytest.mark.parametrize("name", ["ppl2_wend", "ppl_zfull"])
def test_ppl_needs_a_style_based_generator(name: str) -> None:
    G = DCGANGenerator(z_dim=8, img_resolution=16, img_channels=1, gf_dim=4, gfc_dim=8)
    message = refusal([name], G)
    assert message == (f"{name} needs a style-based generator (StyleGAN or StyleGAN2: mapping and synthesis "
                       "networks); this one is a ganforge.models.dcgan.Generator.")
