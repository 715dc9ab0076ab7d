"""StyleGAN2Loss against direct computations of the official formulas on tiny networks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses import PHASES, StyleGAN2Loss
from ganforge.models.stylegan2 import Discriminator, Generator

BATCH = 4


def make_networks(seed: int = 0) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    G = Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=16)
    return G.train(), D.train()


def make_inputs(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "real_img": torch.rand([BATCH, 3, 16, 16], generator=g) * 2 - 1,
        "real_c": torch.zeros([BATCH, 0]),
        "gen_z": torch.randn([BATCH, 16], generator=g),
        "gen_c": torch.zeros([BATCH, 0]),
    }


def grads(module: nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.clone() for name, p in module.named_parameters()}


def zero(*modules: nn.Module) -> None:
    for module in modules:
        module.zero_grad(set_to_none=True)


def run(loss: StyleGAN2Loss, phase: str, inputs: dict[str, torch.Tensor], gain: float = 1.0,
        seed: int = 123) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)  # synthesis noise comes from the global generator
    return loss.accumulate_gradients(phase=phase, gain=gain, **inputs)


def assert_grads_close(actual: dict, expected: dict, scale: float = 1.0) -> None:
    assert actual.keys() == expected.keys()
    for name in actual:
        a, e = actual[name], expected[name]
        if e is None:
            assert a is None or torch.count_nonzero(a) == 0, name
        else:
            torch.testing.assert_close(a, e * scale, rtol=1e-4, atol=1e-6, msg=name)


class HalfFlip(nn.Module):
    """A differentiable stand-in augmentation: mirror and halve the images."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return img.flip(3) * 0.5


def test_gmain_loss_and_gradients_match_direct_softplus() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0)
    stats = run(loss, "Gmain", inputs, gain=1.0)
    got = grads(G)

    zero(G, D)
    torch.manual_seed(123)
    logits = D(G.synthesis(G.mapping(inputs["gen_z"], inputs["gen_c"])), inputs["gen_c"])
    expected = F.softplus(-logits)
    expected.mean().backward()
    torch.testing.assert_close(stats["Loss/G/loss"], expected.detach())
    torch.testing.assert_close(stats["Loss/scores/fake"], logits.detach())
    torch.testing.assert_close(stats["Loss/signs/fake"], logits.detach().sign())
    assert all(g is not None for g in got.values())
    assert_grads_close(got, grads(G))


def test_gain_scales_gradients() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0)
    run(loss, "Gmain", inputs, gain=1.0)
    once = grads(G)
    zero(G, D)
    run(loss, "Gmain", inputs, gain=3.0)
    assert_grads_close(grads(G), once, scale=3.0)


def test_dmain_matches_direct_softplus_and_leaves_generator_without_gradients() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    G.requires_grad_(True)
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0)
    stats = run(loss, "Dmain", inputs, gain=2.0)
    assert all(g is None for g in grads(G).values())
    got = grads(D)
    assert all(g is not None for g in got.values())

    zero(G, D)
    torch.manual_seed(123)
    fake_logits = D(G(inputs["gen_z"], inputs["gen_c"]).detach(), inputs["gen_c"])
    real_logits = D(inputs["real_img"], inputs["real_c"])
    loss_fake, loss_real = F.softplus(fake_logits), F.softplus(-real_logits)
    (loss_fake.mean() * 2 + loss_real.mean() * 2).backward()
    torch.testing.assert_close(stats["Loss/D/loss"], (loss_fake + loss_real).detach())
    torch.testing.assert_close(stats["Loss/scores/real"], real_logits.detach())
    torch.testing.assert_close(stats["real_logits"], real_logits.detach())
    assert not stats["real_logits"].requires_grad
    assert_grads_close(got, grads(D))


def test_r1_penalty_matches_independent_autograd() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    gamma = 0.7
    loss = StyleGAN2Loss(G, D, r1_gamma=gamma)
    stats = run(loss, "Dreg", inputs, gain=16.0)
    assert all(g is None for g in grads(G).values())
    got = grads(D)
    assert "Loss/D/loss" not in stats and "Loss/scores/fake" not in stats

    zero(G, D)
    x = inputs["real_img"].clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(D(x, inputs["real_c"]).sum(), x, create_graph=True)
    penalty = (dx**2).flatten(1).sum(1)
    torch.testing.assert_close(stats["Loss/r1_penalty"], penalty.detach())
    torch.testing.assert_close(stats["Loss/D/reg"], penalty.detach() * gamma / 2)
    (penalty.mean() * gamma / 2 * 16).backward()
    assert_grads_close(got, grads(D))


def test_augment_pipe_sees_reals_and_fakes_and_r1_goes_through_it() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    loss = StyleGAN2Loss(G, D, augment_pipe=HalfFlip(), style_mixing_prob=0, r1_gamma=1.0)
    stats = run(loss, "Dboth", inputs)

    torch.manual_seed(123)
    fake = G(inputs["gen_z"], inputs["gen_c"]).detach()
    torch.testing.assert_close(stats["Loss/scores/fake"], D(fake.flip(3) * 0.5, inputs["gen_c"]).detach())
    x = inputs["real_img"].clone().requires_grad_(True)
    real_logits = D(x.flip(3) * 0.5, inputs["real_c"])
    torch.testing.assert_close(stats["Loss/scores/real"], real_logits.detach())
    (dx,) = torch.autograd.grad(real_logits.sum(), x)
    torch.testing.assert_close(stats["Loss/r1_penalty"], dx.square().sum([1, 2, 3]))


def test_both_phases_equal_main_plus_reg() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0, r1_gamma=2.0)
    for net, main, reg, both in [(D, "Dmain", "Dreg", "Dboth"), (G, "Gmain", "Greg", "Gboth")]:
        zero(G, D)
        pl_mean = loss.state_dict()
        run(loss, main, inputs, seed=5)
        loss.accumulate_gradients(phase=reg, gain=1.0, **inputs)  # continues the same random stream
        separate = grads(net)
        zero(G, D)
        loss.load_state_dict(pl_mean)
        stats = run(loss, both, inputs, seed=5)
        assert ("Loss/r1_penalty" if both == "Dboth" else "Loss/pl_penalty") in stats
        assert ("Loss/D/loss" if both == "Dboth" else "Loss/G/loss") in stats
        assert_grads_close(grads(net), separate)


def direct_path_lengths(G: Generator, z: torch.Tensor, c: torch.Tensor, seed: int) -> torch.Tensor:
    """Per-sample |J_w^T y| with the official noise scaling, from a fresh graph."""
    torch.manual_seed(seed)
    ws = G.mapping(z, c).detach().requires_grad_(True)
    img = G.synthesis(ws)
    y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (jty,) = torch.autograd.grad((img * y).sum(), ws)
    return jty.pow(2).sum(2).mean(1).sqrt()


def test_path_length_penalty_and_pl_mean_ema() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    decay, weight = 0.25, 3.0
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0, pl_decay=decay, pl_weight=weight)
    half = inputs["gen_z"][: BATCH // 2], inputs["gen_c"][: BATCH // 2]

    stats = run(loss, "Greg", inputs, seed=7)
    lengths = direct_path_lengths(G, *half, seed=7)
    assert stats["Loss/pl_penalty"].shape == (BATCH // 2,)
    torch.testing.assert_close(loss.pl_mean, decay * lengths.mean())
    torch.testing.assert_close(stats["Loss/pl_penalty"], (lengths - loss.pl_mean) ** 2)
    torch.testing.assert_close(stats["Loss/G/reg"], (lengths - loss.pl_mean) ** 2 * weight)
    assert all(g is not None for g in grads(G.synthesis).values())

    loss.load_state_dict({"pl_mean": torch.tensor(5.0)})
    run(loss, "Greg", inputs, seed=8)
    lengths = direct_path_lengths(G, *half, seed=8)
    torch.testing.assert_close(loss.pl_mean, 5.0 + decay * (lengths.mean() - 5.0))


def test_path_length_gradients_match_direct_graph() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0, pl_batch_shrink=1)
    loss.load_state_dict({"pl_mean": torch.tensor(0.5)})
    run(loss, "Greg", inputs, gain=4.0, seed=9)
    got = grads(G)

    zero(G, D)
    torch.manual_seed(9)
    ws = G.mapping(inputs["gen_z"], inputs["gen_c"])
    img = G.synthesis(ws)
    y = torch.randn_like(img) / 16.0  # sqrt(16 * 16) pixels
    (jty,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    lengths = jty.square().sum(2).mean(1).sqrt()
    mean = 0.5 + 0.01 * (lengths.mean() - 0.5)
    ((lengths - mean) ** 2 * 2).mean().mul(4.0).backward()
    assert_grads_close(got, grads(G))


def test_style_mixing_replaces_ws_after_a_random_cutoff_only() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    z, c = inputs["gen_z"], inputs["gen_c"]
    num_ws = G.num_ws
    G.eval()
    with torch.no_grad():
        reference = G.mapping(z, c)
    G.train()

    cutoffs = set()
    for seed in range(12):
        torch.manual_seed(seed)
        loss = StyleGAN2Loss(G, D, style_mixing_prob=1)
        with torch.no_grad():
            _, ws = loss.run_G(z, c)
        same = [torch.equal(ws[:, i], reference[:, i]) for i in range(num_ws)]
        cutoff = same.index(False)
        assert 1 <= cutoff < num_ws
        assert all(same[:cutoff]) and not any(same[cutoff:])
        assert all(torch.equal(ws[:, i], ws[:, cutoff]) for i in range(cutoff, num_ws))
        cutoffs.add(cutoff)
    assert len(cutoffs) > 1

    loss = StyleGAN2Loss(G, D, style_mixing_prob=0)
    with torch.no_grad():
        _, ws = loss.run_G(z, c)
    torch.testing.assert_close(ws, reference)


def test_style_mixing_draws_are_seeded_and_leave_w_avg_to_the_first_pass() -> None:
    G, D = make_networks()
    z, c = make_inputs()["gen_z"], make_inputs()["gen_c"]
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        loss = StyleGAN2Loss(G, D, style_mixing_prob=0.5)
        with torch.no_grad():
            runs.append(torch.stack([loss.run_G(z, c)[1] for _ in range(8)]))
    torch.testing.assert_close(runs[0], runs[1])
    mixed = [not torch.equal(ws, ws[:, :1].expand_as(ws)) for ws in runs[0]]
    assert any(mixed) and not all(mixed)

    before = G.mapping.w_avg.clone()
    G.eval()
    with torch.no_grad():
        w = G.mapping(z, c)[:, 0]
    G.train()
    torch.manual_seed(0)
    loss = StyleGAN2Loss(G, D, style_mixing_prob=1)
    with torch.no_grad():
        loss.run_G(z, c)
    torch.testing.assert_close(G.mapping.w_avg, w.mean(0).lerp(before, 0.995))


def test_disabled_regularisers_do_nothing() -> None:
    G, D = make_networks()
    inputs = make_inputs()
    loss = StyleGAN2Loss(G, D, r1_gamma=0, pl_weight=0)
    assert run(loss, "Greg", inputs) == {}
    assert run(loss, "Dreg", inputs) == {}
    assert all(g is None for g in [*grads(G).values(), *grads(D).values()])
    assert "Loss/r1_penalty" not in run(loss, "Dboth", inputs)


def test_unknown_phase_and_state_dict_round_trip() -> None:
    G, D = make_networks()
    loss = StyleGAN2Loss(G, D)
    assert PHASES == ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")
    with pytest.raises(ValueError, match="Gall"):
        loss.accumulate_gradients("Gall", **make_inputs(), gain=1.0)
    loss.load_state_dict({"pl_mean": torch.tensor(1.25)})
    other = StyleGAN2Loss(G, D)
    other.load_state_dict(loss.state_dict())
    assert float(other.pl_mean) == 1.25 and other.pl_mean.shape == ()
    with pytest.raises(ValueError, match="pl_mean"):
        other.load_state_dict({"pl_avg": torch.tensor(1.0)})
