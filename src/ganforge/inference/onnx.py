"""Run an exported ONNX generator with onnxruntime: seeds and classes in, uint8 images out.

Latents and labels are made exactly as for a PyTorch network (`seed_latents`, `class_labels`), so
a seed names the same image either way. Only onnxruntime and numpy run the graph: no ganforge
network is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ganforge.errors import NetworkFileError, OptionError
from ganforge.inference.runner import class_labels, seed_latents

LATENT, LABELS, PSI, WS, IMAGES = "z", "c", "truncation_psi", "ws", "img"
"""The names of the graphs' inputs and outputs (see `ganforge.export.onnx`)."""


def is_onnx(path: object) -> bool:
    """Whether `path` names an ONNX file (by its extension)."""
    return isinstance(path, str | os.PathLike) and os.fspath(path).lower().endswith(".onnx")


class OnnxGenerator:
    """An exported generator graph in an onnxruntime session, with the sizes the tools need."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise NetworkFileError(
                f"running {path} needs onnxruntime: pip install 'ganforge[onnx]'"
            ) from None
        if not os.path.isfile(path):
            raise NetworkFileError(f"network file {path} does not exist")
        try:
            self.session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise NetworkFileError(
                f"cannot load {path} with onnxruntime: {str(exc).splitlines()[0]}"
            ) from exc
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if LATENT not in inputs or outputs != [IMAGES]:
            raise NetworkFileError(
                f"{path} is not a ganforge generator graph ({', '.join(inputs)} -> {', '.join(outputs)}); "
                "export one with `ganforge export NETWORK OUT.onnx --format onnx`"
            )
        self.z_dim = int(inputs[LATENT][1])
        self.c_dim = int(inputs[LABELS][1]) if LABELS in inputs else 0
        self.has_psi = PSI in inputs

    def run(self, z: np.ndarray, c: np.ndarray, truncation_psi: float = 1.0) -> np.ndarray:
        """Images [N, C, H, W] float32 in about [-1, 1] for latents z [N, z_dim] and labels c [N, c_dim]."""
        feed = {LATENT: z.astype(np.float32)}
        if self.c_dim:
            feed[LABELS] = c.astype(np.float32)
        if self.has_psi:
            feed[PSI] = np.array(truncation_psi, dtype=np.float32)
        elif truncation_psi != 1:
            raise OptionError(
                f"{truncation_psi}: this generator has no truncation trick (no average latent to "
                "truncate toward); use truncation_psi=1"
            )
        return self.session.run([IMAGES], feed)[0]

    def generate(
        self,
        seeds: Sequence[int],
        class_idx: int | None = None,
        truncation_psi: float = 1.0,
        batch_size: int = 16,
    ) -> np.ndarray:
        """uint8 images [N, H, W, C] for `seeds`, mapped to pixels as `ganforge.inference.runner.to_uint8`."""
        z = seed_latents(seeds, self.z_dim).numpy()
        c = class_labels(self.c_dim, class_idx, len(z)).numpy()
        batches = [
            self.run(z[i : i + batch_size], c[i : i + batch_size], truncation_psi)
            for i in range(0, len(z), batch_size)
        ]
        img = np.concatenate(batches).transpose(0, 2, 3, 1)
        return np.clip(img * np.float32(127.5) + np.float32(128), 0, 255).astype(np.uint8)
