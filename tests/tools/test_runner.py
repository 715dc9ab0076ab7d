"""The batched runner: seed latents, labels, batching, uint8 output, devices, and seed-list parsing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import ParityLookup

from ganforge.compat import load_network
from ganforge.errors import OptionError
from ganforge.inference.runner import (
    class_labels,
    pick_device,
    run_generator,
    run_mapping,
    run_synthesis,
    seed_latents,
    to_uint8,
)
from ganforge.models.stylegan2 import Generator
from ganforge.tools.seeds import parse_int_list


def tiny_generator(c_dim: int = 0, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(
        z_dim=16,
        c_dim=c_dim,
        w_dim=16,
        img_resolution=16,
        img_channels=3,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )


# --- seed lists ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0-7,42", [0, 1, 2, 3, 4, 5, 6, 7, 42]), ("5", [5]), (" 3 , 1-2 ", [3, 1, 2]), ("4-4", [4]),
     ("9,9", [9, 9]), ("4294967295", [2**32 - 1])],
)
def test_parse_seeds(text: str, expected: list[int]) -> None:
    assert parse_int_list(text) == expected


@pytest.mark.parametrize("text", ["", " ", "1,,2", "a", "-3", "3-", "1-2-3", "7-2", "1.5", "4294967296",
                                  "0-4294967295"])
def test_parse_seeds_refuses_bad_text(text: str) -> None:
    with pytest.raises(OptionError, match="^seeds: "):
        parse_int_list(text)


def test_parse_int_list_names_the_argument() -> None:
    with pytest.raises(OptionError, match="^col_styles: 'x' is not") as info:
        parse_int_list("x", param="col_styles")
    assert info.value.param == "col_styles"


# --- latents, labels, transform, device ---------------------------------------------------------


def test_seed_latents_match_official_random_state() -> None:
    z = seed_latents([0, 7, 123], 16)
    assert z.dtype == torch.float32 and z.shape == (3, 16)
    for row, seed in zip(z, [0, 7, 123], strict=True):
        expected = np.random.RandomState(seed).randn(1, 16)[0]
        np.testing.assert_allclose(row.numpy(), expected, rtol=1e-6)
    assert not torch.equal(z[0], z[1])


def test_class_labels() -> None:
    labels = class_labels(4, 2, 3)
    assert labels.tolist() == [[0, 0, 1, 0]] * 3
    assert class_labels(0, None, 2).shape == (2, 0)
    with pytest.raises(OptionError, match="^class_idx: .*conditional"):
        class_labels(4, None, 1)
    with pytest.raises(OptionError, match="out of range"):
        class_labels(4, 4, 1)
    with pytest.raises(OptionError, match="out of range"):
        class_labels(4, -1, 1)


def test_class_for_unconditional_net_warns_and_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    assert class_labels(0, 3, 2).shape == (2, 0)
    assert "ignored" in caplog.text


def test_to_uint8_as_official() -> None:
    img = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]).reshape(1, 1, 2, 3).repeat(2, 3, 1, 1)
    out = to_uint8(img)
    assert out.dtype == torch.uint8 and out.shape == (2, 2, 3, 3)
    assert out[0, :, :, 0].flatten().tolist() == [0, 0, 128, 191, 255, 255]


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type in {"cpu", "cuda", "mps"}
    with pytest.raises(OptionError, match="^device: 'tpu' is not a device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="CUDA"):
            pick_device("cuda")


# --- running a generator ------------------------------------------------------------------------


def test_run_generator_matches_direct_call_and_official_seeds() -> None:
    G = tiny_generator()
    out = run_generator(G, seeds=[3, 1], truncation_psi=0.7, batch_size=2)
    assert out.dtype == torch.uint8 and out.shape == (2, 16, 16, 3)
    z = torch.from_numpy(np.random.RandomState(1).randn(1, 16)).float()
    with torch.no_grad():
        img = G.eval()(z, torch.zeros([1, 0]), truncation_psi=0.7, noise_mode="const")
    expected = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    assert (out[1:].int() - expected.int()).abs().max() <= 1


def test_run_generator_batch_size_invariant() -> None:
    G = tiny_generator()
    seeds = list(range(7))
    one = run_generator(G, seeds=seeds, batch_size=1, output_transform=None)
    four = run_generator(G, seeds=seeds, batch_size=4, output_transform=None)
    assert one.shape == (7, 3, 16, 16)
    torch.testing.assert_close(one, four, atol=1e-5, rtol=0)
    assert torch.equal(run_generator(G, seeds=[5], batch_size=4), run_generator(G, seeds=[5], batch_size=1))


def test_run_generator_is_deterministic_and_restores_training_mode() -> None:
    G = tiny_generator().train()
    w_avg = G.mapping.w_avg.clone()
    a = run_generator(G, seeds=[11, 12], truncation_psi=0.5)
    b = run_generator(G, seeds=[11, 12], truncation_psi=0.5)
    assert torch.equal(a, b)
    assert G.training
    assert torch.equal(G.mapping.w_avg, w_avg)
    assert not torch.equal(a[0], a[1])


def test_run_generator_inputs() -> None:
    G = tiny_generator(c_dim=3)
    z = seed_latents([0, 1, 2], 16)
    by_class = run_generator(G, z, class_idx=1)
    c = torch.zeros([3, 3])
    c[:, 1] = 1
    assert torch.equal(by_class, run_generator(G, z, c))
    assert not torch.equal(by_class, run_generator(G, z, class_idx=2))
    assert torch.equal(run_generator(G, seeds=[0, 1, 2], class_idx=1), by_class)
    with pytest.raises(OptionError, match="^class_idx: "):
        run_generator(G, z)
    with pytest.raises(ValueError, match="exactly one"):
        run_generator(G, z, seeds=[1])
    with pytest.raises(OptionError, match="^noise_mode: "):
        run_generator(G, z, class_idx=0, noise_mode="loud")
    with pytest.raises(OptionError, match="^batch_size: must be at least 1"):
        run_generator(G, z, class_idx=0, batch_size=0)


def test_noise_modes_differ() -> None:
    G = tiny_generator()
    with torch.no_grad():
        for name, param in G.named_parameters():
            if name.endswith("noise_strength"):
                param.fill_(0.5)  # freshly built networks start with zero noise strength
    none = run_generator(G, seeds=[0], noise_mode="none", output_transform=None)
    const = run_generator(G, seeds=[0], output_transform=None)
    torch.manual_seed(1)
    random = run_generator(G, seeds=[0], noise_mode="random", output_transform=None)
    assert not torch.allclose(const, random)
    assert not torch.allclose(const, none)


def test_mapping_then_synthesis_equals_generator() -> None:
    G = tiny_generator()
    z = seed_latents(range(5), 16)
    c = torch.zeros([5, 0])
    ws = run_mapping(G, z, c, truncation_psi=0.6, batch_size=2)
    assert ws.shape == (5, G.num_ws, 16)
    images = run_synthesis(G, ws, batch_size=3, output_transform=None)
    torch.testing.assert_close(
        images, run_generator(G, z, truncation_psi=0.6, output_transform=None), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("name", ["g32_skip_rgb", "g16_orig_gray_cond"])
def test_official_pickle_reproduces_reference_images(name: str, parity: ParityLookup) -> None:
    """The runner on the loaded official snapshot gives the official outputs for the reference inputs."""
    ref = np.load(parity(f"{name}.npz"))
    nets = load_network(parity(f"{name}-snapshot.pkl"))
    G = nets["G_ema"]
    z, c = torch.from_numpy(ref["in/z"]).float(), torch.from_numpy(ref["in/c"]).float()
    for i, psi in enumerate(ref["in/psi"]):
        for mode in ("const", "none"):
            images = run_generator(
                G, z, c, truncation_psi=float(psi), noise_mode=mode, batch_size=3, output_transform=None
            )
            expected = torch.from_numpy(ref[f"out/img_psi{i}_{mode}"])
            torch.testing.assert_close(images, expected, atol=1e-4, rtol=0)
