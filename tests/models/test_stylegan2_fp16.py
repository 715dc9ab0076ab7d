"""The StyleGAN2 float16 path on the CPU (`force_fp16`): parity with the official float16 outputs
(`f32_skip_rgb_fp16`: top two resolutions of G and D in float16, conv_clamp 256), and bfloat16.

Tolerances, measured on 2026-11-30 (tests/models/test_stylegan2_fp16.py, torch 2.13 CPU): the float16
images differ from the official float16 ones by at most 5.9e-3 (mean 2.3e-4..3.2e-4), D's scores by
at most 1.9e-6. Both are float16 computations, equal up to the rounding inside the convolutions
(which depends on the kernel; ~1 float16 ulp of a ToRGB output of magnitude 4..8 is 3.9e-3..7.8e-3).
The float32 path misses the same outputs by up to 9.4e-3 (mean 1.0e-3..1.5e-3) and D's scores by
2e-4..1.9e-3, so the bounds below pass only for the float16 path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import ParityLookup
from tests.models.test_stylegan2_discriminator import _load_official
from tests.models.test_stylegan2_generator import load_parity_generator, small_generator

NAME = "f32_skip_rgb_fp16"
IMG_MAX = 7.5e-3  # largest |error| of an image pixel (values in [-1, 1] before clamping)
IMG_MEAN = 6e-4  # mean |error| over the images
SCORE_MAX = 2e-5  # largest |error| of a D score


def _errors(actual: torch.Tensor, expected: np.ndarray) -> tuple[float, float]:
    err = (actual.detach().double() - torch.from_numpy(expected).double()).abs()
    return err.max().item(), err.mean().item()


def test_float16_generator_matches_official_float16(parity: ParityLookup) -> None:
    G, data = load_parity_generator(parity, NAME)
    synthesis = G.synthesis
    assert [synthesis.b16.use_fp16, synthesis.b32.use_fp16, synthesis.b8.use_fp16] == [True, True, False]
    z, c = torch.from_numpy(data["in/z"]), torch.from_numpy(data["in/c"])
    fp32_means = []
    with torch.no_grad():
        for i, psi in enumerate(data["in/psi"].tolist()):
            ws = G.mapping(z, c, truncation_psi=psi)
            torch.testing.assert_close(ws, torch.from_numpy(data[f"out/ws_psi{i}"]), atol=1e-4, rtol=0)
            for mode in ("const", "none"):
                want = data[f"out/img_psi{i}_{mode}"]
                for fused in (None, False):  # the official default in float16 is the non-fused form
                    img = G(z, c, truncation_psi=psi, noise_mode=mode, fused_modconv=fused, force_fp16=True)
                    worst, mean = _errors(img, want)
                    assert img.dtype == torch.float32
                    message = f"psi{i} {mode}: max {worst:.3g} mean {mean:.3g}"
                    assert worst <= IMG_MAX and mean <= IMG_MEAN, message
                fp32_means.append(_errors(G.synthesis(ws, noise_mode=mode), want)[1])
    assert min(fp32_means) > IMG_MEAN  # the float32 path would not pass: the bounds test float16 itself


def test_float16_discriminator_matches_official_float16(parity: ParityLookup) -> None:
    D, cfg, data = _load_official(parity, NAME)
    c = torch.from_numpy(data["in/c"])
    inputs = [(data[f"out/img_psi{i}_{m}"], data[f"out/dscore_psi{i}_{m}"])
              for i in range(len(data["in/psi"])) for m in cfg["noise_modes"]]
    inputs.append((data["in/real"], data["out/dscore_real"]))
    with torch.no_grad():
        for img, want in inputs:
            worst, _ = _errors(D(torch.from_numpy(img), c, force_fp16=True), want)
            assert worst <= SCORE_MAX, f"D score error {worst:.3g}"
        assert _errors(D(torch.from_numpy(data["in/real"]), c), data["out/dscore_real"])[0] > SCORE_MAX


def test_force_fp16_computes_the_fp16_blocks_in_half_precision() -> None:
    G = small_generator(num_fp16_res=2, architecture="skip").eval()
    dtypes: dict[str, torch.dtype] = {}
    for name in ("b4", "b8", "b16"):
        block = getattr(G.synthesis, name)
        block.conv1.register_forward_hook(lambda _m, _i, out, name=name: dtypes.__setitem__(name, out.dtype))
    ws = G.mapping(torch.randn(2, 8), None)
    reference = G.synthesis(ws, noise_mode="const")
    assert set(dtypes.values()) == {torch.float32}  # on the CPU by default, as before
    for half in (torch.float16, torch.bfloat16):
        img = G.synthesis(ws, noise_mode="const", force_fp16=True, half_dtype=half)
        assert dtypes == {"b4": torch.float32, "b8": half, "b16": half} and img.dtype == torch.float32
        torch.testing.assert_close(img, reference, atol=0.1, rtol=0)  # same image, half-precision rounding
        assert not torch.equal(img, reference)
    with pytest.raises(ValueError, match="exclude each other"):
        G.synthesis(ws, force_fp32=True, force_fp16=True)

