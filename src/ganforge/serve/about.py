"""The About tab of `ganforge serve`: what a network is and what its file and run folder record."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ganforge.compat.registry import name_of
from ganforge.metrics.compute import default_run_dir, metric_file
from ganforge.training.resume import OPTIONS_FILE

FAMILIES = {"stylegan2": "StyleGAN2 (StyleGAN2-ADA)", "stylegan": "StyleGAN (2019)", "dcgan": "DCGAN"}
"""Display names of the model families, by the first part of their registry names."""


def family_name(G: torch.nn.Module) -> str:
    """The model family of a generator, e.g. 'StyleGAN2 (StyleGAN2-ADA)'."""
    try:
        family = name_of(G).split(".")[0]
    except ValueError:
        return type(G).__name__
    return FAMILIES.get(family, family)


def shown_name(network_path: str | os.PathLike[str]) -> str:
    """How the page names the network: a URL or `hf://` id as given, a file by its name only (the page
    need not tell visitors where files live on the server)."""
    text = os.fspath(network_path)
    return text if "://" in text else Path(text).name


def parameter_count(module: torch.nn.Module) -> int:
    """The number of parameters (not buffers) of `module`."""
    return sum(p.numel() for p in module.parameters())


def run_records(network_path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, dict[str, float]]:
    """The training options and this snapshot's metric results recorded in its run folder, if it is in one."""
    run_dir = default_run_dir(network_path)
    if run_dir is None:
        return None, {}
    try:
        options = json.loads((run_dir / OPTIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        options = None
    metrics: dict[str, float] = {}
    for path in sorted(run_dir.glob(metric_file(".", "*").name)):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("snapshot_pkl") == Path(network_path).name:
                metrics.update(record.get("results", {}))
    return options, metrics


def describe(
    network_path: str | os.PathLike[str], G: torch.nn.Module, parameter_counts: dict[str, int],
    records: dict[str, Any],
) -> str:
    """Markdown for the About tab: family, shapes, parameters of each network in the file, the file's
    other `records`, and the training options and metrics of its run folder."""
    rows = [
        ("Network", f"`{shown_name(network_path)}`"),
        ("Family", family_name(G)),
        ("Resolution", f"{G.img_resolution} x {G.img_resolution}, {G.img_channels} channel(s)"),
        ("Latent z", str(G.z_dim)),
        ("Classes", str(G.c_dim) if G.c_dim else "unconditional"),
    ]
    if hasattr(G, "mapping"):
        rows.append(("W", f"{G.w_dim} wide, {G.num_ws} style layers"))
    rows += [(f"Parameters of {key}", f"{count:,}") for key, count in parameter_counts.items() if count]
    lines = [f"- **{name}**: {value}" for name, value in rows]
    options, metrics = run_records(network_path)
    if metrics:
        lines += ["", "### Metrics of this snapshot", "", "| Metric | Value |", "|---|---|"]
        lines += [f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |"
                  for name, value in sorted(metrics.items())]
    for title, data in (("Recorded in the file", records), (f"Training options ({OPTIONS_FILE})", options)):
        if data:
            lines += ["", f"### {title}", "", "```json", json.dumps(data, indent=2, default=str), "```"]
    return "\n".join(lines)
