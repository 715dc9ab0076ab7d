"""benchmarks/bench_train.py: tick accounting and a one-config smoke run of the real training loop."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py"


@pytest.fixture(scope="module")
def bench_train() -> ModuleType:
    """The script loaded by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = module
    spec.loader.exec_module(module)
    return module


def _row(kimg: float, sec: float) -> dict:
    return {"Progress/kimg": {"mean": kimg}, "Timing/sec_per_tick": {"mean": sec}}


def test_sec_per_kimg_is_total_time_over_total_kimg_after_the_first_tick(bench_train: ModuleType) -> None:
    # Warm-up tick (ignored), then 10 s for 0.016 kimg and 90 s for 0.048 kimg: 100 s / 0.064 kimg.
    rows = [_row(0.004, 99.0), _row(0.020, 10.0), _row(0.068, 90.0)]
    total, lo, hi = bench_train.measured_sec_per_kimg(rows)
    assert total == pytest.approx(1562.5)
    assert (lo, hi) == (pytest.approx(625.0), pytest.approx(1875.0))


@pytest.mark.parametrize(
    ("steps_per_tick", "cycle", "ticks"), [(4, 16, 4), (8, 16, 4), (32, 16, 3), (5, 16, 16)]
)
def test_default_ticks_cover_whole_regularisation_cycles(
    bench_train: ModuleType, steps_per_tick: int, cycle: int, ticks: int
) -> None:
    assert bench_train.default_ticks(steps_per_tick, cycle) == ticks


def test_bench_runs_the_loop_for_exactly_the_measured_ticks(
    bench_train: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = {"z_dim": 16, "w_dim": 16, "map": 2, "cbase": 128, "cmax": 16, "batch": 4, "batch_gpu": 4,
            "mbstd_group": 4, "pl_weight": 2.0, "gamma": 1.0, "aug": "noaug", "precision": "fp32"}
    monkeypatch.setitem(bench_train.CONFIGS, "tiny", {"cfg": "cpu", "resolution": 8, "tick_kimg": 0.008,
                                                      "overrides": tiny})
    runs = []
    loop = bench_train.training_loop

    def spy(config: Any, data: Path, run_dir: Path, **kwargs: Any) -> Any:
        """The real loop; records the images it trained on and its stats.jsonl before they are deleted."""
        result = loop(config, data, run_dir, **kwargs)
        assert config.precision == "bf16"  # --precision reaches the loop
        runs.append((result.cur_nimg, (run_dir / "stats.jsonl").read_text().splitlines()))
        return result

    monkeypatch.setattr(bench_train, "training_loop", spy)
    r = bench_train.bench("tiny", "cpu", matmul=50.0, ticks=2, repeats=1, precision="bf16")

    # A one-step warm-up tick, then 2 ticks of 2 steps of 4 images, and nothing more.
    [(cur_nimg, rows)] = runs
    assert cur_nimg == 4 * (1 + 2 * 2)
    assert [json.loads(row)["Progress/kimg"]["mean"] for row in rows] == pytest.approx([0.004, 0.012, 0.020])
    assert (r["ticks"], r["measured_steps"], r["batch"]) == (2, 4, 4)
    assert (r["precision"], r["compile"]) == ("bf16", "eager")
    lo, hi = r["sec_per_kimg_range"]
    assert 0 < lo <= r["sec_per_kimg"] <= hi
    assert r["gen_img_per_s"] > 0 and r["peak_rss_mib"] > 0
    gflop = r["phase_gflop"]
    assert set(gflop) == {"Gmain", "Greg", "Dmain", "Dreg"} and min(gflop.values()) > 0
    lazy = gflop["Gmain"] + gflop["Greg"] / 4 + gflop["Dmain"] + gflop["Dreg"] / 16
    assert r["step_gflop"] == pytest.approx(lazy)
    sec_per_step = r["sec_per_kimg"] * 4 / 1000
    assert r["train_gflop_per_s"] == pytest.approx(r["step_gflop"] / sec_per_step)
    assert r["train_matmul_share"] == pytest.approx(r["train_gflop_per_s"] / 50.0)
