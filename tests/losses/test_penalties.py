"""The pure penalties against closed forms on linear and quadratic stand-ins for D and G."""

from __future__ import annotations

import torch

from ganforge.losses.penalties import path_lengths, r1_penalty, wgan_gp_penalty


def test_r1_of_a_quadratic_score_is_its_squared_gradient() -> None:
    x = torch.randn([3, 2, 4, 4], dtype=torch.float64, requires_grad=True)
    scores = x.square().sum(dim=[1, 2, 3]) / 2  # grad = x
    torch.testing.assert_close(r1_penalty(scores, x), x.detach().square().sum(dim=[1, 2, 3]))


def test_path_length_of_a_linear_map() -> None:
    ws = torch.randn([2, 3, 5], dtype=torch.float64, requires_grad=True)
    img = 3 * ws.sum(dim=[1, 2])[:, None, None, None].expand(2, 1, 2, 2)  # d img / d w = 3 everywhere
    noise = torch.ones([2, 1, 2, 2], dtype=torch.float64)
    expected = torch.full([2], 12.0 * 5**0.5, dtype=torch.float64)  # 12 per entry: 4 pixels x 3, 5 per w
    torch.testing.assert_close(path_lengths(img, ws, noise), expected)


def test_wgan_gp_of_a_linear_critic() -> None:
    weight = torch.randn([1, 1, 2, 2], dtype=torch.float64)

    def critic(img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (img * weight).sum(dim=[1, 2, 3])[:, None]

    real, fake = torch.randn([2, 2, 1, 2, 2], dtype=torch.float64)
    mixing = torch.rand([2, 1, 1, 1], dtype=torch.float64)
    penalty, norms = wgan_gp_penalty(critic, real, fake, torch.zeros([2, 0]), mixing)
    torch.testing.assert_close(norms, weight.norm().expand(2))
    torch.testing.assert_close(penalty, (weight.norm() - 1).square().expand(2))
