"""`ganforge train` through click: a new run, `--resume latest`, transfer learning and option errors."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import PIL.Image
import pytest
import torch
from click.testing import CliRunner, Result
from tests.training.tiny import make_dataset, tiny_config

from ganforge.cli.main import main
from ganforge.cli.train import train_command
from ganforge.compat import load_network
from ganforge.compat.checkpoint import read_training_state
from ganforge.errors import GanforgeError, NetworkFileError, OptionError
from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.rundir import new_run_dir

TINY = ["--cfg", "cpu", "--cbase", "256", "--cmax", "16", "--batch", "16", "--batch-gpu", "8", "--kimg", "1",
        "--tick", "0.5", "--snap", "1", "--workers", "0", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _train(*args: str) -> Result:
    result = CliRunner().invoke(train_command, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, GanforgeError):
        raise result.exception
    return result


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What `ganforge train ARGS` prints on stderr when it fails (it must fail with status 1)."""
    with pytest.raises(SystemExit) as info:
        main(["train", *args])
    assert info.value.code == 1
    return capsys.readouterr().err


def test_new_run_resume_latest_and_transfer(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "digits.zip", classes=2)
    outdir = tmp_path / "runs"
    result = _train("--data", str(data), "--outdir", str(outdir), *TINY, "--cond", "--mirror",
                    "--gamma", "0.5", "--grid", "4x2")
    assert result.exit_code == 0, result.output
    run_dir = outdir / "00000-digits-cond-mirror-cpu-gamma0.5-kimg1-batch16"
    with PIL.Image.open(run_dir / "reals.png") as reals, PIL.Image.open(run_dir / "fakes_init.png") as fakes:
        assert reals.size == fakes.size == (4 * 16, 2 * 16)
    assert "tick 0 " in result.output and (run_dir / "network-snapshot-000001.008.pt").is_file()
    options = json.loads((run_dir / "training_options.json").read_text())["config"]
    assert (options["cbase"], options["gamma"], options["cond"], options["mirror"]) == (256, 0.5, True, True)

    # The same command line with --resume latest appended (and a longer --kimg) continues the run.
    result = _train("--data", str(data), "--outdir", str(outdir), *TINY, "--cond", "--mirror", "--gamma",
                    "0.5", "--grid", "4x2", "--kimg", "2", "--resume", "latest")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in outdir.iterdir()) == [run_dir.name]  # continued in place
    assert read_training_state(run_dir / "network-snapshot-000002.000.pt")["cur_nimg"] == 2000
    assert "Resuming from snapshot" in (run_dir / "log.txt").read_text()

    result = _train("--data", str(data), "--outdir", str(outdir), *TINY, "--cond", "--freezed", "2",
                    "--resume", str(run_dir / "network-snapshot-000002.000.pt"))
    assert result.exit_code == 0, result.output
    transfer_dir = outdir / "00001-digits-cond-cpu-kimg1-batch16-resumecustom-freezed2"
    log = (transfer_dir / "log.txt").read_text()
    assert "G: copied" in log and "D: copied" in log
    D = load_network(transfer_dir / "network-snapshot-000001.008.pt")["D"]
    assert D.init_kwargs["block_kwargs"]["freeze_layers"] == 2
    assert json.loads((transfer_dir / "training_options.json").read_text())["config"]["ada_kimg"] == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aug", "fixed"], "--p: required with --aug=fixed"),
        (["--gamma", "-1"], "--gamma: must be non-negative"),
        (["--resume", "latest"], "no run folder"),
    ],
)
def test_option_errors_name_the_option(tmp_path: Path, args: list[str], message: str) -> None:
    data = make_dataset(tmp_path / "d.zip", count=4)
    result = _train("--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu", *args)
    assert isinstance(result.exception, OptionError)
    assert message in str(result.exception)


@pytest.mark.parametrize(("args", "named"), [(["--grid", "8by8"], "--grid"), (["--device", "tpu"], "'tpu'")])
def test_bad_grid_or_device_is_a_usage_error(tmp_path: Path, args: list[str], named: str) -> None:
    result = CliRunner().invoke(train_command, ["--outdir", str(tmp_path), *args])
    assert result.exit_code == 2 and named in result.output


def test_data_is_required_for_a_new_run(tmp_path: Path) -> None:
    result = _train("--outdir", str(tmp_path))
    assert isinstance(result.exception, OptionError) and "--data: required" in str(result.exception)


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(train_command, ["--help"])
    for option in ("--data", "--outdir", "--cfg", "--kimg", "--snap", "--resume", "--cond", "--mirror",
                   "--gamma", "--batch", "--batch-gpu", "--glr", "--dlr", "--map", "--cbase", "--cmax",
                   "--mbstd-group", "--seed", "--aug", "--p", "--target", "--augpipe", "--freezed",
                   "--workers", "--tick", "--device", "--compile", "--grid"):
        assert option in result.output


# ---- --resume latest ---------------------------------------------------------------------------

RESUME = ["--outdir", "", "--resume", "latest", "--workers", "0", "--device", "cpu", "--grid", "2x2"]


def _tiny_run(tmp_path: Path, kimg: float) -> tuple[Path, Path]:
    """A run of the tiny config (seed 0, gamma 1, 16 x 16, 0.016-kimg ticks, a snapshot each) in
    tmp_path/runs; returns (data, run folder)."""
    data = make_dataset(tmp_path / "ds.zip", count=24)
    run_dir = new_run_dir(tmp_path / "runs", "ds")
    options = LoopOptions(device="cpu", grid=(2, 2), progress=False)
    training_loop(tiny_config(kimg=kimg, snap=1), data, run_dir, options=options)
    return data, run_dir


def _resume(tmp_path: Path, *args: str) -> Result:
    return _train(*[str(tmp_path / "runs") if a == "" else a for a in RESUME], *args)


def _ticks(run_dir: Path) -> list[tuple[int, float]]:
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    return [(int(line["Progress/tick"]["mean"]), line["Progress/kimg"]["mean"]) for line in lines]


def test_resume_latest_refuses_changed_options_and_other_data(tmp_path: Path) -> None:
    data, run_dir = _tiny_run(tmp_path, kimg=0.032)
    before = sorted(p.name for p in run_dir.iterdir())
    result = _resume(tmp_path, "--seed", "3", "--gamma", "1", "--cond")
    message = str(result.exception)
    assert isinstance(result.exception, OptionError) and "\n" not in message
    assert "--seed (recorded 0, given 3); --cond (recorded off, given on)" in message
    assert "--gamma" not in message and "only --kimg, --snap, --tick and --workers may change" in message
    assert f"use --resume {run_dir / 'network-snapshot-000000.032.pt'} to start a new run" in message

    other = make_dataset(tmp_path / "other.zip", count=32)  # same size, more images
    result = _resume(tmp_path, "--data", str(other))
    message = str(result.exception)
    assert isinstance(result.exception, OptionError) and "\n" not in message
    assert message.startswith(f"--data: {other} is not the dataset run {run_dir.name} was trained on")
    assert "images 24 vs 32" in message and "use --resume" in message
    result = _resume(tmp_path, "--data", str(make_dataset(tmp_path / "big.zip", count=24, resolution=32)))
    assert "resolution 16 vs 32" in str(result.exception)
    assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing written, nothing overwritten

    # The same data elsewhere, and options given with their recorded values, are accepted (the run
    # is then already at its --kimg, which is checked once the run is set up).
    moved = shutil.copy(data, tmp_path / "moved.zip")
    result = _resume(tmp_path, "--data", str(moved), "--seed", "0", "--gamma", "1.0")
    assert isinstance(result.exception, OptionError), result.output
    assert "--kimg: the snapshot is already at 0.032 kimg" in str(result.exception)
    result = _resume(tmp_path, "--snap", "0", "--kimg", "1")
    assert isinstance(result.exception, OptionError) and str(result.exception) == "--snap: must be at least 1"


def test_resume_latest_falls_back_past_damaged_snapshots(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Damaged newest snapshots are skipped, saying so; the tick counter and stats.jsonl continue from
    the snapshot used, and no message tells to download what training wrote."""
    _, run_dir = _tiny_run(tmp_path, kimg=0.064)
    assert _ticks(run_dir) == [(0, 0.008), (1, 0.024), (2, 0.04), (3, 0.056), (4, 0.064)]
    snapshots = {nimg: run_dir / f"network-snapshot-000000.{nimg:03d}.pt" for nimg in (8, 24, 40, 56, 64)}
    snapshots[64].write_bytes(snapshots[64].read_bytes()[:3000])  # truncated
    snapshots[56].write_bytes(b"")  # empty
    snapshots[40].write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING):
        result = _resume(tmp_path, "--seed", "0")
    assert result.exit_code == 0, result.output
    names = ", ".join(snapshots[nimg].name for nimg in (64, 56, 40))
    assert (f"Resuming the latest run: {names} cannot be read (damaged); continuing from "
            f"{snapshots[24].name}, the newest intact snapshot") in caplog.text
    assert "download" not in caplog.text + result.output
    assert _ticks(run_dir) == [(0, 0.008), (1, 0.024), (2, 0.04), (3, 0.056), (4, 0.064)]
    assert read_training_state(snapshots[64])["cur_nimg"] == 64  # trained again, from 0.024 kimg

    for path in snapshots.values():
        path.write_bytes(b"")
    result = _resume(tmp_path)
    message = str(result.exception)
    assert isinstance(result.exception, OptionError) and "\n" not in message and "download" not in message
    assert message == (f"--resume: none of the 5 snapshot(s) in '{run_dir}' can be read (all damaged); start "
                       "a new run")


# ---- a failed start ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--cond"], OptionError, "--cond: needs labels"),
        (["--resume", "missing.pt"], NetworkFileError, "missing.pt"),
        (["--metrics", "fid50k_full"], GanforgeError, "pt_inception-2015-12-05"),  # no detector weights
        (["--model", "dcgan", "--cfg", "cpu"], GanforgeError, "--model dcgan cannot train"),
    ],
)
def test_a_failed_start_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], error: type, message: str
) -> None:
    for name, folder in (("GANFORGE_CACHE_DIR", "cache"), ("GANFORGE_DETECTOR_DIR", "detectors")):
        monkeypatch.setenv(name, str(tmp_path / folder))
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    data = make_dataset(tmp_path / "d.zip", count=8, resolution=8)
    outdir = tmp_path / "runs"
    result = _train("--data", str(data), "--outdir", str(outdir), "--cfg", "cpu", "--device", "cpu", *args)
    assert isinstance(result.exception, error) and message in str(result.exception)
    assert list(outdir.iterdir()) == []


def test_an_unusable_outdir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "d.zip", count=4)
    (tmp_path / "file").write_text("")
    outdir = tmp_path / "file" / "runs"
    err = _main(capsys, "--data", str(data), "--outdir", str(outdir), "--cfg", "cpu")
    assert err == (f"Error: --outdir: cannot create folder '{outdir}': '{outdir.parent}' is a file, not a "
                   "folder; choose another destination\n")


# ---- datasets a family cannot train ------------------------------------------------------------


def test_images_a_family_cannot_train_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = ["--outdir", str(tmp_path / "runs"), "--cfg", "cpu"]
    odd = make_dataset(tmp_path / "odd.zip", count=4, resolution=24)  # made by hand: not a power of two
    err = _main(capsys, "--data", str(odd), *outdir)
    assert err.startswith("Error: ") and err.count("\n") == 1 and "24x24" in err
    assert "`ganforge dataset create --resolution" in err
    tiny = make_dataset(tmp_path / "tiny.zip", count=4, resolution=4)
    err = _main(capsys, "--data", str(tiny), *outdir)
    assert err == (f"Error: dataset '{tiny}' has 4x4 images, which --model stylegan2 cannot train: it "
                   "trains powers of two from 8 (8, 16, 32, ...); make the dataset at one of those sizes "
                   "(`ganforge dataset create --resolution N`), or train it with --model stylegan or r3gan\n")
    err = _main(capsys, "--data", str(make_dataset(tmp_path / "d8.zip", count=4, resolution=8)), *outdir,
                "--model", "dcgan")
    assert "8x8 images, which --model dcgan cannot train: it trains multiples of 16 without --cond" in err
    assert err.endswith("--resolution N`), or train it with --model stylegan2 or stylegan or r3gan\n")
    assert not list((tmp_path / "runs").iterdir())


def test_target_with_a_preset_that_turns_ada_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "d.zip", count=4)
    err = _main(capsys, "--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu", "--target",
                "0.7")
    assert err == ("Error: --target: needs --aug ada, and --cfg cpu turns ADA off (its aug is noaug); add "
                   "--aug ada or leave --target out\n")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_device_is_resolved_as_by_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--device mps` on a machine without MPS: the one line every command prints, no traceback."""
    data = make_dataset(tmp_path / "ds.zip", count=8)
    runs = str(tmp_path / "runs")
    err = _main(capsys, "--data", str(data), "--outdir", runs, "--cfg", "cpu", "--device", "mps")
    assert err == "Error: --device: MPS is not available on this machine; use cpu\n"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
