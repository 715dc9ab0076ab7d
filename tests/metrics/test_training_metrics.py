"""Metrics during training: `--metrics` runs them at every snapshot and logs them three ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tests.metrics.test_fit import gray_digits_sized
from tests.training.tiny import make_dataset, tiny_config

from ganforge.cli.train import train_command
from ganforge.compat import load_network
from ganforge.errors import MetricError
from ganforge.metrics.compute import compute_metrics
from ganforge.training.loop import LoopOptions, training_loop


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GANFORGE_DETECTOR_DIR", str(tmp_path / "detectors"))
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # 24 reals: a rank-deficient covariance
def test_metrics_at_every_snapshot(tmp_path: Path) -> None:
    data = gray_digits_sized(tmp_path / "data.zip", count=24)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    options = LoopOptions(device="cpu", grid=(2, 2), metrics=("fid_digits", "kid_digits"), metrics_num_gen=40)
    result = training_loop(tiny_config(kimg=0.032, snap=1), data, run_dir, options=options)

    # Three ticks of 8 kimg/1000, a snapshot at each; each line names the snapshot it measured.
    lines = [json.loads(line) for line in (run_dir / "metric-fid_digits.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all((run_dir / entry["snapshot_pkl"]).is_file() for entry in lines)
    assert lines[-1]["snapshot_pkl"] == result.snapshot.name
    assert len((run_dir / "metric-kid_digits.jsonl").read_text().splitlines()) == 3

    # The logged value is the metric of that snapshot's G_ema, recomputed here from the file.
    G_ema = load_network(result.snapshot)["G_ema"]
    again = compute_metrics(["fid_digits"], G_ema, data, num_gen=40)[0]["results"]["fid_digits"]
    assert lines[-1]["results"]["fid_digits"] == pytest.approx(again, rel=1e-5)

    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    logged = [s["Metrics/fid_digits"]["mean"] for s in stats if "Metrics/fid_digits" in s]
    assert logged == pytest.approx([entry["results"]["fid_digits"] for entry in lines])
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert [e.value for e in events.Scalars("Metrics/kid_digits")] == pytest.approx(
        [s["Metrics/kid_digits"]["mean"] for s in stats if "Metrics/kid_digits" in s], rel=1e-6
    )


def test_unknown_metric_is_refused_before_training(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data.zip", count=8)
    result = CliRunner().invoke(train_command, ["--data", str(data), "--outdir", str(tmp_path / "out"),
                                                "--cfg", "cpu", "--metrics", "fid_digits,fid3k"])
    assert result.exit_code == 2 and "fid3k" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_detector_weights_stop_training_before_the_first_step(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data.zip", count=8)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(MetricError, match="pt_inception-2015-12-05"):
        options = LoopOptions(device="cpu", metrics=("fid50k_full",))
        training_loop(tiny_config(), data, run_dir, options=options)
    assert not list(run_dir.glob("network-snapshot-*"))


def test_metrics_that_do_not_suit_the_data_stop_training_before_the_first_step(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data.zip", count=8)  # 16 x 16 RGB
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(MetricError, match=f"^fid_digits needs 32x32 grayscale digit images .* dataset {data} "
                                          "holds 16x16 RGB images"):
        options = LoopOptions(device="cpu", metrics=("fid_digits",))
        training_loop(tiny_config(), data, run_dir, options=options)
    assert not list(run_dir.glob("network-snapshot-*"))
