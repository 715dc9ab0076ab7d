"""Tests of the pure-PyTorch ops against direct (slow, literal) reference computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.ops import (
    bias_act,
    conv2d_resample,
    downsample2d,
    filter2d,
    modulated_conv2d,
    setup_filter,
    upfirdn2d,
    upsample2d,
)


def naive_upfirdn2d(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """The literal recipe with numpy loops: zero-stuff, pad/crop, convolve, decimate."""
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = np.outer(f, f)
    f = f * gain
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    stuffed = np.zeros([n, c, h * upy, w * upx])
    stuffed[:, :, ::upy, ::upx] = x
    padded = np.pad(stuffed, [(0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))])
    rows = slice(max(-py0, 0), padded.shape[2] - max(-py1, 0))
    cols = slice(max(-px0, 0), padded.shape[3] - max(-px1, 0))
    padded = padded[:, :, rows, cols]
    kernel = f if flip_filter else f[::-1, ::-1]  # correlation kernel
    kh, kw = kernel.shape
    oh, ow = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    out = np.zeros([n, c, oh, ow])
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = (padded[:, :, i : i + kh, j : j + kw] * kernel).sum(axis=(2, 3))
    return out[:, :, ::downy, ::downx]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# --- setup_filter -------------------------------------------------------------------------------


def test_setup_filter_outer_product_normalised() -> None:
    f = setup_filter([1, 3, 3, 1])
    expected = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64
    assert f.shape == (4, 4) and f.dtype == torch.float32
    np.testing.assert_allclose(f.numpy(), expected, rtol=1e-6)


def test_setup_filter_separable_gain_flip() -> None:
    taps = [1, 2, 3, 4, 5, 6, 7, 8]
    f = setup_filter(taps, gain=4, flip_filter=True)
    assert f.ndim == 1  # 8 taps or more stay separable
    np.testing.assert_allclose(f.numpy(), np.array(taps[::-1]) / 36 * 2, rtol=1e-6)
    assert setup_filter(None).tolist() == [[1.0]]
    assert setup_filter(taps, separable=False).shape == (8, 8)


# --- upfirdn2d ----------------------------------------------------------------------------------

UPFIRDN_CASES = [
    # up, down, padding
    (1, 1, (0, 0, 0, 0)),
    (1, 1, (2, 1, 0, 3)),
    (2, 1, (2, 1, 2, 1)),
    (2, 1, (0, 0, 0, 0)),
    (3, 1, (1, -1, 2, 0)),
    (1, 2, (1, 1, 1, 1)),
    (1, 2, (-1, 2, 0, 1)),
    (2, 2, (1, 2, 1, 2)),
    (3, 2, (2, 0, -1, 3)),
    ((2, 1), (1, 2), (1, 0, 2, 1)),
]


@pytest.mark.parametrize(("up", "down", "padding"), UPFIRDN_CASES)
@pytest.mark.parametrize("flip_filter", [False, True])
def test_upfirdn2d_matches_literal_recipe(rng, up, down, padding, flip_filter) -> None:
    x = rng.standard_normal([2, 3, 5, 6])
    f = rng.standard_normal([3, 4])  # asymmetric, so orientation errors show
    got = upfirdn2d(
        torch.tensor(x), torch.tensor(f), up=up, down=down, padding=padding, flip_filter=flip_filter, gain=1.5
    )
    up2 = (up, up) if isinstance(up, int) else up
    down2 = (down, down) if isinstance(down, int) else down
    want = naive_upfirdn2d(x, f, up2, down2, padding, flip_filter, gain=1.5)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)


@pytest.mark.parametrize(("up", "down", "padding"), UPFIRDN_CASES[:6])
def test_upfirdn2d_separable_filter_equals_outer_product(rng, up, down, padding) -> None:
    x = torch.tensor(rng.standard_normal([1, 2, 7, 7]))
    taps = torch.tensor(rng.standard_normal(5))
    sep = upfirdn2d(x, taps, up=up, down=down, padding=padding, gain=2.0)
    full = upfirdn2d(x, torch.outer(taps, taps), up=up, down=down, padding=padding, gain=2.0)
    torch.testing.assert_close(sep, full, atol=1e-10, rtol=0)


def test_resampling_helpers_shapes_and_dc_gain() -> None:
    f = setup_filter([1, 3, 3, 1])
    x = torch.ones([1, 2, 8, 8])
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    same = filter2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4) and same.shape == (1, 2, 8, 8)
    # Away from the zero-padded border a constant image stays constant.
    torch.testing.assert_close(up[..., 3:-3, 3:-3], torch.ones_like(up[..., 3:-3, 3:-3]))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))
    torch.testing.assert_close(same[..., 2:-2, 2:-2], torch.ones_like(same[..., 2:-2, 2:-2]))


def test_upsample2d_is_upfirdn_with_centred_padding(rng) -> None:
    x = rng.standard_normal([1, 1, 4, 4])
    f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64
    got = upsample2d(torch.tensor(x), torch.tensor(f))
    want = naive_upfirdn2d(x, f, (2, 2), (1, 1), (2, 1, 2, 1), gain=4.0)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    got = downsample2d(torch.tensor(x), torch.tensor(f))
    want = naive_upfirdn2d(x, f, (1, 1), (2, 2), (1, 1, 1, 1))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


# --- bias_act -----------------------------------------------------------------------------------


def test_bias_act_lrelu_gain_and_clamp() -> None:
    x = torch.tensor([-3.0, -1.0, 0.5, 2.0]).reshape(1, 1, 4)
    b = torch.tensor([1.0])
    out = bias_act(x, b, act="lrelu")
    pre = torch.tensor([-2.0, 0.0, 1.5, 3.0])
    want = torch.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2)
    torch.testing.assert_close(out.flatten(), want)
    clamped = bias_act(x, b, act="lrelu", clamp=2.0)  # clamp after the gain
    torch.testing.assert_close(clamped.flatten(), want.clamp(-2, 2))
    custom = bias_act(x, b, act="lrelu", alpha=0.5, gain=1.0)
    torch.testing.assert_close(custom.flatten(), torch.where(pre > 0, pre, 0.5 * pre))


@pytest.mark.parametrize(
    ("act", "func", "gain"),
    [
        ("linear", lambda t: t, 1.0),
        ("relu", torch.relu, math.sqrt(2)),
        ("tanh", torch.tanh, 1.0),
        ("sigmoid", torch.sigmoid, 1.0),
        ("elu", F.elu, 1.0),
        ("selu", F.selu, 1.0),
        ("softplus", F.softplus, 1.0),
        ("swish", lambda t: t * torch.sigmoid(t), math.sqrt(2)),
    ],
)
def test_bias_act_activations_along_dim(act, func, gain) -> None:
    x = torch.randn(2, 3, 5)
    b = torch.randn(5)
    out = bias_act(x, b, dim=2, act=act)
    torch.testing.assert_close(out, func(x + b) * gain)


def test_bias_act_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(torch.zeros(1, 2), act="gelu-ish")
    with pytest.raises(ValueError, match="does not match"):
        bias_act(torch.zeros(1, 2), torch.zeros(3))


# --- conv2d_resample ----------------------------------------------------------------------------


def literal_conv2d_resample(x, w, f, up, down, padding, groups, flip_weight):
    """Upsample (zero insertion + filter), pad, convolve, then filter and decimate - step by step."""
    fw = f.shape[-1]
    p0 = p1 = padding
    if up > 1:
        p0, p1 = p0 + (fw + up - 1) // 2, p1 + (fw - up) // 2
    if down > 1:
        p0, p1 = p0 + (fw - down + 1) // 2, p1 + (fw - down) // 2
    xs = x.numpy()
    if up > 1:
        xs = naive_upfirdn2d(xs, f.numpy(), (up, up), (1, 1), (p0, p1, p0, p1), gain=up**2)
    else:
        xs = naive_upfirdn2d(xs, [[1.0]], pad=(p0, p1, p0, p1))
    kernel = w if flip_weight else w.flip([2, 3])
    y = F.conv2d(torch.tensor(xs), kernel, groups=groups)
    if down > 1:
        y = torch.tensor(naive_upfirdn2d(y.numpy(), f.numpy(), down=(down, down)))
    return y


@pytest.mark.parametrize(
    ("kernel", "up", "down", "padding"),
    [
        (3, 1, 1, 1),
        (3, 2, 1, 1),
        (3, 1, 2, 1),
        (1, 2, 1, 0),
        (1, 1, 2, 0),
        (3, 2, 2, 1),
        (3, 1, 1, 0),
        (2, 1, 1, 1),
    ],
)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("flip_weight", [True, False])
def test_conv2d_resample_matches_literal(rng, kernel, up, down, padding, groups, flip_weight) -> None:
    x = torch.tensor(rng.standard_normal([2, 4, 6, 6]))
    w = torch.tensor(rng.standard_normal([6, 4 // groups, kernel, kernel]))
    f = setup_filter([1, 3, 3, 1]).double()
    got = conv2d_resample(
        x, w, f=f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight
    )
    want = literal_conv2d_resample(x, w, f, up, down, padding, groups, flip_weight)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


# --- modulated_conv2d ---------------------------------------------------------------------------


@pytest.mark.parametrize(("up", "kernel", "demodulate"), [(1, 3, True), (2, 3, True), (1, 1, False)])
def test_modulated_conv2d_fused_equals_nonfused_and_per_sample(rng, up, kernel, demodulate) -> None:
    n, cin, cout = 3, 4, 5
    x = torch.tensor(rng.standard_normal([n, cin, 4, 4]))
    weight = torch.tensor(rng.standard_normal([cout, cin, kernel, kernel]))
    styles = torch.tensor(rng.standard_normal([n, cin]))
    noise = torch.tensor(rng.standard_normal([n, 1, 4 * up, 4 * up]))
    f = setup_filter([1, 3, 3, 1]).double()
    kwargs = dict(
        noise=noise, up=up, padding=kernel // 2, f=f, demodulate=demodulate, flip_weight=up == 1
    )
    fused = modulated_conv2d(x, weight, styles, fused_modconv=True, **kwargs)
    unfused = modulated_conv2d(x, weight, styles, fused_modconv=False, **kwargs)
    torch.testing.assert_close(fused, unfused, atol=1e-10, rtol=0)
    for i in range(n):  # each sample: its own modulated (and demodulated) weight, then noise
        wi = weight * styles[i].reshape(1, cin, 1, 1)
        if demodulate:
            wi = wi / wi.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
        yi = conv2d_resample(x[i : i + 1], wi, f=f, up=up, padding=kernel // 2, flip_weight=up == 1)
        torch.testing.assert_close(fused[i : i + 1], yi + noise[i : i + 1], atol=1e-10, rtol=0)


def test_modulated_conv2d_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        modulated_conv2d(torch.zeros(2, 3, 4, 4), torch.zeros(5, 3, 3, 3), torch.zeros(2, 4))


# --- gradients (first and second order) ---------------------------------------------------------


def _check_grads(fn, *inputs) -> None:
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_grads_upfirdn2d() -> None:
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    _check_grads(lambda t: upfirdn2d(t, f, up=2, padding=(2, 1, 1, 2)), x)
    _check_grads(lambda t: upfirdn2d(t, f, down=2, padding=1), x)


def test_grads_bias_act() -> None:
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    x = (x + x.sign() * 0.1).requires_grad_(True)  # keep away from the lrelu kink
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    _check_grads(lambda t, bb: bias_act(t, bb, act="lrelu", clamp=1.0), x, b)


@pytest.mark.parametrize(("up", "down"), [(2, 1), (1, 2)])
def test_grads_conv2d_resample(up, down) -> None:
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    _check_grads(lambda t, ww: conv2d_resample(t, ww, f=f, up=up, down=down, padding=1), x, w)


@pytest.mark.parametrize("fused", [True, False])
def test_grads_modulated_conv2d(fused) -> None:
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    _check_grads(
        lambda t, ww, ss: modulated_conv2d(
            t, ww, ss, up=2, padding=1, f=f, flip_weight=False, fused_modconv=fused
        ),
        x,
        w,
        s,
    )
