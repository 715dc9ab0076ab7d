"""`ganforge train` through click: a new run, `--resume latest`, transfer learning and option errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import pytest
import torch
from click.testing import CliRunner
from tests.training.tiny import make_dataset

from ganforge.cli.train import train_command
from ganforge.compat import load_network
from ganforge.errors import OptionError
from ganforge.models.checkpoint import read_training_state

TINY = ["--cfg", "cpu", "--cbase", "256", "--cmax", "16", "--batch", "16", "--batch-gpu", "8", "--kimg", "1",
        "--tick", "0.5", "--snap", "1", "--workers", "0", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(*args: str) -> object:
    result = CliRunner().invoke(train_command, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, OptionError):
        raise result.exception
    return result


def test_new_run_resume_latest_and_transfer(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "digits.zip", classes=2)
    outdir = tmp_path / "runs"
    result = _train("--data", str(data), "--outdir", str(outdir), *TINY, "--cond", "--mirror",
                    "--gamma", "0.5", "--grid", "4x2")
    assert result.exit_code == 0, result.output
    run_dir = outdir / "00000-digits-cond-mirror-cpu-gamma0.5-kimg1-batch16"
    with PIL.Image.open(run_dir / "reals.png") as reals, PIL.Image.open(run_dir / "fakes_init.png") as fakes:
        assert reals.size == fakes.size == (4 * 16, 2 * 16)
    assert "tick 0 " in result.output and (run_dir / "network-snapshot-000001.pt").is_file()
    options = json.loads((run_dir / "training_options.json").read_text())["config"]
    assert (options["cbase"], options["gamma"], options["cond"], options["mirror"]) == (256, 0.5, True, True)

    result = _train("--outdir", str(outdir), "--resume", "latest", "--kimg", "2", "--workers", "0",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in outdir.iterdir()) == [run_dir.name]  # continued in place
    assert read_training_state(run_dir / "network-snapshot-000002.pt")["cur_nimg"] == 2000
    assert "Resuming from snapshot" in (run_dir / "log.txt").read_text()

    result = _train("--data", str(data), "--outdir", str(outdir), *TINY, "--cond", "--freezed", "2",
                    "--resume", str(run_dir / "network-snapshot-000002.pt"))
    assert result.exit_code == 0, result.output
    transfer_dir = outdir / "00001-digits-cond-cpu-kimg1-batch16-resumecustom-freezed2"
    log = (transfer_dir / "log.txt").read_text()
    assert "G: copied" in log and "D: copied" in log
    D = load_network(transfer_dir / "network-snapshot-000001.pt")["D"]
    assert D.init_kwargs["block_kwargs"]["freeze_layers"] == 2
    assert json.loads((transfer_dir / "training_options.json").read_text())["config"]["ada_kimg"] == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aug", "fixed"], "--aug=fixed requires specifying --p"),
        (["--gamma", "-1"], "--gamma must be non-negative"),
        (["--resume", "latest", "--gamma", "2"], "only --kimg, --snap, --tick and --workers may change"),
        (["--resume", "latest"], "no run folder"),
        (["--device", "tpu"], "--device 'tpu'"),
    ],
)
def test_option_errors_name_the_option(tmp_path: Path, args: list[str], message: str) -> None:
    data = make_dataset(tmp_path / "d.zip", count=4)
    result = _train("--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu", *args)
    assert isinstance(result.exception, OptionError)
    assert message in str(result.exception)


def test_bad_grid_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(train_command, ["--outdir", str(tmp_path), "--grid", "8by8"])
    assert result.exit_code == 2 and "--grid" in result.output


def test_data_is_required_for_a_new_run(tmp_path: Path) -> None:
    result = _train("--outdir", str(tmp_path))
    assert isinstance(result.exception, OptionError) and "--data is required" in str(result.exception)


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(train_command, ["--help"])
    for option in ("--data", "--outdir", "--cfg", "--kimg", "--snap", "--resume", "--cond", "--mirror",
                   "--gamma", "--batch", "--batch-gpu", "--glr", "--dlr", "--map", "--cbase", "--cmax",
                   "--mbstd-group", "--seed", "--aug", "--p", "--target", "--augpipe", "--freezed",
                   "--workers", "--tick", "--device", "--compile", "--grid"):
        assert option in result.output
