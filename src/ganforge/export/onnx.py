"""Export a generator as ONNX: one graph z, c, truncation_psi -> images, or its mapping and synthesis.

The graphs use constant noise (the stored buffers), a dynamic batch and opset `OPSET`. They are
made by torch's dynamo exporter (`torch.onnx.export(dynamo=True)`): the TorchScript exporter
cannot export the modulated convolutions, whose per-sample weights make a grouped convolution
with a kernel of unknown shape. The exporter's graph optimiser is left off: it drops the 1e-8 that
StyleGAN's instance norm adds before its square root (a NaN on constant feature maps), and
onnxruntime optimises the graph itself when it loads it. `ganforge.inference.onnx` runs the graphs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from ganforge import __version__
from ganforge.compat import registry
from ganforge.errors import OptionError
from ganforge.export.output import export_file, export_folder
from ganforge.inference.onnx import IMAGES, LABELS, LATENT, PSI, WS
from ganforge.ops.latents import truncate

OPSET = 18
PARTS = ("mapping", "synthesis")
QUIET_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


class FullGenerator(nn.Module):
    """G(z, c) with truncation towards the tracked mean by a tensor psi and constant noise."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, psi: torch.Tensor | None) -> torch.Tensor:
        if not hasattr(self.G, "mapping"):
            return self.G(z, c)
        ws = truncate(self.G.mapping(z, c), self.G.mapping.w_avg, psi, None)
        return self.G.synthesis(ws, noise_mode="const", force_fp32=True)


class MappingPart(nn.Module):
    """G.mapping(z, c) with truncation by a tensor psi: ws [N, num_ws, w_dim]."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.mapping = G.mapping

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, psi: torch.Tensor) -> torch.Tensor:
        return truncate(self.mapping(z, c), self.mapping.w_avg, psi, None)


class SynthesisPart(nn.Module):
    """G.synthesis(ws) with constant noise, in float32."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.synthesis = G.synthesis

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.synthesis(ws, noise_mode="const", force_fp32=True)


def export_onnx(
    G: nn.Module, out: str | os.PathLike[str], parts: Sequence[str] | None = None, force: bool = False
) -> list[Path]:
    """Write generator `G` as ONNX file `out`, or with `parts` ('mapping', 'synthesis') as folder
    `out` holding mapping.onnx and synthesis.onnx; return the files written."""
    G = G.eval().requires_grad_(False).float()
    if not parts:
        with export_file(out, force) as tmp:
            _export(FullGenerator(G), G, tmp, outputs=[IMAGES], with_psi=hasattr(G, "mapping"))
        return [Path(out)]
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise OptionError(f"unknown part {unknown[0]!r}; parts are {', '.join(PARTS)}")
    if not hasattr(G, "mapping"):
        raise OptionError("a DCGAN generator has no mapping and synthesis networks to export apart")
    with export_folder(out, force) as tmp:
        if "mapping" in parts:
            _export(MappingPart(G), G, tmp / "mapping.onnx", outputs=[WS], with_psi=True)
        if "synthesis" in parts:
            ws = torch.zeros([2, G.num_ws, G.w_dim])
            _onnx_export(
                SynthesisPart(G), (ws,), tmp / "synthesis.onnx", [WS], [IMAGES], {"ws": {0: _batch()}}, G
            )
    return [Path(out) / f"{part}.onnx" for part in PARTS if part in parts]


def _batch() -> torch.export.Dim:
    return torch.export.Dim("batch", min=1, max=1 << 16)


def _export(module: nn.Module, G: nn.Module, path: Path, outputs: list[str], with_psi: bool) -> None:
    """Export a module taking (z, c, psi): c only for a conditional G, psi only `with_psi`."""
    batch = _batch()
    z = torch.zeros([2, G.z_dim])
    c = torch.zeros([2, G.c_dim]) if G.c_dim else None
    psi = torch.tensor(1.0) if with_psi else None
    inputs = [name for name, arg in ((LATENT, z), (LABELS, c), (PSI, psi)) if arg is not None]
    shapes = {"z": {0: batch}, "c": {0: batch} if c is not None else None, "psi": None}
    _onnx_export(module, (z, c, psi), path, inputs, outputs, shapes, G)


def _onnx_export(
    module: nn.Module,
    args: tuple,
    path: Path,
    inputs: list[str],
    outputs: list[str],
    shapes: dict,
    G: nn.Module,
) -> None:
    """torch.onnx.export with ganforge's metadata (family, version) in the model's properties."""
    try:
        with _quiet():
            program = torch.onnx.export(
                module.eval(),
                args,
                dynamic_shapes=shapes,
                input_names=inputs,
                output_names=outputs,
                opset_version=OPSET,
                dynamo=True,
                optimize=False,
                verbose=False,
            )
    except ImportError as exc:
        raise OptionError(
            f"ONNX export needs onnx and onnxscript: pip install 'ganforge[onnx]' ({exc})"
        ) from exc
    family = registry.name_of(G).split(".")[0]
    program.model.metadata_props.update({"ganforge_version": __version__, "family": family})
    program.save(str(path))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and optimiser's progress logs (hundreds of lines per graph) and warnings."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
