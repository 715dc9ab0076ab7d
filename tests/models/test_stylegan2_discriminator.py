"""StyleGAN2-ADA discriminator: parity with the official networks, R1 double backward, minibatch std,
Freeze-D, label projection, architectures and parameter names."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from tests.conftest import PARITY_CONFIGS, ParityLookup

from ganforge.models.stylegan2.discriminator import Discriminator, DiscriminatorBlock
from ganforge.ops.minibatch_std import MinibatchStdLayer

# Scores and R1 penalties must match the official outputs to a relative 1e-4:
# |ours - official| <= REL_TOL * max(|official|, floor), elementwise. Scores may cross zero, so they get
# a floor of 1e-2 (|scores| are O(0.1..1)); R1 penalties are positive and small (down to ~3e-4 here),
# so they are compared purely relatively.
REL_TOL = 1e-4
SCORE_FLOOR = 1e-2
R1_FLOOR = 1e-12


def _assert_rel_close(
    actual: torch.Tensor, expected: np.ndarray, what: str, floor: float = SCORE_FLOOR
) -> None:
    expected_t = torch.from_numpy(expected).to(torch.float64)
    actual_t = actual.detach().to(torch.float64)
    assert actual_t.shape == expected_t.shape, f"{what}: shape {list(actual_t.shape)}"
    rel = (actual_t - expected_t).abs() / expected_t.abs().clamp(min=floor)
    assert rel.max().item() <= REL_TOL, f"{what}: max relative error {rel.max().item():.3g}"


def _load_official(parity: ParityLookup, name: str) -> tuple[Discriminator, dict, np.lib.npyio.NpzFile]:
    cfg = json.loads(parity(f"{name}.json").read_text())
    data = np.load(parity(f"{name}.npz"))
    D = Discriminator(**cfg["D_kwargs"])
    state = {k[len("D/"):]: torch.from_numpy(data[k]) for k in data.files if k.startswith("D/")}
    D.load_state_dict(state, strict=True)
    return D.eval(), cfg, data


@pytest.mark.parametrize("name", PARITY_CONFIGS)
def test_scores_match_official(parity: ParityLookup, name: str) -> None:
    D, cfg, data = _load_official(parity, name)
    c = torch.from_numpy(data["in/c"])
    with torch.no_grad():
        for i in range(len(data["in/psi"])):
            for mode in cfg["noise_modes"]:
                img = torch.from_numpy(data[f"out/img_psi{i}_{mode}"])
                _assert_rel_close(D(img, c), data[f"out/dscore_psi{i}_{mode}"], f"{name} psi{i} {mode}")
        _assert_rel_close(D(torch.from_numpy(data["in/real"]), c), data["out/dscore_real"], f"{name} real")


@pytest.mark.parametrize("name", PARITY_CONFIGS)
def test_r1_penalty_matches_official_and_double_backward(parity: ParityLookup, name: str) -> None:
    D, _, data = _load_official(parity, name)
    real = torch.from_numpy(data["in/real"]).requires_grad_()
    scores = D(real, torch.from_numpy(data["in/c"]))
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    penalty = grad.square().sum(dim=[1, 2, 3])
    _assert_rel_close(penalty, data["out/r1_penalty"], f"{name} r1", floor=R1_FLOOR)

    penalty.sum().backward()
    weight_grads = [p.grad for n, p in D.named_parameters() if n.endswith("conv0.weight")]
    assert weight_grads and all(g is not None and torch.isfinite(g).all() for g in weight_grads)
    assert any(g.abs().sum() > 0 for g in weight_grads)


def _mbstd_numpy(x: np.ndarray, group_size: int | None, num_channels: int) -> np.ndarray:
    """Direct loop form: sample k is grouped with samples k mod n + g*n (n = N/G)."""
    n_batch, channels, height, width = x.shape
    group = n_batch if group_size is None else min(group_size, n_batch)
    n_groups = n_batch // group
    per = channels // num_channels
    stat = np.empty((n_batch, num_channels, height, width))
    for k in range(n_batch):
        members = x[[k % n_groups + g * n_groups for g in range(group)]].astype(np.float64)
        for f in range(num_channels):
            chunk = members[:, f * per:(f + 1) * per]
            stat[k, f] = np.sqrt(chunk.var(axis=0) + 1e-8).mean()
    return np.concatenate([x, stat], axis=1)


@pytest.mark.parametrize(
    ("n_batch", "group_size", "num_channels"),
    [(8, 4, 1), (8, 2, 2), (6, 3, 3), (4, None, 1), (3, 4, 1), (1, 4, 1)],
)
def test_minibatch_std_matches_numpy(n_batch: int, group_size: int | None, num_channels: int) -> None:
    rng = np.random.default_rng(0)
    scale = np.arange(1, 7, dtype=np.float32)[:, None, None]  # a different spread per channel
    x = rng.standard_normal((n_batch, 6, 3, 5)).astype(np.float32) * scale
    out = MinibatchStdLayer(group_size, num_channels)(torch.from_numpy(x))
    assert out.shape == (n_batch, 6 + num_channels, 3, 5)
    np.testing.assert_allclose(out.numpy(), _mbstd_numpy(x, group_size, num_channels), rtol=1e-5, atol=1e-6)


def test_minibatch_std_rejects_indivisible_batch_and_channels() -> None:
    # The official layer fails too (an invalid reshape); ours says why.
    with pytest.raises(ValueError, match="not divisible by the group size 4"):
        MinibatchStdLayer(4)(torch.zeros(6, 2, 4, 4))
    with pytest.raises(ValueError, match="num_channels=2"):
        MinibatchStdLayer(2, num_channels=2)(torch.zeros(4, 3, 4, 4))
    D = Discriminator(c_dim=0, img_resolution=8, img_channels=1, channel_base=32, channel_max=4)
    with pytest.raises(ValueError, match="mbstd_group_size=4"):
        D(torch.zeros(6, 1, 8, 8), None)


def _expected_keys(architecture: str) -> set[str]:
    """Official state-dict names of a 16x16 discriminator without labels."""
    keys: set[str] = set()

    def conv(prefix: str, bias: bool = True) -> None:
        keys.update({f"{prefix}.weight", f"{prefix}.resample_filter"})
        if bias:
            keys.add(f"{prefix}.bias")

    for res in (16, 8):
        keys.add(f"b{res}.resample_filter")
        if res == 16 or architecture == "skip":
            conv(f"b{res}.fromrgb")
        conv(f"b{res}.conv0")
        conv(f"b{res}.conv1")
        if architecture == "resnet":
            conv(f"b{res}.skip", bias=False)
    if architecture == "skip":
        conv("b4.fromrgb")
    conv("b4.conv")
    keys.update({"b4.fc.weight", "b4.fc.bias", "b4.out.weight", "b4.out.bias"})
    return keys


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_architectures_names_and_shapes(architecture: str) -> None:
    # channels: 16x16 -> 4, 8x8 -> 8, 4x4 -> 16
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, architecture=architecture,
                      channel_base=64, channel_max=16)
    state = D.state_dict()
    assert set(state) == _expected_keys(architecture)
    assert D.block_resolutions == [16, 8]
    assert state["b16.resample_filter"].shape == (4, 4)
    assert state["b16.fromrgb.weight"].shape == (4, 3, 1, 1)
    assert state["b16.conv0.weight"].shape == (4, 4, 3, 3)
    assert state["b16.conv1.weight"].shape == (8, 4, 3, 3)
    assert state["b8.conv1.weight"].shape == (16, 8, 3, 3)
    assert state["b4.conv.weight"].shape == (16, 17, 3, 3)
    assert state["b4.fc.weight"].shape == (16, 16 * 4 * 4)
    assert state["b4.out.weight"].shape == (1, 16)
    if architecture == "resnet":
        assert state["b8.skip.weight"].shape == (16, 8, 1, 1)
    if architecture == "skip":
        assert state["b8.fromrgb.weight"].shape == (8, 3, 1, 1)
        assert state["b4.fromrgb.weight"].shape == (16, 3, 1, 1)
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    scores = D(img, torch.zeros(4, 0))
    assert scores.shape == (4, 1) and scores.dtype == torch.float32
    scores.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_mbstd_can_be_disabled() -> None:
    D = Discriminator(c_dim=0, img_resolution=8, img_channels=1, channel_base=32, channel_max=4,
                      epilogue_kwargs={"mbstd_num_channels": 0})
    assert D.b4.mbstd is None and D.b4.conv.weight.shape == (4, 4, 3, 3)
    assert D(torch.randn(3, 1, 8, 8), None).shape == (3, 1)


@pytest.mark.parametrize(
    ("architecture", "freeze", "frozen"),
    [
        # layer order: b16 fromrgb, conv0, conv1, [skip]; b8 [fromrgb], conv0, conv1, [skip]
        ("resnet", 5, ["b16.fromrgb", "b16.conv0", "b16.conv1", "b16.skip", "b8.conv0"]),
        ("skip", 4, ["b16.fromrgb", "b16.conv0", "b16.conv1", "b8.fromrgb"]),
        ("orig", 0, []),
        ("orig", 100, ["b16.fromrgb", "b16.conv0", "b16.conv1", "b8.conv0", "b8.conv1"]),
    ],
)
def test_freeze_layers(architecture: str, freeze: int, frozen: list[str]) -> None:
    kwargs = dict(c_dim=0, img_resolution=16, img_channels=3, architecture=architecture,
                  channel_base=64, channel_max=16)
    D = Discriminator(**kwargs, block_kwargs={"freeze_layers": freeze})
    assert D.b16.first_layer_idx == 0 and D.b8.first_layer_idx == D.b16.num_layers
    layers = {name: m for name, m in D.named_modules() if name.count(".") == 1 and hasattr(m, "weight")}
    for name, layer in layers.items():
        trainable = name not in frozen
        assert layer.weight.requires_grad == trainable, name
        assert all(p.requires_grad == trainable for p in layer.parameters()), name

    # Frozen weights stay in the state dict under their names, so checkpoints still load.
    reference = Discriminator(**kwargs)
    assert set(D.state_dict()) == set(reference.state_dict())
    D.load_state_dict(reference.state_dict(), strict=True)
    D(torch.randn(4, 3, 16, 16), None).sum().backward()
    assert D.b4.conv.weight.grad is not None
    for name in frozen:
        assert layers[name].weight.grad is None, name


def test_label_projection() -> None:
    D = Discriminator(c_dim=3, img_resolution=8, img_channels=1, channel_base=64, channel_max=8, cmap_dim=6,
                      mapping_kwargs={"num_layers": 2})
    assert D.b4.out.weight.shape == (6, 8)
    captured: dict[str, torch.Tensor] = {}
    D.b4.out.register_forward_hook(lambda m, i, o: captured.__setitem__("out", o))
    D.mapping.register_forward_hook(lambda m, i, o: captured.__setitem__("cmap", o))
    img = torch.randn(4, 1, 8, 8)
    c = torch.eye(3)[[0, 1, 2, 0]]
    scores = D(img, c)
    assert captured["cmap"].shape == (4, 6)
    expected = (captured["out"] * captured["cmap"]).sum(dim=1, keepdim=True) / math.sqrt(6)
    torch.testing.assert_close(scores, expected)
    assert not torch.allclose(D(img, torch.eye(3)[[1, 2, 0, 1]]), scores)  # the label matters


def test_cmap_dim_defaults_to_4x4_channels_and_is_zero_without_labels() -> None:
    conditional = Discriminator(c_dim=2, img_resolution=8, img_channels=1, channel_base=64, channel_max=8)
    assert conditional.cmap_dim == 8 and conditional.b4.out.weight.shape == (8, 8)
    assert conditional.mapping.embed.weight.shape == (8, 2)
    unconditional = Discriminator(c_dim=0, img_resolution=8, img_channels=1, channel_base=64, channel_max=8,
                                  cmap_dim=5)
    assert unconditional.cmap_dim == 0 and not hasattr(unconditional, "mapping")
    assert unconditional.b4.out.weight.shape == (1, 8)


def test_fp16_blocks_run_in_float32_on_cpu() -> None:
    kwargs = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=64, channel_max=16)
    D16 = Discriminator(**kwargs, num_fp16_res=2)
    assert D16.b16.use_fp16 and D16.b8.use_fp16
    D32 = Discriminator(**kwargs)
    D32.load_state_dict(D16.state_dict(), strict=True)
    img = torch.randn(4, 3, 16, 16)
    out = D16(img, None)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, D32(img, None), rtol=0, atol=0)


def test_init_kwargs_rebuild_the_same_network() -> None:
    D = Discriminator(c_dim=2, img_resolution=16, img_channels=3, architecture="skip", channel_base=64,
                      channel_max=16, block_kwargs={"freeze_layers": 1}, mapping_kwargs={"num_layers": 1},
                      epilogue_kwargs={"mbstd_group_size": 2})
    rebuilt = Discriminator(**json.loads(json.dumps(D.init_kwargs)))
    assert set(rebuilt.state_dict()) == set(D.state_dict())
    rebuilt.load_state_dict(D.state_dict(), strict=True)
    img, c = torch.randn(2, 3, 16, 16), torch.randn(2, 2)
    torch.testing.assert_close(rebuilt(img, c), D(img, c))
    assert rebuilt.b4.mbstd.group_size == 2 and not rebuilt.b16.fromrgb.weight.requires_grad


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="architecture"):
        Discriminator(c_dim=0, img_resolution=8, img_channels=3, architecture="dense")
    with pytest.raises(ValueError, match="power of two"):
        Discriminator(c_dim=0, img_resolution=24, img_channels=3)
    with pytest.raises(ValueError, match="in_channels"):
        DiscriminatorBlock(3, 4, 8, resolution=8, img_channels=3, first_layer_idx=0)
    D = Discriminator(c_dim=0, img_resolution=8, img_channels=3, channel_base=32, channel_max=4)
    with pytest.raises(ValueError, match=r"img must have shape \[N, 3, 8, 8\]"):
        D(torch.zeros(2, 3, 16, 16), None)


def test_compiles_as_one_graph() -> None:
    # fullgraph=True fails on any graph break (data-dependent Python control flow).
    torch._dynamo.reset()
    D = Discriminator(c_dim=3, img_resolution=16, img_channels=3, channel_base=64, channel_max=16)
    img, c = torch.randn(4, 3, 16, 16), torch.randn(4, 3)
    compiled = torch.compile(D, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(img, c), D(img, c))
