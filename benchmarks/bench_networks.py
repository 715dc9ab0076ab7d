"""Benchmark the StyleGAN2 networks: generator throughput and one G+D training step with R1.

For two fixed configurations (32x32, batch 16 and 64x64, batch 8) it prints generator images/s
(eval, const noise, psi 1), the time of a training step (G forward, D on fakes and reals, backward,
then an R1 step with double backward), the step's GFLOP (torch.utils.flop_counter), the achieved
GFLOP/s and the process's peak RSS. Times are medians over --repeats after a warm-up run.

    python benchmarks/bench_networks.py --device cpu --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ganforge.models.stylegan2 import Discriminator, Generator
from ganforge.tools.runner import pick_device


@dataclass(frozen=True)
class Config:
    """One benchmarked network pair."""

    name: str
    resolution: int
    channel_base: int
    batch: int


CONFIGS = [Config("c32", 32, 8192, 16), Config("c64", 64, 16384, 8)]


def build(cfg: Config, device: torch.device) -> tuple[Generator, Discriminator]:
    """G (skip) and D (resnet) of `cfg`: z/w 256, 3 channels, channel_max 256, conv_clamp 256."""
    G = Generator(
        z_dim=256,
        c_dim=0,
        w_dim=256,
        img_resolution=cfg.resolution,
        img_channels=3,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={
            "channel_base": cfg.channel_base,
            "channel_max": 256,
            "conv_clamp": 256,
            "architecture": "skip",
        },
    )
    D = Discriminator(
        c_dim=0,
        img_resolution=cfg.resolution,
        img_channels=3,
        architecture="resnet",
        channel_base=cfg.channel_base,
        channel_max=256,
        conv_clamp=256,
        epilogue_kwargs={"mbstd_group_size": 4},
    )
    return G.to(device), D.to(device)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(
    fn: Callable[[], object], repeats: int, device: torch.device, warm_up: bool = True
) -> float:
    """Median wall time of `fn` over `repeats` runs, after one untimed warm-up run if `warm_up`."""
    if warm_up:
        fn()
        sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_step(G: Generator, D: Discriminator, reals: torch.Tensor, r1_gamma: float = 1.0) -> None:
    """One G+D step without optimiser: non-saturating losses, backward, then R1 with double backward."""
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    n = len(reals)
    z = torch.randn([n, G.z_dim], device=reals.device)
    c = torch.zeros([n, 0], device=reals.device)
    fakes = G(z, c)
    loss = F.softplus(D(fakes, c)).mean() + F.softplus(-D(reals, c)).mean()
    loss.backward()
    # Differentiate w.r.t. a non-leaf copy: FlopCounterMode's module hooks refuse leaf inputs to grad().
    reals_r1 = reals.detach().requires_grad_(True).clone()
    (grad,) = torch.autograd.grad(D(reals_r1, c).sum(), reals_r1, create_graph=True)
    penalty = grad.square().sum(dim=[1, 2, 3])
    (penalty.mean() * (r1_gamma / 2)).backward()


def bench_config(cfg: Config, device: torch.device, repeats: int) -> dict[str, float | int | str]:
    """Measured figures of one configuration."""
    torch.manual_seed(0)
    G, D = build(cfg, device)
    z = torch.randn([cfg.batch, G.z_dim], device=device)
    c = torch.zeros([cfg.batch, 0], device=device)
    reals = torch.rand([cfg.batch, 3, cfg.resolution, cfg.resolution], device=device) * 2 - 1

    G.eval()
    with torch.no_grad():
        gen_s = median_seconds(lambda: G(z, c, truncation_psi=1, noise_mode="const"), repeats, device)

    G.train()
    D.train()
    counter = FlopCounterMode(display=False)
    with counter:  # also the warm-up of the timed steps
        train_step(G, D, reals)
    sync(device)
    gflop = counter.get_total_flops() / 1e9
    step_s = median_seconds(lambda: train_step(G, D, reals), repeats, device, warm_up=False)
    return {
        "config": cfg.name,
        "resolution": cfg.resolution,
        "batch": cfg.batch,
        "G_params_M": sum(p.numel() for p in G.parameters()) / 1e6,
        "D_params_M": sum(p.numel() for p in D.parameters()) / 1e6,
        "gen_img_per_s": cfg.batch / gen_s,
        "step_s": step_s,
        "step_gflop": gflop,
        "step_gflop_per_s": gflop / step_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux, B on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median reported)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    parser.add_argument("--configs", default=",".join(c.name for c in CONFIGS), help="e.g. c32 or c32,c64")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    wanted = args.configs.split(",")
    env = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeats": args.repeats,
    }
    print(" ".join(f"{k}={v}" for k, v in env.items()))
    columns = ("G img/s", "step s", "GFLOP", "GFLOP/s", "RSS MiB")
    print(f"{'config':6} {'batch':>5} " + " ".join(f"{c:>9}" for c in columns))
    results = []
    for cfg in CONFIGS:
        if cfg.name not in wanted:
            continue
        r = bench_config(cfg, device, args.repeats)
        results.append(r)
        print(
            f"{r['config']:6} {r['batch']:>5} {r['gen_img_per_s']:>9.2f} {r['step_s']:>9.3f} "
            f"{r['step_gflop']:>9.1f} {r['step_gflop_per_s']:>9.1f} {r['peak_rss_mib']:>9.0f}",
            flush=True,
        )
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"env": env, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
