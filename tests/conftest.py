"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PARITY_DIRS = [REPO.parent / "shared" / "parity", REPO / "tests" / "data" / "parity"]
PARITY_CONFIGS = ["g16_orig_gray_cond", "g32_skip_rgb", "g64_resnet_rgb"]


@pytest.fixture(params=[d for d in PARITY_DIRS if d.is_dir()], ids=lambda d: d.parent.name)
def parity_dir(request: pytest.FixtureRequest) -> Path:
    """Each available copy of the official parity data (../shared/parity and tests/data/parity)."""
    return request.param
