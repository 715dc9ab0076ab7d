"""Short CPU training runs of each model family on the bundled digits: fid_digits before and after.

Each family trains its `cpu` preset on `demo:digits` (32 x 32, written to a temporary folder) for
--kimg thousand images through `ganforge.training.loop.training_loop`, with one snapshot after the
first step ("before") and one at the end ("after"); fid_digits (and class_acc for the conditional
runs, `-cond`) of both snapshots' G_ema are printed. Example:

    python benchmarks/bench_families.py --families dcgan-cond,stylegan-cond,stylegan2-cond --kimg 12
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from ganforge.compat import load_network
from ganforge.data.create import create_dataset
from ganforge.metrics.compute import compute_metrics
from ganforge.training.config import resolve_config
from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.rundir import new_run_dir, snapshot_name

FAMILIES = {
    "dcgan": ("dcgan", False),
    "dcgan-cond": ("dcgan", True),
    "stylegan": ("stylegan", False),
    "stylegan-cond": ("stylegan", True),
    "stylegan2": ("stylegan2", False),
    "stylegan2-cond": ("stylegan2", True),
    "r3gan": ("r3gan", False),
    "r3gan-cond": ("r3gan", True),
}


def run_family(
    name: str, data: Path, outdir: Path, kimg: float, num_gen: int, d_reg_interval: int | None = None
) -> dict[str, float]:
    """Train family `name` for `kimg` on `data`; its metrics after the first step and at the end."""
    model, cond = FAMILIES[name]
    overrides: dict[str, object] = {"model": model, "cond": cond}
    if d_reg_interval is not None:
        overrides["D_reg_interval"] = d_reg_interval
    config = resolve_config("cpu", 32, 1, overrides)
    config = dataclasses.replace(config, kimg=kimg, kimg_per_tick=kimg, snap=1, workers=0)
    run_dir = new_run_dir(outdir, name)
    start = time.time()
    training_loop(config, data, run_dir, options=LoopOptions(device="cpu", grid=(8, 8), progress=False))
    seconds = time.time() - start
    metrics = ["fid_digits"] + (["class_acc"] if cond else [])
    results: dict[str, float] = {"train_sec": seconds}
    for when, nimg in (("before", config.batch), ("after", round(kimg * 1000))):
        G = load_network(run_dir / snapshot_name(nimg))["G_ema"]
        for result in compute_metrics(metrics, G, data, num_gen=num_gen, progress=False):
            results.update({f"{key}_{when}": value for key, value in result["results"].items()})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="dcgan,dcgan-cond,stylegan",
                        help="comma-separated: " + ",".join(FAMILIES))
    parser.add_argument("--kimg", type=float, default=4.0, help="training length per family")
    parser.add_argument("--num-gen", type=int, default=2000, help="generated images per metric")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--d-reg-interval", type=int, default=None,
                        help="D's lazy regularisation interval (stylegan2, r3gan); default: the preset's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits.zip"
        create_dataset("demo:digits", data)
        for name in args.families.split(","):
            results = run_family(name, data, Path(tmp) / "runs", args.kimg, args.num_gen, args.d_reg_interval)
            figures = "  ".join(f"{key} {value:.3f}" for key, value in results.items())
            print(f"{name:<11} kimg {args.kimg:g}  {figures}", flush=True)


if __name__ == "__main__":
    main()
