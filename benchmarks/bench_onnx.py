"""Generator images per second: a network file in PyTorch against its ONNX export in onnxruntime.

Both run the same latents (batch --batch, truncation 0.7, constant noise) on the CPU with --threads
threads; the best of --repeats timed runs after one warm-up is printed. Example, on the README's
digits model:

    ganforge export digits.pt digits.onnx --format onnx
    python benchmarks/bench_onnx.py digits.pt digits.onnx --batch 16 --threads 1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import onnxruntime
import torch

from ganforge.compat import load_network


def best_time(run: Callable[[], object], repeats: int) -> float:
    """The shortest of `repeats` timed calls of `run`, after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", help="a network file --network takes")
    parser.add_argument("onnx", help="its export: ganforge export NETWORK OUT.onnx --format onnx")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    G = load_network(args.network)["G_ema"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
    z = np.random.RandomState(0).randn(args.batch, G.z_dim).astype(np.float32)
    c = np.eye(G.c_dim, dtype=np.float32)[np.arange(args.batch) % G.c_dim] if G.c_dim else None
    feed = {"z": z, "truncation_psi": np.array(0.7, np.float32), **({"c": c} if G.c_dim else {})}
    with torch.no_grad():
        zt, ct = torch.from_numpy(z), None if c is None else torch.from_numpy(c)
        torch_s = best_time(lambda: G(zt, ct, truncation_psi=0.7, noise_mode="const"), args.repeats)
    onnx_s = best_time(lambda: session.run(["img"], feed), args.repeats)
    print(f"batch {args.batch}, {args.threads} thread(s), best of {args.repeats}: "
          f"PyTorch {args.batch / torch_s:.0f} img/s, onnxruntime {args.batch / onnx_s:.0f} img/s")


if __name__ == "__main__":
    main()
