"""`--compile` (generate and train): compiled networks give the eager images within float tolerance,
and a CPU without a C++ compiler (which inductor needs there) is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from tests.conftest import in_ci, save_tiny_stylegan2
from tests.training.tiny import make_dataset

from ganforge.cli.generate import generate_command
from ganforge.cli.train import train_command
from ganforge.errors import OptionError
from ganforge.inference import runner


def _images(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(PIL.Image.open(p), dtype=np.int16) for p in sorted(folder.glob("seed*.png"))])


@pytest.mark.slow  # inductor builds C++ kernels: ~130 s with a cold cache on 2 shared cores, ~10 s warm
@pytest.mark.usefixtures("one_thread")
def test_generate_compile_gives_the_eager_images(tmp_path: Path) -> None:
    if runner.cxx_compiler() is None:
        if in_ci():
            pytest.fail("CI=true and no C++ compiler (g++, clang++, c++ or $CXX): torch.compile is untested")
        pytest.skip("torch.compile (inductor) needs a C++ compiler on the CPU; none found (g++, clang++, c++ "
                    "or $CXX)")
    network = save_tiny_stylegan2(tmp_path / "G.pt")
    common = ["--network", network, "--seeds", "0-5", "--batch", "3", "--device", "cpu"]
    for name, extra in (("eager", []), ("compiled", ["--compile"])):
        result = CliRunner().invoke(generate_command, [*common, "--outdir", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
    eager, compiled = _images(tmp_path / "eager"), _images(tmp_path / "compiled")
    assert eager.shape == compiled.shape == (6, 8, 8, 3)
    # Float differences of ~1e-6 can flip a pixel's rounding to uint8 by one level, no more.
    assert np.abs(eager - compiled).max() <= 1 and (eager != compiled).mean() < 0.01


def test_compile_without_a_cxx_compiler_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(runner.shutil, "which", lambda _name: None)
    network = save_tiny_stylegan2(tmp_path / "G.pt")
    result = CliRunner().invoke(generate_command, ["--network", network, "--seeds", "0", "--device", "cpu",
                                                   "--outdir", str(tmp_path / "out"), "--compile"])
    assert isinstance(result.exception, OptionError) and "needs a C++ compiler" in str(result.exception)
    data = make_dataset(tmp_path / "d.zip", count=4, resolution=8)
    args = ["--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu", "--cbase", "64",
            "--cmax", "8", "--workers", "0", "--device", "cpu", "--compile"]
    result = CliRunner().invoke(train_command, args)
    assert isinstance(result.exception, OptionError) and "needs a C++ compiler" in str(result.exception)
