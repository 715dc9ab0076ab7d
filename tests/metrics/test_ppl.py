"""PPL in all five variants against a numpy re-computation on a tiny style generator at 512 px.

The generator's mapping is tanh(z M); its synthesis is linear in w, times a row ramp (so which
rows a crop keeps matters) and times (1 + its constant noise buffer), which starts at zero (so a
noise buffer that is never redrawn shows). LPIPS is replaced by the mean squared pixel difference.
The reference draws the same random numbers in the documented order and does everything else in
float64 numpy, with slerp in its textbook sin-ratio form.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.metrics.compute import compute_metrics
from ganforge.metrics.ppl import filtered_mean, prepare_for_lpips

EPSILON = 1e-4
BATCH = 2
VARIANTS = {  # name: (space, sampling, crop), as StyleGAN2-ADA's metric_main
    "ppl_zfull": ("z", "full", True),
    "ppl_wfull": ("w", "full", True),
    "ppl_zend": ("z", "end", True),
    "ppl_wend": ("w", "end", True),
    "ppl2_wend": ("w", "end", False),
}


class TinySynthesis(nn.Module):
    def __init__(self, w_dim: int, res: int) -> None:
        super().__init__()
        rnd = np.random.RandomState(1)
        self.res = res
        self.register_buffer("A", torch.from_numpy(rnd.randn(w_dim, res * res).astype(np.float32) / 4))
        ramp = np.linspace(0.2, 3.0, res, dtype=np.float32)[:, None].repeat(res, axis=1)
        self.register_buffer("ramp", torch.from_numpy(ramp))
        self.register_buffer("noise_const", torch.zeros([res, res]))

    def forward(self, ws: torch.Tensor, noise_mode: str, force_fp32: bool) -> torch.Tensor:
        assert noise_mode == "const" and force_fp32
        img = (ws.mean(dim=1) @ self.A).reshape(-1, 1, self.res, self.res)
        return img * self.ramp * (1 + self.noise_const)


class TinyStyleGenerator(nn.Module):
    """synthesis(mapping(z)): the interface PPL uses (z_dim, c_dim, img_resolution, mapping, synthesis)."""

    z_dim, w_dim, c_dim, num_ws = 6, 4, 0, 3

    def __init__(self, res: int = 512) -> None:
        super().__init__()
        self.img_resolution = res
        self.register_buffer("M", torch.from_numpy(np.random.RandomState(0).randn(6, 4).astype(np.float32)))
        self.synthesis = TinySynthesis(self.w_dim, res)

    def mapping(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        assert c.shape == (len(z), 0)
        return torch.tanh(z @ self.M).unsqueeze(1).repeat(1, self.num_ws, 1)


class MeanSquaredDistance(nn.Module):
    """A stand-in for LPIPS that also records the image sizes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: set[tuple[int, ...]] = set()

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        self.shapes.add(tuple(img0.shape[1:]))
        return (img0 - img1).square().mean(dim=(1, 2, 3))


def textbook_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    omega = np.arccos(np.clip((a * b).sum(axis=1, keepdims=True), -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def reference_ppl(
    G: TinyStyleGenerator, num: int, space: str, sampling: str, crop: bool, seed: int = 0
) -> float:
    M = G.M.double().numpy()
    A = G.synthesis.A.double().numpy()
    ramp = G.synthesis.ramp.double().numpy()
    res = G.img_resolution
    dist = []
    for start in range(0, num, BATCH):
        n = min(BATCH, num - start)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + start)
        z = torch.randn([2 * n, G.z_dim], generator=gen).double().numpy()
        t = np.zeros([n, 1])
        if sampling == "full":
            t = torch.rand([n], generator=gen).double().numpy()[:, None]
        noise = torch.randn([res, res], generator=gen).double().numpy()
        z0, z1 = z[:n], z[n:]
        if space == "w":
            w0, w1 = np.tanh(z0 @ M), np.tanh(z1 @ M)
            wa, wb = w0 + t * (w1 - w0), w0 + (t + EPSILON) * (w1 - w0)
        else:
            wa, wb = np.tanh(textbook_slerp(z0, z1, t) @ M), np.tanh(textbook_slerp(z0, z1, t + EPSILON) @ M)
        images = []
        for w in (wa, wb):
            img = (w @ A).reshape(n, res, res) * ramp * (1 + noise)
            if crop:  # rows 3/8 to 7/8, columns 2/8 to 6/8
                img = img[:, res * 3 // 8 : res * 7 // 8, res * 2 // 8 : res * 6 // 8]
            f = res // 256  # from the full resolution, before the crop
            img = img.reshape(n, img.shape[1] // f, f, img.shape[2] // f, f).mean(axis=(2, 4))
            images.append((img + 1) * 127.5)
        dist.append(((images[0] - images[1]) ** 2).mean(axis=(1, 2)) / EPSILON**2)
    d = np.concatenate(dist)
    kept = d[(d >= np.percentile(d, 1, method="lower")) & (d <= np.percentile(d, 99, method="higher"))]
    return float(kept.mean())


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_matches_the_numpy_reference(name: str) -> None:
    G = TinyStyleGenerator()
    distance = MeanSquaredDistance()
    result = compute_metrics([name], G, None, detector_loader=lambda _n, _p: distance, num_gen=6, seed=3)
    got = result[0]["results"][name]
    space, sampling, crop = VARIANTS[name]
    assert distance.shapes == {(3, 128, 128) if crop else (3, 256, 256)}  # 512 px: LPIPS sees 1/2 the size
    assert got == pytest.approx(reference_ppl(G, 6, space, sampling, crop, seed=3), rel=2e-3)
    assert torch.equal(G.synthesis.noise_const, torch.zeros(512, 512))  # the caller's G is left alone


def test_full_sampling_differs_from_end_sampling() -> None:
    """A check of the reference itself: the variants give different values, so it tells them apart."""
    G = TinyStyleGenerator()
    values = {name: reference_ppl(G, 6, *variant) for name, variant in VARIANTS.items()}
    assert len({round(v, 3) for v in values.values()}) == len(VARIANTS)


def test_image_preparation_downsamples_by_the_full_resolution() -> None:
    img = torch.rand(2, 1, 512, 512) * 2 - 1
    out = prepare_for_lpips(img, crop=False, img_resolution=512)
    assert out.shape == (2, 3, 256, 256)
    assert out[0, 0, 0, 0].item() == pytest.approx(((img[0, 0, :2, :2].mean() + 1) * 127.5).item(), rel=1e-5)
    cropped = prepare_for_lpips(img, crop=True, img_resolution=512)
    assert cropped.shape == (2, 3, 128, 128)  # the 256 x 256 crop is still halved, as the official code
    corner = (img[1, 0, 192:194, 128:130].mean() + 1) * 127.5  # crop rows start at 3/8, columns at 2/8
    assert cropped[1, 2, 0, 0].item() == pytest.approx(corner.item(), rel=1e-5)
    big = torch.zeros(1, 3, 1024, 1024)
    assert prepare_for_lpips(big, crop=True, img_resolution=1024).shape == (1, 3, 128, 128)
    assert prepare_for_lpips(torch.zeros(1, 3, 64, 64), crop=True, img_resolution=64).shape == (1, 3, 32, 32)


def test_filtered_mean_drops_the_outer_percentiles() -> None:
    d = np.random.RandomState(0).permutation(np.concatenate([np.arange(1.0, 199.0), [-50.0, 1e6]]))
    # 200 values: rank 0.01 * 199 rounded down (1) to rank 0.99 * 199 rounded up (198) are kept.
    assert filtered_mean(d) == pytest.approx(np.arange(1.0, 199.0).mean())
