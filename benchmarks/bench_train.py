"""Benchmark StyleGAN2-ADA training: sec/kimg and peak memory of the real training loop.

Runs `ganforge.training.loop.training_loop` on a synthetic dataset (random RGB images written to a
temporary zip) for a fixed number of ticks and reports the median sec/kimg of the ticks after the
first (the first includes start-up), read from the run's own stats.jsonl, plus the process's peak
RSS and, on CUDA, peak GPU memory. Configurations: the `cpu` preset at 32x32 and `paper256`-like
channels (cbase 16384, cmax 512) at 256x256 with a small batch.

    python benchmarks/bench_train.py --device cpu --json train.json
    python benchmarks/bench_train.py --device cuda --configs paper256
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import platform
import resource
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.presets import resolve_config

CONFIGS: dict[str, dict] = {
    "cpu32": {"cfg": "cpu", "resolution": 32, "overrides": {}},
    "paper256": {"cfg": "paper256", "resolution": 256, "overrides": {"batch": 4, "batch_gpu": 4,
                                                                        "mbstd_group": 4}},
}


def write_dataset(path: Path, resolution: int, count: int = 256) -> None:
    """A zip of `count` random RGB images in the StyleGAN2-ADA layout."""
    rnd = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(count):
            buf = io.BytesIO()
            PIL.Image.fromarray((rnd.rand(resolution, resolution, 3) * 255).astype(np.uint8)).save(buf, "PNG")
            zf.writestr(f"{i // 1000:05d}/img{i:08d}.png", buf.getvalue())


def bench(name: str, device: str, ticks: int, tick_kimg: float) -> dict:
    """Train `ticks` + 1 ticks of `tick_kimg` each; sec/kimg from the ticks after the first."""
    spec = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.zip"
        write_dataset(data, spec["resolution"])
        config = resolve_config(spec["cfg"], spec["resolution"], 1, dict(spec["overrides"]))
        config = dataclasses.replace(
            config, kimg=tick_kimg * (ticks + 1), kimg_per_tick=tick_kimg, snap=10_000, workers=1
        )
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        training_loop(config, data, run_dir, options=LoopOptions(device=device, progress=False, grid=(2, 2)))
        rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    sec_per_kimg = [row["Timing/sec_per_kimg"]["mean"] for row in rows[1:]]
    result = {
        "config": name,
        "batch": config.batch,
        "sec_per_kimg": statistics.median(sec_per_kimg),
        "sec_per_kimg_range": [min(sec_per_kimg), max(sec_per_kimg)],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device.startswith("cuda"):
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--configs", default=None, help="comma list of " + ", ".join(CONFIGS) +
                        " [default: cpu32 on CPU, both on CUDA]")
    parser.add_argument("--ticks", type=int, default=3, help="measured ticks after the first")
    parser.add_argument("--tick-kimg", type=float, default=0.128, help="kimg per tick")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    default = ["cpu32"] if args.device == "cpu" else list(CONFIGS)
    names = args.configs.split(",") if args.configs else default
    header = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "python": platform.python_version(), "machine": platform.machine()}
    print(" ".join(f"{k}={v}" for k, v in header.items()))
    print(f"{'config':<10}{'batch':>6}{'sec/kimg':>10}{'range':>18}{'RSS MiB':>10}")
    results = []
    for name in names:
        r = bench(name, args.device, args.ticks, args.tick_kimg)
        results.append(r)
        lo, hi = r["sec_per_kimg_range"]
        print(f"{name:<10}{r['batch']:>6}{r['sec_per_kimg']:>10.1f}{f'{lo:.1f}-{hi:.1f}':>18}"
              f"{r['peak_rss_mib']:>10.0f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
