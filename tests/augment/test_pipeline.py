"""AugmentPipe: identities at p=0, each augmentation's effect, exact blits, resampling geometry,
gradients (including R1's double backward), presets, official buffers and checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import ParityLookup

from ganforge.augment.filters import SYM2, filter_bank
from ganforge.augment.pipeline import AUGMENT_PRESETS, AugmentPipe, build_augment_pipe
from ganforge.compat import registry
from ganforge.compat.checkpoint import read_checkpoint, save_network_checkpoint
from ganforge.errors import OptionError

AUGMENTATIONS = [
    "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
    "lumaflip", "hue", "saturation", "imgfilter", "noise", "cutout",
]  # fmt: skip
RGB_ONLY = {"hue", "saturation"}


def images(n: int = 8, channels: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand([n, channels, size, size], generator=torch.Generator().manual_seed(seed)) * 2 - 1


def smooth_image(size: int = 32) -> torch.Tensor:
    """A band-limited test image (resampling filters are near-ideal for it)."""
    i = torch.arange(size, dtype=torch.float32)
    y, x = torch.meshgrid(i, i, indexing="ij")
    return (torch.sin(0.3 * x + 0.2) * torch.cos(0.2 * y - 0.1) + 0.3 * torch.sin(0.25 * y))[None, None]


def pipe_with(name: str, p: float, **kwargs: float) -> AugmentPipe:
    pipe = AugmentPipe(**{name: 1}, **kwargs)
    pipe.p.fill_(p)
    return pipe


def run(pipe: AugmentPipe, x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    return pipe(x, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_p_zero_is_exact_identity(name: str, channels: int) -> None:
    x = images(channels=channels)
    assert torch.equal(run(pipe_with(name, 0.0), x), x)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_p_one_changes_images_and_keeps_shape_dtype_range(name: str, channels: int) -> None:
    x = images(channels=channels)
    y = run(pipe_with(name, 1.0), x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert y.abs().max() < 20
    if channels == 1 and name in RGB_ONLY:
        assert torch.equal(y, x)  # no chroma to rotate or saturate, as in the official pipeline
    else:
        assert not torch.equal(y, x)


def test_float64_in_float64_out_and_seeding() -> None:
    pipe = build_augment_pipe("bgcfnc")
    x = images().double()
    y = run(pipe, x)
    assert y.dtype == torch.float64
    assert torch.equal(y, run(pipe, x))
    assert not torch.equal(y, run(pipe, x, seed=2))
    torch.manual_seed(5)
    a = pipe(x)
    torch.manual_seed(5)
    assert torch.equal(a, pipe(x))  # the global RNG drives it when no generator is given


def test_xflip_is_exact_flip() -> None:
    x = images(n=32)
    y = run(pipe_with("xflip", 1.0), x)
    flipped = [torch.equal(yi, xi.flip(2)) for xi, yi in zip(x, y, strict=True)]
    kept = [torch.equal(yi, xi) for xi, yi in zip(x, y, strict=True)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))
    assert any(flipped) and any(kept)


def test_rotate90_is_exact_rotation() -> None:
    x = images(n=32)
    y = run(pipe_with("rotate90", 1.0), x)
    seen = set()
    for xi, yi in zip(x, y, strict=True):
        matches = [k for k in range(4) if torch.equal(yi, torch.rot90(xi, k, dims=(1, 2)))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {0, 1, 2, 3}


def test_xint_is_exact_integer_translation_with_reflection() -> None:
    size, xint_max = 16, 0.25
    x = images(n=16, size=size)
    y = run(pipe_with("xint", 1.0, xint_max=xint_max), x)
    limit = round(xint_max * size)
    moved = 0
    for xi, yi in zip(x, y, strict=True):
        shifts = [
            (dx, dy)
            for dx in range(-limit, limit + 1)
            for dy in range(-limit, limit + 1)
            if torch.equal(yi[:, max(dy, 0) : size + min(dy, 0), max(dx, 0) : size + min(dx, 0)],
                           xi[:, max(-dy, 0) : size + min(-dy, 0), max(-dx, 0) : size + min(-dx, 0)])
        ]  # fmt: skip
        assert len(shifts) == 1
        dx, dy = shifts[0]
        moved += (dx, dy) != (0, 0)
        if dx > 0:  # the uncovered columns are mirrored about the edge pixel
            src_rows = torch.arange(size) - dy
            src_rows = torch.where(src_rows < 0, -src_rows, src_rows)
            src_rows = torch.where(src_rows >= size, 2 * (size - 1) - src_rows, src_rows)
            assert torch.equal(yi[:, :, dx - 1], xi[:, src_rows, 1])
    assert moved > 8


def test_resampling_identity_translation_ramp_and_rotation() -> None:
    pipe = AugmentPipe()
    x = images(n=4, size=32)
    eye = torch.eye(3).expand(4, 3, 3)
    assert torch.allclose(pipe._resample(x, eye), x, atol=2e-5)  # orthogonal filter: lossless
    shift = torch.tensor([[1.0, 0, -1], [0, 1, 2], [0, 0, 1]]).expand(4, 3, 3)  # x + 1, y - 2
    y = pipe._resample(x, shift)
    assert torch.allclose(y[..., 4:-6, 5:-5], x[..., 6:-4, 4:-6], atol=2e-5)
    ramp = torch.arange(32.0).expand(1, 1, 32, 32)
    half = torch.tensor([[[1.0, 0, 0.5], [0, 1, 0], [0, 0, 1]]])
    assert torch.allclose(pipe._resample(ramp, half)[..., 8:-8], ramp[..., 8:-8] + 0.5, atol=1e-4)
    smooth = smooth_image()
    quarter = torch.tensor([[[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]])
    rotated = pipe._resample(smooth, quarter)
    assert torch.allclose(
        rotated[..., 4:-4, 4:-4], torch.rot90(smooth, 1, (2, 3))[..., 4:-4, 4:-4], atol=5e-3
    )
    zoom = pipe._resample(smooth, torch.tensor([[[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]]]))
    i = (torch.arange(32.0) - 15.5) * 0.5 + 15.5
    y_, x_ = torch.meshgrid(i, i, indexing="ij")
    expected = torch.sin(0.3 * x_ + 0.2) * torch.cos(0.2 * y_ - 0.1) + 0.3 * torch.sin(0.25 * y_)
    assert torch.allclose(zoom[0, 0, 4:-4, 4:-4], expected[4:-4, 4:-4], atol=5e-3)


def test_geometric_augmentations_follow_their_distributions() -> None:
    x = smooth_image().expand(64, 3, 32, 32)
    y = run(pipe_with("rotate", 1.0), x)
    changed = ~torch.isclose(y, x, atol=1e-3).flatten(1).all(dim=1)
    assert changed.sum() > 48  # rotation (pre or post) happens with probability p = 1
    y = run(pipe_with("scale", 0.5), x)
    changed = ~torch.isclose(y, x, atol=1e-3).flatten(1).all(dim=1)
    assert 16 <= changed.sum() <= 48  # about half the samples


def test_colour_augmentations_act_as_matrices() -> None:
    x = images(n=16)
    y = run(pipe_with("brightness", 1.0), x)
    offset = (y - x).flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-6)
    assert offset[:, 0].std() > 0.05
    y = run(pipe_with("contrast", 1.0), x)
    ratio = (y / x).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4)
    gray = images(n=16, channels=1)
    y = run(pipe_with("lumaflip", 1.0), gray)
    assert all(
        torch.equal(yi, xi) or torch.allclose(yi, -xi, atol=1e-6) for xi, yi in zip(gray, y, strict=True)
    )
    for name in ("hue", "saturation"):  # both act orthogonally to the luma axis: the mean stays
        y = run(pipe_with(name, 1.0), x)
        assert torch.allclose(y.mean(dim=1), x.mean(dim=1), atol=1e-5)
    y = run(pipe_with("hue", 1.0), x)  # a rotation keeps the distance from the luma axis
    chroma = lambda t: (t - t.mean(dim=1, keepdim=True)).norm(dim=1)  # noqa: E731
    assert torch.allclose(chroma(y), chroma(x), atol=1e-5)


def test_colour_ops_refuse_other_channel_counts() -> None:
    with pytest.raises(ValueError, match="1 or 3 channels"):
        run(pipe_with("brightness", 1.0), images(channels=2))
    x = images(channels=2)
    assert run(pipe_with("xflip", 1.0), x).shape == x.shape


def test_filter_bank_and_image_filter() -> None:
    bank = filter_bank(SYM2)
    assert bank.shape == (4, 43)
    delta = np.zeros(43)
    delta[21] = 1
    assert np.allclose(bank.sum(axis=0), delta, atol=1e-12)  # the bands add up to the image
    assert np.allclose(bank, bank[:, ::-1])  # zero phase
    x = images(n=16, size=32)
    y = run(pipe_with("imgfilter", 1.0, imgfilter_bands=[0, 0, 0, 1]), x)  # only the finest band
    assert torch.allclose(y.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.1)
    assert not torch.equal(y, x)


def test_noise_and_cutout() -> None:
    x = images(n=16, size=32)
    y = run(pipe_with("noise", 1.0, noise_std=0.1), x)
    sigma = (y - x).flatten(1).std(dim=1)
    assert 0 < sigma.max() < 0.5
    y = run(pipe_with("cutout", 1.0, cutout_size=0.5), x)
    for xi, yi in zip(x, y, strict=True):
        erased = (yi != xi).any(dim=0)
        assert torch.equal(yi[:, erased], torch.zeros_like(yi[:, erased]))
        rows, cols = erased.any(dim=1).nonzero(), erased.any(dim=0).nonzero()
        assert int(erased.sum()) == len(rows) * len(cols)  # a rectangle
        assert len(rows) <= 16 and len(cols) <= 16


def test_gradients_flow_and_r1_double_backward() -> None:
    pipe = build_augment_pipe("bgcfnc")
    x = images(n=4).requires_grad_(True)
    (grad,) = torch.autograd.grad(run(pipe, x).sum(), x)
    assert grad.abs().sum() > 0
    conv = torch.nn.Conv2d(3, 1, 3)
    real = images(n=4).requires_grad_(True)
    scores = conv(run(pipe, real)).sum(dim=(1, 2, 3))
    (r1_grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    r1_grad.square().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert torch.isfinite(conv.weight.grad).all()


def test_gradient_matches_finite_differences() -> None:
    pipe = build_augment_pipe("bgcfnc")
    x = images(n=4).double().requires_grad_(True)
    u, v = images(n=4, seed=1).double(), images(n=4, seed=2).double()
    (grad,) = torch.autograd.grad((run(pipe, x) * u).sum(), x)
    eps = 1e-4
    with torch.no_grad():
        numeric = ((run(pipe, x + eps * v) - run(pipe, x - eps * v)) * u).sum() / (2 * eps)
    assert float((grad * v).sum()) == pytest.approx(float(numeric), rel=1e-6)


def test_presets() -> None:
    blit, geom = {"xflip", "rotate90", "xint"}, {"scale", "rotate", "aniso", "xfrac"}
    color = {"brightness", "contrast", "lumaflip", "hue", "saturation"}
    expected = {
        "blit": blit, "geom": geom, "color": color, "filter": {"imgfilter"}, "noise": {"noise"},
        "cutout": {"cutout"}, "bg": blit | geom, "bgc": blit | geom | color,
        "bgcf": blit | geom | color | {"imgfilter"}, "bgcfn": blit | geom | color | {"imgfilter", "noise"},
        "bgcfnc": blit | geom | color | {"imgfilter", "noise", "cutout"},
        "r3gan": blit | geom | color | {"cutout"},
    }  # fmt: skip
    assert {name: set(spec) for name, spec in AUGMENT_PRESETS.items()} == expected
    assert all(v == 1 for name, spec in AUGMENT_PRESETS.items() for v in spec.values() if name != "r3gan")
    assert {AUGMENT_PRESETS["r3gan"][name] for name in color} == {0.5}  # R3GAN's colour at half strength
    pipe = build_augment_pipe("bgc", xint_max=0.25)
    assert pipe.xflip == 1 and pipe.saturation == 1 and pipe.imgfilter == 0 and pipe.xint_max == 0.25
    with pytest.raises(OptionError, match="bgcx"):
        build_augment_pipe("bgcx")


def test_constructor_defaults_and_state() -> None:
    pipe = AugmentPipe()
    assert pipe.xint_max == 0.125 and pipe.scale_std == 0.2 and pipe.contrast_std == 0.5
    assert pipe.noise_std == 0.1 and pipe.cutout_size == 0.5 and pipe.imgfilter_bands == [1, 1, 1, 1]
    assert set(pipe.state_dict()) == {"p", "Hz_geom", "Hz_fbank"}
    assert pipe.p.shape == () and float(pipe.p) == 1
    assert AugmentPipe(**pipe.init_kwargs).init_kwargs == pipe.init_kwargs


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    assert registry.get_class("augment.AugmentPipe") is AugmentPipe
    pipe = build_augment_pipe("bgc")
    pipe.p.fill_(0.3)
    save_network_checkpoint(tmp_path / "pipe.pt", {"augment_pipe": pipe})
    with open(tmp_path / "pipe.pt", "rb") as f:
        loaded = read_checkpoint(f, "pipe.pt")["augment_pipe"]
    assert isinstance(loaded, AugmentPipe) and loaded.init_kwargs == pipe.init_kwargs
    assert float(loaded.p) == pytest.approx(0.3)


def test_official_augment_pipe_loads_strictly(parity: ParityLookup) -> None:
    from ganforge.compat.official import load_network_pkl

    # rebuilt with load_state_dict(strict=True)
    loaded = load_network_pkl(parity("g32_skip_rgb-snapshot.pkl"))["augment_pipe"]
    assert isinstance(loaded, AugmentPipe)
    fresh = AugmentPipe(**loaded.init_kwargs)
    for name in ("Hz_geom", "Hz_fbank"):  # our filters are the official ones
        assert torch.allclose(fresh.state_dict()[name], loaded.state_dict()[name], atol=1e-7)
    x = images(n=4, size=32)
    assert run(loaded, x).shape == x.shape
    assert math.isfinite(float(run(loaded, x).abs().max()))


def test_non_square_single_channel_and_empty_batches() -> None:
    pipe = build_augment_pipe("bgcfnc")
    for shape in ([4, 3, 16, 24], [4, 1, 8, 8], [0, 3, 16, 16]):
        x = torch.rand(shape) * 2 - 1
        y = run(pipe, x)
        assert y.shape == x.shape and torch.isfinite(y).all()
