"""StyleGAN (2019) D_basic: shapes, published size, the progressive fade-in, label projection, R1."""

from __future__ import annotations

import pytest
import torch
from tests.models.stylegan.helpers import set_lod, tiny_discriminator

from ganforge.models.stylegan import Discriminator
from ganforge.ops.scale2d import downscale2d


def images(n: int, resolution: int, seed: int = 0) -> torch.Tensor:
    return torch.randn([n, 3, resolution, resolution], generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("resolution", [4, 8, 32])
@pytest.mark.parametrize("c_dim", [0, 3])
def test_shapes(resolution: int, c_dim: int) -> None:
    D = tiny_discriminator(resolution, c_dim=c_dim)
    c = torch.eye(3)[[0, 1, 2, 0]] if c_dim else None
    scores = D(images(4, resolution), c)
    assert scores.shape == (4, 1) and torch.isfinite(scores).all()
    assert D.b4.dense1.out_features == max(c_dim, 1)


def test_parameter_count_of_the_published_1024_discriminator() -> None:
    """D_basic at 1024x1024 with default arguments and no labels: 23,087,249 parameters, of which
    FromRGB_lod0..8 hold 10,176; 'fixed' keeps only FromRGB_lod0 (3 * 16 + 16 = 64)."""
    with torch.device("meta"):
        D = Discriminator(c_dim=0, img_resolution=1024, img_channels=3)
        fixed = Discriminator(c_dim=0, img_resolution=1024, img_channels=3, structure="fixed")
    assert sum(p.numel() for p in D.parameters()) == 23_087_249
    assert sum(p.numel() for p in D.fromrgb.parameters()) == 10_176
    assert sum(p.numel() for p in fixed.parameters()) == 23_087_249 - 10_176 + 64
    assert not D.b64.conv1.fused and D.b128.conv1.fused and D.b1024.conv1.fused


def fixed_from_linear(D: Discriminator, resolution: int) -> Discriminator:
    """A 'fixed' discriminator of `resolution` holding D's weights (D's FromRGB for that level)."""
    lod = (D.img_resolution // resolution).bit_length() - 1
    fixed = Discriminator(c_dim=D.c_dim, img_resolution=resolution, img_channels=3, fmap_base=64, fmap_max=8,
                          structure="fixed")
    state = D.state_dict()
    fixed.load_state_dict({k: state[k.replace("fromrgb.0.", f"fromrgb.{lod}.")] for k in fixed.state_dict()})
    return fixed


def test_fade_in_and_fixed_structure() -> None:
    """lod 0: the full-resolution network; lod 1: the half-resolution network on the 2x2-box-downscaled
    image; lod 0.5: the 8x8 block's input is the mean of both paths' 8x8 features."""
    D = tiny_discriminator(16)
    img = images(4, 16)
    inputs: list[torch.Tensor] = []
    D.b8.register_forward_pre_hook(lambda _module, args: inputs.append(args[0]))
    with torch.no_grad():
        full = D(img, None)
        torch.testing.assert_close(full, fixed_from_linear(D, 16)(img, None))
        set_lod(D, 1)
        half = D(img, None)
        torch.testing.assert_close(half, fixed_from_linear(D, 8)(downscale2d(img), None))
        assert (half - full).abs().max() > 1e-4
        set_lod(D, 0.5)
        D(img, None)
    assert len(inputs) == 3
    torch.testing.assert_close(inputs[2], (inputs[0] + inputs[1]) / 2)


def test_labels_project_the_scores() -> None:
    """With labels, the last layer has one output per label and the score is sum(out * c)."""
    D = tiny_discriminator(8, c_dim=3)
    img = images(4, 8)
    eye = torch.eye(3)
    with torch.no_grad():
        per_class = [D(img, eye[[k] * 4]) for k in range(3)]
        assert (per_class[0] - per_class[1]).abs().max() > 1e-4
        soft = torch.tensor([[0.2, 0.5, 0.3]]).expand(4, 3)
        torch.testing.assert_close(D(img, soft), 0.2 * per_class[0] + 0.5 * per_class[1] + 0.3 * per_class[2])
    with pytest.raises(ValueError, match=r"c must have shape \[N, 3\]"):
        D(img, None)
    with pytest.raises(ValueError, match="img must have shape"):
        D(images(4, 16), eye[[0] * 4])


def test_minibatch_stddev_can_be_turned_off() -> None:
    D = tiny_discriminator(8, mbstd_group_size=0)
    assert D.b4.mbstd is None and D.b4.conv.in_channels == 8
    img = images(3, 8)
    # Without the batch statistic each score depends on its own image only.
    torch.testing.assert_close(D(img, None)[:1], D(img[:1], None))
    assert tiny_discriminator(8).b4.conv.in_channels == 9


def test_r1_double_backward() -> None:
    D = tiny_discriminator(16, c_dim=2)
    set_lod(D, 0.5)  # levels 0 and 1 in use; FromRGB of level 2 gets no gradient
    img = images(4, 16).requires_grad_(True)
    c = torch.eye(2)[[0, 1, 0, 1]]
    (grad,) = torch.autograd.grad(D(img, c).sum(), img, create_graph=True)
    grad.square().sum().backward()
    for name, param in D.named_parameters():
        # The input gradient of a piecewise-linear net does not depend on the biases after the last
        # smooth op (minibatch std), so only weights are sure to get a non-zero R1 gradient.
        if name.endswith("weight"):
            assert param.grad is not None and torch.isfinite(param.grad).all(), name
            assert (param.grad.abs().sum() > 0) == (not name.startswith("fromrgb.2")), name
    assert D.b8.conv0.bias.grad.abs().sum() > 0  # before the minibatch std
