"""Shared test fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_PARITY = REPO.parent / "shared" / "parity"
BUNDLED_PARITY = REPO / "tests" / "data" / "parity"
PARITY_DIRS = (SHARED_PARITY, BUNDLED_PARITY)
"""Where parity data is looked up, in order: the team's shared copy first, then the one shipped here."""
PARITY_CONFIGS = ["g16_orig_gray_cond", "g32_skip_rgb", "g64_resnet_rgb"]
ParityLookup = Callable[[str], Path]
"""The `parity` fixture's type: a parity file's name -> its path."""


def in_ci() -> bool:
    """True when the environment says this is a CI run (CI=true, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def locate_parity(name: str, dirs: Sequence[Path] = PARITY_DIRS, ci: bool | None = None) -> Path:
    """The first `dirs[i] / name` that exists; skips the test when none does, fails it in CI.

    In CI the shared copy (`dirs[0]`) must be present: parity is the project's proof of
    faithfulness, so a CI run that cannot see it must not pass by skipping.
    """
    ci = in_ci() if ci is None else ci
    if ci and not dirs[0].is_dir():
        pytest.fail(f"CI=true but the parity data folder {dirs[0]} is missing")
    for folder in dirs:
        if (folder / name).is_file():
            return folder / name
    message = f"parity file {name} is in none of {', '.join(str(d) for d in dirs)}"
    if ci:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def parity() -> ParityLookup:
    """`parity("g32_skip_rgb.npz")`: the path of a parity file (../shared/parity, then tests/data/parity)."""
    return locate_parity


@pytest.fixture
def official_rgb(parity: ParityLookup) -> str:
    """The official unconditional RGB 32 px snapshot pickle (g32_skip_rgb), as a path string."""
    return str(parity("g32_skip_rgb-snapshot.pkl"))


@pytest.fixture
def official_cond(parity: ParityLookup) -> str:
    """The official class-conditional grayscale 16 px snapshot pickle (g16_orig_gray_cond)."""
    return str(parity("g16_orig_gray_cond-snapshot.pkl"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch single-threaded: tiny networks are fastest so and do not fight other test processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def save_tiny_stylegan2(path: Path, c_dim: int = 0) -> str:
    """A tiny 8 px StyleGAN2 G (seeded) saved as a ganforge checkpoint at `path`; returns the path."""
    from ganforge.compat import save_network
    from ganforge.models.stylegan2 import Generator

    torch.manual_seed(0)
    G = Generator(
        z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=8, img_channels=3,
        mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"channel_base": 64, "channel_max": 8},
    )
    save_network(path, G_ema=G)
    return str(path)


def tiny_stylegan(c_dim: int = 0) -> torch.nn.Module:
    """A tiny 8 px StyleGAN (2019) G: one mapping layer, 8 feature maps."""
    from ganforge.models import stylegan

    return stylegan.Generator(
        z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=8, img_channels=3,
        mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"fmap_base": 32, "fmap_max": 8},
    )
