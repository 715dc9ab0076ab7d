"""The layers check: ganforge's imports only point down, and the check refuses a package whose don't."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.devtools.layers import LAYERS, main


def test_ganforge_imports_only_point_down() -> None:
    done = subprocess.run([sys.executable, "-m", "ganforge.devtools.layers"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every import points down its layers" in done.stdout


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package `fakepkg` under `root` holding `files` (relative path -> source), with __init__s."""
    package = root / "fakepkg"
    for relative, source in {"__init__.py": "", **files}.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(package).parents:
            (package / folder / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
    return package


def test_a_package_that_imports_down_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package = write_package(tmp_path, {
        "errors.py": "class Oops(Exception): ...\n",
        "fileio.py": "from fakepkg.errors import Oops\n",
        "training/loop.py": "from fakepkg.ops import conv\nfrom . import plan\n",
        "training/plan.py": "import os\n",
        "ops/conv.py": "import torch\n",
        "cli/main.py": "from fakepkg.training.loop import *\n",
    })
    assert main([str(package)]) == 0
    assert capsys.readouterr().out == "fakepkg: 10 modules, every import points down its layers\n"


def test_imports_up_sideways_and_by_name_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = write_package(tmp_path, {
        "ops/conv.py": "def f():\n    from fakepkg.training import loop\n",
        "training/loop.py": "",
        "metrics/fid.py": "from ..tools import runner\n",
        "tools/runner.py": "",
        "models/stylegan/net.py": "from fakepkg.models.stylegan2.layers import Conv\n",
        "models/stylegan2/layers.py": "",
        "compat/registry.py": "import importlib\nCLS = importlib.import_module('fakepkg.models')\n",
        "plugins/app.py": "",
    })
    assert main([str(package)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "fakepkg/compat/registry.py:2: fakepkg.compat.registry imports <computed>: an import by a computed "
        "name cannot be checked; import the module directly",
        "fakepkg/metrics/fid.py:1: fakepkg.metrics.fid imports fakepkg.tools.runner: sideways from metrics "
        "to tools (both on floor 4, not a declared pair)",
        "fakepkg/models/stylegan/net.py:1: fakepkg.models.stylegan.net imports "
        "fakepkg.models.stylegan2.layers: sideways from models.stylegan to models.stylegan2 "
        "(both on floor 1, not a declared pair)",
        "fakepkg/ops/conv.py:2: fakepkg.ops.conv imports fakepkg.training.loop: up from ops (floor 0) to "
        "training (floor 5)",
        "fakepkg/plugins/__init__.py:1: fakepkg.plugins imports anything: it is in no layer of the table",
        "fakepkg/plugins/app.py:1: fakepkg.plugins.app imports anything: it is in no layer of the table",
        "6 import(s) break the layers of fakepkg",
    ]


def test_the_table_names_each_unit_once() -> None:
    units = [unit for floor in LAYERS for unit in floor]
    assert len(units) == len(set(units))
