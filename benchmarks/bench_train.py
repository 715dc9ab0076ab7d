"""Benchmark StyleGAN2-ADA training: sec/kimg, peak memory and GFLOP/s of the real training loop.

Runs `ganforge.training.loop.training_loop` on a synthetic dataset (random RGB images written to a
temporary zip) for a warm-up tick of one step plus `--ticks` measured ticks, and reports sec/kimg
as the measured ticks' total seconds over their total kimg, read from the run's own stats.jsonl.
The loop's real ticks include data loading, Adam, G_ema and lazy regularisation (Greg every 4th,
Dreg every 16th step); by default the measured steps cover whole regularisation cycles, so the
figure is the lazy average. Per configuration it also prints:

- G img/s: generator inference at the training batch, noise const, psi 1 (median of --repeats);
- step GFLOP: one average training step, each loss phase counted once by torch.utils.flop_counter
  and divided by its interval (augmentation and the Adam/EMA updates are not counted); GF/s is
  that over the measured seconds per step, %mm its share of the float32 matmul GFLOP/s measured
  at the start of the same run;
- RSS MiB: the peak resident memory of this process during the training loop (data loader
  workers are separate processes and not included); on CUDA also the loop's peak GPU memory.

Seconds per loss phase on isolated batches (Gmain, Greg, Dmain, Dreg) are measured by
bench_networks.py, whose FLOP counter and matmul reference this script reuses.

Configurations: `cpu32` (the `cpu` preset at 32x32), `paper256` (paper256 channels at 256x256,
batch 4), and issue 9's `c32` and `c64`: z/w 256, mapping 2, channel_max 256, `skip` G, `resnet` D,
mbstd group 4, pl_weight 2, style mixing 0.9, no augmentation, float32, from the `stylegan2`
preset (so lr 0.002 and G_ema half-life 10 kimg, which do not change the speed); c32 = 32x32,
channel_base 8192, batch 16, gamma 0.01; c64 = 64x64, channel_base 16384, batch 8, gamma 1.
Issue 9 asks for conv_clamp 256, which `build_networks` applies only in mixed precision. It changes
no number here: in float32 these networks' activations stay below 7% of the clamp bound (a step of
every phase gives bit-identical weights with and without it), so the loop's float32 networks are
measured as they are, without the clamp ops, which cost about 3% of a c32 step's CPU time.

    python benchmarks/bench_train.py --device cpu --json train.json      # cpu32, c32, c64
    python benchmarks/bench_train.py --device cpu --configs c64 --ticks 8
    python benchmarks/bench_train.py --device cuda                       # all four configurations

The default CPU run should take about 7 minutes on two idle cores (estimated from bench_networks'
figures); it took 25 minutes while other jobs shared them.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import io
import json
import math
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import PIL.Image
import torch

from ganforge.fileio import atomic_open
from ganforge.training.config import TrainingConfig, resolve_config
from ganforge.training.families import make_family
from ganforge.training.loop import LoopOptions, training_loop


def _sibling(name: str) -> ModuleType:
    """Import benchmarks/<name>.py: benchmarks/ is a folder of scripts, not a package."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


bench_networks = _sibling("bench_networks")

_ISSUE9 = {"z_dim": 256, "w_dim": 256, "map": 2, "cmax": 256, "mbstd_group": 4, "pl_weight": 2.0,
           "style_mixing": 0.9, "aug": "noaug", "d_architecture": "resnet", "fp32": True}

# tick_kimg: the default size of a measured tick (at least one batch); the default number of ticks
# is the fewest, at least 3, whose steps cover whole lazy regularisation cycles.
CONFIGS: dict[str, dict] = {
    "cpu32": {"cfg": "cpu", "resolution": 32, "tick_kimg": 0.128, "overrides": {}},
    "c32": {"cfg": "stylegan2", "resolution": 32, "tick_kimg": 0.064,
            "overrides": {**_ISSUE9, "cbase": 8192, "batch": 16, "batch_gpu": 16, "gamma": 0.01}},
    "c64": {"cfg": "stylegan2", "resolution": 64, "tick_kimg": 0.032,
            "overrides": {**_ISSUE9, "cbase": 16384, "batch": 8, "batch_gpu": 8, "gamma": 1.0}},
    "paper256": {"cfg": "paper256", "resolution": 256, "tick_kimg": 0.128,
                 "overrides": {"batch": 4, "batch_gpu": 4, "mbstd_group": 4}},
}


def write_dataset(path: Path, resolution: int, count: int = 256) -> None:
    """A zip of `count` random RGB images in the StyleGAN2-ADA layout."""
    rnd = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(count):
            buf = io.BytesIO()
            PIL.Image.fromarray((rnd.rand(resolution, resolution, 3) * 255).astype(np.uint8)).save(buf, "PNG")
            zf.writestr(f"{i // 1000:05d}/img{i:08d}.png", buf.getvalue())


def measured_sec_per_kimg(rows: list[dict]) -> tuple[float, float, float]:
    """Seconds over kimg of the ticks after the first (stats.jsonl rows, in total), and the per-tick range."""
    kimg = [row["Progress/kimg"]["mean"] for row in rows]
    ticks = [(row["Timing/sec_per_tick"]["mean"], kimg[i + 1] - kimg[i]) for i, row in enumerate(rows[1:])]
    per_tick = [sec / tick_kimg for sec, tick_kimg in ticks]
    return sum(sec for sec, _ in ticks) / sum(k for _, k in ticks), min(per_tick), max(per_tick)


def default_ticks(steps_per_tick: int, cycle: int, minimum: int = 3) -> int:
    """The fewest ticks, at least `minimum`, whose steps are a whole number of `cycle`s."""
    ticks = minimum
    while ticks * steps_per_tick % cycle:
        ticks += 1
    return ticks


def count_step_gflop(config: TrainingConfig, resolution: int, device: torch.device) -> dict[str, float]:
    """GFLOP of each loss phase of the loop's family on one batch, and of one average (lazy) step."""
    family = make_family(config, resolution)
    G, D = (net.train().requires_grad_(False).to(device) for net in family.build_networks(3, 0))
    loss = family.make_loss(G, D, None)
    reals = torch.rand([config.batch, 3, resolution, resolution], device=device) * 2 - 1
    z = torch.randn([config.batch, config.z_dim], device=device)
    c = torch.zeros([config.batch, 0], device=device)
    counts = {}
    for phase in family.phases():
        module = G if phase.network == "G" else D
        module.requires_grad_(True)
        counts[phase.name] = bench_networks.count_gflop(
            lambda phase=phase: loss.accumulate_gradients(phase.name, reals, c, z, c, float(phase.interval))
        )
        module.requires_grad_(False)
    counts["step"] = sum(counts[phase.name] / phase.interval for phase in family.phases())
    return counts


def gen_img_per_s(config: TrainingConfig, resolution: int, device: torch.device, repeats: int) -> float:
    """Generator inference images/s at the training batch: noise const, psi 1, median of `repeats`."""
    G = make_family(config, resolution).build_networks(3, 0)[0].eval().to(device)
    z = torch.randn([config.batch, config.z_dim], device=device)
    c = torch.zeros([config.batch, 0], device=device)
    with torch.no_grad():
        def infer() -> torch.Tensor:
            return G(z, c, truncation_psi=1, noise_mode="const")

        infer()
        return config.batch / bench_networks.median_seconds(infer, repeats, device)


def bench(name: str, device: str, matmul: float, ticks: int | None = None, tick_kimg: float | None = None,
          repeats: int = 3) -> dict:
    """Train a one-step warm-up tick plus `ticks` measured ticks of config `name`; its figures.

    `matmul` is the float32 matmul GFLOP/s of this machine, the reference for the GFLOP/s share.
    """
    spec = CONFIGS[name]
    resolution = spec["resolution"]
    dev = torch.device(device)
    config = resolve_config(spec["cfg"], resolution, 1, dict(spec["overrides"]))
    family = make_family(config, resolution)
    cycle = math.lcm(*(phase.interval for phase in family.phases()))
    steps_per_tick = max(math.ceil((tick_kimg or spec["tick_kimg"]) * 1000 / config.batch), 1)
    if ticks is None:
        ticks = default_ticks(steps_per_tick, cycle)
    if ticks * steps_per_tick % cycle:
        print(f"note: {name}: {ticks * steps_per_tick} measured steps are not whole lazy regularisation "
              f"cycles of {cycle} steps; sec/kimg is not the lazy average", file=sys.stderr)
    config = dataclasses.replace(
        config, kimg=config.batch * (1 + ticks * steps_per_tick) / 1000,
        kimg_per_tick=steps_per_tick * config.batch / 1000, snap=10_000, workers=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.zip"
        write_dataset(data, resolution)
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        bench_networks.reset_peak_rss()
        training_loop(config, data, run_dir, options=LoopOptions(device=device, progress=False, grid=(2, 2)))
        rss = bench_networks.peak_rss_mib()
        rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    sec_per_kimg, lo, hi = measured_sec_per_kimg(rows)
    gflop = count_step_gflop(config, resolution, dev)
    train_rate = gflop["step"] / (sec_per_kimg * config.batch / 1000)
    result = {
        "config": name,
        "resolution": resolution,
        "batch": config.batch,
        "measured_steps": ticks * steps_per_tick,
        "ticks": ticks,
        "sec_per_kimg": sec_per_kimg,
        "sec_per_kimg_range": [lo, hi],
        "gen_img_per_s": gen_img_per_s(config, resolution, dev, repeats),
        "phase_gflop": {phase: v for phase, v in gflop.items() if phase != "step"},
        "step_gflop": gflop["step"],
        "train_gflop_per_s": train_rate,
        "train_matmul_share": train_rate / matmul,
        "peak_rss_mib": rss,
    }
    if dev.type == "cuda":
        result["peak_gpu_mib"] = max(row["Resources/peak_gpu_mem_gb"]["mean"] for row in rows) * 1024
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--configs", default=None, help="comma list of " + ", ".join(CONFIGS) +
                        " [default: cpu32,c32,c64 on CPU, all on CUDA]")
    parser.add_argument("--ticks", type=int, default=None,
                        help="measured ticks after the first [default: whole lazy regularisation cycles]")
    parser.add_argument("--tick-kimg", type=float, default=None,
                        help="kimg per measured tick [default: per config, "
                             + ", ".join(f"{k} {v['tick_kimg']:g}" for k, v in CONFIGS.items()) + "]")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of G inference (median reported)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    default = ["cpu32", "c32", "c64"] if args.device == "cpu" else list(CONFIGS)
    names = args.configs.split(",") if args.configs else default
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    matmul = bench_networks.matmul_gflop_per_s(torch.device(args.device))
    header = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "python": platform.python_version(), "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d"), "matmul_gflop_per_s": round(matmul, 1)}
    print(" ".join(f"{k}={v}" for k, v in header.items()))
    print(f"{'config':<9}{'batch':>6}{'steps':>6}{'G img/s':>9}{'sec/kimg':>10}{'tick range':>14}"
          f"{'step GF':>9}{'GF/s':>7}{'%mm':>6}{'RSS MiB':>9}")
    results = []
    for name in names:
        r = bench(name, args.device, matmul, args.ticks, args.tick_kimg, args.repeats)
        results.append(r)
        lo, hi = r["sec_per_kimg_range"]
        share = 100 * r["train_matmul_share"]
        print(f"{name:<9}{r['batch']:>6}{r['measured_steps']:>6}{r['gen_img_per_s']:>9.2f}"
              f"{r['sec_per_kimg']:>10.1f}{f'{lo:.1f}-{hi:.1f}':>14}{r['step_gflop']:>9.1f}"
              f"{r['train_gflop_per_s']:>7.1f}{share:>5.0f}%{r['peak_rss_mib']:>9.0f}", flush=True)
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump({"header": header, "results": results}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
