"""benchmarks/device_check.py at its CPU sizes: parity, a short `ganforge train` stopped by Ctrl-C,
and the speed table all run and report (the GPU run is the same code at paper256 sizes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "device_check.py"


@pytest.mark.slow  # parity, a 4-second training run, two timings: 14 s, ~3 min on 2 busy cores
def test_device_check_runs_on_the_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as `python benchmarks/device_check.py` has it
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module
    spec.loader.exec_module(module)

    out = tmp_path / "check.json"
    code = module.main(["--device", "cpu", "--precision", "fp32,bf16", "--compile", "eager",
                        "--json", str(out)])
    report = json.loads(out.read_text())
    assert code == 0, report
    checked = [row for row in report["parity"] if "skipped" not in row]
    assert {row["name"] for row in checked} >= {"g16_orig_gray_cond", "g32_skip_rgb", "g64_resnet_rgb"}
    assert all(row["ok"] for row in checked)
    train = report["train"]
    assert train["ok"] and train["ticks"] >= 1 and train["snapshots"] >= 1  # Ctrl-C wrote its snapshot
    speed = {(r["precision"], r["compile"], r["batch"]): r for r in report["speed"]}
    assert set(speed) == {("fp32", "eager", 4), ("bf16", "eager", 4)}
    assert all(r["gen_img_per_s"] > 0 and r["sec_per_kimg"] > 0 and r["peak_mib"] > 0 for r in speed.values())
    printed = capsys.readouterr().out
    assert "g32_skip_rgb" in printed and "sec/kimg" in printed and "train: exit 0" in printed
