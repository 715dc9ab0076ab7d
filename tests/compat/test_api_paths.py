"""Every Python import the README shows works, and `ImageDataset` is importable from `ganforge.data`."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
IMPORTS = re.findall(r"^from (ganforge[\w.]*) import (\w+)", README.read_text(), flags=re.MULTILINE)
DOTTED = re.findall(r"`(ganforge(?:\.\w+)+)\(", README.read_text())  # e.g. `ganforge.metrics.compute.f(`


def test_the_readme_shows_imports() -> None:
    assert ("ganforge.compat", "load_network") in IMPORTS


@pytest.mark.parametrize("module,name", IMPORTS + [tuple(path.rsplit(".", 1)) for path in DOTTED])
def test_readme_api_paths_resolve(module: str, name: str) -> None:
    assert callable(getattr(importlib.import_module(module), name))


def test_image_dataset_is_importable_from_ganforge_data() -> None:
    from ganforge.data import ImageDataset
    from ganforge.data.dataset import ImageDataset as Same

    assert ImageDataset is Same
    subprocess.run([sys.executable, "-c", "from ganforge.data import ImageDataset"], check=True)
