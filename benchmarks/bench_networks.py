"""Benchmark the StyleGAN2 networks on the fixed configurations of issue 9 (c32, c64).

Per configuration it prints generator inference images/s (const noise, psi 1), the seconds of
each training phase on one batch (Gmain, Greg, Dmain, Dreg: the real `StyleGAN2Loss` plus an
Adam step), sec/kimg with lazy regularisation ((Gmain + Dmain + Greg/4 + Dreg/16) per batch),
the peak RSS, and the achieved GFLOP/s (torch.utils.flop_counter) of inference and training,
also as a share of the float32 matmul GFLOP/s measured in the same run. Times are medians over
--repeats after a warm-up run.

Each configuration runs in every --precision (fp32: no float16 layers; fp16 / bf16: the top 4
resolutions in float16 / bfloat16 with conv_clamp 256, as `ganforge train --precision`) and every
--compile mode (eager; compiled: torch.compile'd G for inference and G/D for the main phases, the
regularisation phases eager as in training). FLOPs are counted on the eager networks.

    python benchmarks/bench_networks.py --repeats 3 --json out.json
    python benchmarks/bench_networks.py --configs c32 --precision fp32,bf16 --compile eager,compiled
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganforge.inference.runner import pick_device
from ganforge.losses.stylegan2 import StyleGAN2Loss
from ganforge.models.stylegan2 import Discriminator, Generator
from ganforge.ops.precision import PRECISIONS, forward_kwargs

PHASES = ("Gmain", "Greg", "Dmain", "Dreg")
REG_INTERVAL = {"Gmain": 1, "Greg": 4, "Dmain": 1, "Dreg": 16}


@dataclass(frozen=True)
class Config:
    """One benchmarked network pair and its training batch."""

    name: str
    resolution: int
    channel_base: int
    batch: int
    r1_gamma: float


CONFIGS = [Config("c32", 32, 8192, 16, 0.01), Config("c64", 64, 16384, 8, 1.0)]
COMPILE_MODES = ("eager", "compiled")


def build(cfg: Config, device: torch.device, precision: str = "fp32") -> tuple[Generator, Discriminator]:
    """G (skip) and D (resnet, mbstd group 4) of `cfg`: z/w 256, mapping 2, channel_max 256, clamp 256;
    the top 4 resolutions are float16 blocks unless `precision` is fp32 (as in training)."""
    num_fp16_res = 0 if precision == "fp32" else 4
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
            "num_fp16_res": num_fp16_res,
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
        num_fp16_res=num_fp16_res,
        epilogue_kwargs={"mbstd_group_size": 4},
    )
    return G.to(device), D.to(device)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `fn` over `repeats` runs (the caller warms up)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker, whose hooks break autograd.grad w.r.t. leaves (R1)."""

    parents = ("Global",)

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def count_gflop(fn: Callable[[], object]) -> float:
    """GFLOP that `fn` runs, counted by torch.utils.flop_counter (convs, matmuls, their gradients)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()  # totals only; no per-module breakdown needed
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def matmul_gflop_per_s(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n x n matmul: the reference for the achieved shares."""
    a = torch.randn([n, n], device=device)
    b = torch.randn([n, n], device=device)
    torch.mm(a, b)
    return 2 * n**3 / 1e9 / median_seconds(lambda: torch.mm(a, b), repeats, device)


def reset_peak_rss() -> None:
    """Restart the peak-RSS count (Linux: VmHWM via /proc/self/clear_refs); elsewhere a no-op."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mib() -> float:
    """Peak resident set size since the last reset (Linux) or of the whole process, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


class PhaseRunner:
    """Runs one training phase on a fixed batch as the training loop does: loss, backward, Adam step."""

    def __init__(
        self, cfg: Config, G: Generator, D: Discriminator, device: torch.device, precision: str = "fp32",
        compiled: bool = False,
    ) -> None:
        self.G, self.D = G.train().requires_grad_(False), D.train().requires_grad_(False)
        kwargs = {"r1_gamma": cfg.r1_gamma, "pl_weight": 2, "style_mixing_prob": 0.9, "precision": precision}
        self.loss = StyleGAN2Loss(G, D, **kwargs)
        self.main_loss = self.loss  # as the loop: compiled networks in the main phases only
        if compiled:
            self.main_loss = StyleGAN2Loss(G, torch.compile(D), G_mapping=torch.compile(G.mapping),
                                           G_synthesis=torch.compile(G.synthesis), **kwargs)
        adam = {"lr": 0.0025, "betas": (0.0, 0.99), "eps": 1e-8}
        self.opts = {name: torch.optim.Adam(net.parameters(), **adam) for name, net in (("G", G), ("D", D))}
        self.reals = torch.rand([cfg.batch, 3, cfg.resolution, cfg.resolution], device=device) * 2 - 1
        self.z = torch.randn([cfg.batch, G.z_dim], device=device)
        self.c = torch.zeros([cfg.batch, 0], device=device)

    def __call__(self, phase: str) -> None:
        module = self.G if phase.startswith("G") else self.D
        opt = self.opts[phase[0]]
        opt.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        loss = self.main_loss if phase.endswith("main") else self.loss
        loss.accumulate_gradients(phase, self.reals, self.c, self.z, self.c, float(REG_INTERVAL[phase]))
        module.requires_grad_(False)
        opt.step()


def bench_config(
    cfg: Config, device: torch.device, repeats: int, matmul: float, precision: str = "fp32",
    compile_mode: str = "eager",
) -> dict[str, object]:
    """Measured figures of one configuration in one precision and compile mode."""
    torch.manual_seed(0)
    reset_peak_rss()
    G, D = build(cfg, device, precision)
    z = torch.randn([cfg.batch, G.z_dim], device=device)
    c = torch.zeros([cfg.batch, 0], device=device)
    compiled = compile_mode == "compiled"
    forward = forward_kwargs(precision)

    G.eval()
    G_run = torch.compile(G) if compiled else G
    with torch.no_grad():
        def infer(net: torch.nn.Module = G_run) -> torch.Tensor:
            return net(z, c, truncation_psi=1, noise_mode="const", **forward)

        gen_gflop = count_gflop(lambda: infer(G)) / cfg.batch
        infer()  # warm-up (and compilation)
        gen_s = median_seconds(infer, repeats, device)

    counter = PhaseRunner(cfg, G, D, device, precision)
    phase_gflop = {p: count_gflop(lambda p=p: counter(p)) for p in PHASES}  # eager: FLOPs do not change
    run = PhaseRunner(cfg, G, D, device, precision, compiled) if compiled else counter
    for p in PHASES:
        run(p)  # warm-up (and compilation)
    sync(device)
    phase_s = {p: median_seconds(lambda p=p: run(p), repeats, device) for p in PHASES}

    lazy_s = sum(phase_s[p] / REG_INTERVAL[p] for p in PHASES)
    lazy_gflop = sum(phase_gflop[p] / REG_INTERVAL[p] for p in PHASES)
    gen_rate = gen_gflop * cfg.batch / gen_s
    train_rate = lazy_gflop / lazy_s
    return {
        "config": cfg.name,
        "precision": precision,
        "compile": compile_mode,
        "resolution": cfg.resolution,
        "batch": cfg.batch,
        "r1_gamma": cfg.r1_gamma,
        "G_params_M": sum(p.numel() for p in G.parameters()) / 1e6,
        "D_params_M": sum(p.numel() for p in D.parameters()) / 1e6,
        "gen_img_per_s": cfg.batch / gen_s,
        "gen_gflop_per_img": gen_gflop,
        "gen_gflop_per_s": gen_rate,
        "gen_matmul_share": gen_rate / matmul,
        "phase_s": phase_s,
        "phase_gflop": phase_gflop,
        "sec_per_kimg": lazy_s * 1000 / cfg.batch,
        "train_gflop_per_s": train_rate,
        "train_matmul_share": train_rate / matmul,
        "peak_rss_mib": peak_rss_mib(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median reported)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    parser.add_argument("--configs", default=",".join(c.name for c in CONFIGS), help="e.g. c32 or c32,c64")
    parser.add_argument("--precision", default="fp32", help="comma list of fp32, fp16, bf16 [default: fp32]")
    parser.add_argument("--compile", default="eager", help="comma list of eager, compiled [default: eager]")
    parser.add_argument("--batch", type=int, default=None, help="override the configs' batch (short runs)")
    args = parser.parse_args(argv)
    precisions, modes = args.precision.split(","), args.compile.split(",")
    if not set(precisions) <= set(PRECISIONS) - {"auto"} or not set(modes) <= set(COMPILE_MODES):
        parser.error(f"--precision: choose from fp32, fp16, bf16; --compile: from {', '.join(COMPILE_MODES)}")

    device = pick_device(args.device)
    wanted = args.configs.split(",")
    matmul = matmul_gflop_per_s(device)
    env = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeats": args.repeats,
        "date": time.strftime("%Y-%m-%d"),
        "matmul_gflop_per_s": round(matmul, 1),
    }
    print(" ".join(f"{k}={v}" for k, v in env.items()))
    columns = ("G img/s", "G GF/s", "G %mm", *(f"{p} s" for p in PHASES))
    columns += ("s/kimg", "T GF/s", "T %mm", "RSS MiB")
    print(f"{'config':6} {'batch':>5} {'prec':>4} {'compile':>8} " + " ".join(f"{c:>8}" for c in columns))
    results = []
    configs = [dataclasses.replace(c, batch=args.batch or c.batch) for c in CONFIGS if c.name in wanted]
    runs = [(cfg, p, m) for cfg in configs for p in precisions for m in modes]
    for cfg, precision, mode in runs:
        r = bench_config(cfg, device, args.repeats, matmul, precision, mode)
        results.append(r)
        values = (
            f"{r['gen_img_per_s']:8.2f}",
            f"{r['gen_gflop_per_s']:8.1f}",
            f"{100 * r['gen_matmul_share']:7.0f}%",
            *(f"{r['phase_s'][p]:8.3f}" for p in PHASES),
            f"{r['sec_per_kimg']:8.1f}",
            f"{r['train_gflop_per_s']:8.1f}",
            f"{100 * r['train_matmul_share']:7.0f}%",
            f"{r['peak_rss_mib']:8.0f}",
        )
        print(f"{r['config']:6} {r['batch']:>5} {precision:>4} {mode:>8} " + " ".join(values), flush=True)
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"env": env, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
