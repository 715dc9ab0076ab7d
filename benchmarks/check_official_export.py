"""Load ganforge's `--format official` export with the official StyleGAN2-ADA-PyTorch code and compare.

    python benchmarks/check_official_export.py NETWORK --official-dir PATH/TO/stylegan2-ada-pytorch

Exports NETWORK (any file `--network` takes, with G, D and G_ema) to an official pickle, loads it in
a separate process with the official checkout's own `legacy.load_network_pkl` (the official code
needs `requests` importable), runs its G_ema and D on four latents, and prints the largest
difference from ganforge's outputs on the same inputs. No official code is part of ganforge: the
checkout is the user's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ganforge.compat import load_network
from ganforge.export import export_network

OFFICIAL_RUN = """
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
import legacy
with open(sys.argv[2], "rb") as f:
    nets = legacy.load_network_pkl(f)
G, D = nets["G_ema"], nets["D"]
inputs = np.load(sys.argv[3])
z, c = torch.from_numpy(inputs["z"]), torch.from_numpy(inputs["c"])
with torch.no_grad():
    img = G(z, c, truncation_psi=0.7, noise_mode="const")
    logits = D(img, c)
np.savez(sys.argv[4], img=img.numpy(), logits=logits.numpy(), cls=type(G).__module__)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("network")
    parser.add_argument("--official-dir", required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    args = parser.parse_args()
    nets = load_network(args.network)
    G, D = nets["G_ema"], nets["D"]
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(0))
    c = torch.zeros(4, G.c_dim)
    if G.c_dim:
        c[torch.arange(4), torch.arange(4) % G.c_dim] = 1
    with torch.no_grad():
        img = G(z, c, truncation_psi=0.7, noise_mode="const")
        logits = D(img, c)
    with tempfile.TemporaryDirectory() as tmp:
        pkl, inputs, outputs = Path(tmp, "official.pkl"), Path(tmp, "in.npz"), Path(tmp, "out.npz")
        export_network(args.network, pkl, format="official")
        np.savez(inputs, z=z.numpy(), c=c.numpy())
        subprocess.run([sys.executable, "-c", OFFICIAL_RUN, args.official_dir, str(pkl), str(inputs),
                        str(outputs)], check=True)
        official = np.load(outputs)
        print(f"{args.network}: the official code loaded the export; "
              f"max |image diff| {np.abs(official['img'] - img.numpy()).max():.2e}, "
              f"max |D logit diff| {np.abs(official['logits'] - logits.numpy()).max():.2e}")


if __name__ == "__main__":
    main()
