"""The mapping networks' shared latent bookkeeping: shape check, tracked mean, truncation."""

from __future__ import annotations

import pytest
import torch

from ganforge.ops.latents import check_latent_input, track_w_avg, truncate


def test_truncate_pulls_only_the_first_cutoff_ws_towards_the_mean() -> None:
    ws, w_avg = torch.ones([2, 4, 3]), torch.zeros([3])
    assert torch.equal(truncate(ws, w_avg, 0.25, None), torch.full([2, 4, 3], 0.25))
    out = truncate(ws, w_avg, 0.25, 1)
    assert torch.equal(out[:, :1], torch.full([2, 1, 3], 0.25)) and torch.equal(out[:, 1:], ws[:, 1:])


def test_track_w_avg_keeps_beta_of_the_old_mean() -> None:
    w_avg = torch.zeros([2])
    track_w_avg(w_avg, torch.tensor([[1.0, 3.0], [3.0, 5.0]]), 0.75)
    torch.testing.assert_close(w_avg, torch.tensor([0.5, 1.0]))


def test_input_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"MappingNetwork expects z of shape \[N, 4\], got \(2, 3\)"):
        check_latent_input("z", torch.zeros([2, 3]), 4)
    with pytest.raises(ValueError, match="got None"):
        check_latent_input("c", None, 2)
