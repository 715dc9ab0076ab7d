"""R3GAN networks beyond parity: unconditional use, bfloat16 stages, initialisation, argument checks."""

from __future__ import annotations

import pytest
import torch

from ganforge.errors import OptionError
from ganforge.models import r3gan

TINY = {"widths": [16, 8], "cardinalities": [2, 2], "blocks": [1, 1], "img_resolution": 8}


def test_unconditional_networks_shapes_and_zero_initialised_residuals(one_thread: None) -> None:
    torch.manual_seed(0)
    G = r3gan.Generator(z_dim=4, c_dim=0, img_channels=1, **TINY)
    D = r3gan.Discriminator(c_dim=0, img_channels=1, **{**TINY, "widths": [8, 16]})
    img = G(torch.randn(3, 4))
    assert img.shape == (3, 1, 8, 8) and D(img).shape == (3, 1)
    blocks = [m for m in [*G.modules(), *D.modules()] if isinstance(m, r3gan.layers.ResidualBlock)]
    assert len(blocks) == 4 and all(not b.conv3.weight.any() for b in blocks)
    with pytest.raises(OptionError, match="truncation"):
        G(torch.randn(1, 4), truncation_psi=0.7)


def test_bf16_stages_compute_in_bfloat16_and_train_float32_weights(one_thread: None) -> None:
    torch.manual_seed(0)
    G = r3gan.Generator(z_dim=4, c_dim=3, embed_dim=4, bf16_stages=[-1], **TINY)
    assert [s.dtype for s in G.stages] == [torch.float32, torch.bfloat16]
    img = G(torch.randn(2, 4), torch.eye(3)[:2])
    assert img.dtype == torch.float32
    img.square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in G.parameters())


@pytest.mark.parametrize(("change", "message"), [
    ({"blocks": [1]}, "one entry per stage"),
    ({"img_resolution": 16}, "make 8 px images"),
    ({"c_dim": 2}, "needs embed_dim"),
    ({"bf16_stages": [2]}, "outside the 2 stages"),
])
def test_bad_arguments_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        r3gan.Discriminator(**{"c_dim": 0, **TINY, **change})
