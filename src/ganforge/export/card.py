"""The model card (README.md) of an exported model folder: what it is, how to load it, how it was trained."""

from __future__ import annotations

import json
from typing import Any

GENERATE = "ganforge generate --seeds 0-7 --outdir out --network "
GENERATE_CLASS = "ganforge generate --seeds 0-7 --class 0 --outdir out --network "
"""The card's command line, without and with a class (the network address follows)."""


def model_card(
    config: dict[str, Any],
    options: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    source: str,
    repo_id: str | None = None,
) -> str:
    """Markdown with the Hub's YAML front matter; `options` and `metrics` are shown when known, and
    the examples load Hub repository `repo_id` (else a placeholder name)."""
    name = repo_id or "user/name"
    family, res, channels = config["family"], config["img_resolution"], config["img_channels"]
    size = f"{config.get('img_width', res)}x{config.get('img_height', res)}"
    classes = f"conditional on {config['c_dim']} classes" if config["c_dim"] else "unconditional"
    lines = [
        "---",
        "library_name: ganforge",
        "tags:",
        "- gan",
        f"- {family}",
        "- image-generation",
        "- unconditional-image-generation" if not config["c_dim"] else "- class-conditional",
        "---",
        "",
        f"# {family} generator, {size}, {channels} channel{'s' if channels != 1 else ''}",
        "",
        f"A {family} network exported by ganforge {config['ganforge_version']} from `{source}` ({classes}).",
        f"Networks in `model.safetensors`: {', '.join(config['networks'])} (tensors prefixed by their key);",
        "their constructor arguments are in `config.json`. Loading runs no code from these files.",
        "",
        "## Use",
        "",
        "```python",
        "from ganforge import from_pretrained",
        f'G = from_pretrained("{name}")  # or a local copy of this folder',
        "img = G(z, c, truncation_psi=0.7, noise_mode='const')  # [N, C, H, W] in [-1, 1]",
        "```",
        "",
        "```",
        (GENERATE_CLASS if config["c_dim"] else GENERATE) + f"hf://{name}",
        "```",
        "",
    ]
    if config.get("label_names"):
        lines += [
            "## Classes",
            "",
            ", ".join(f"{i}: {name}" for i, name in enumerate(config["label_names"])),
            "",
        ]
    if metrics:
        lines += ["## Metrics (last snapshot)", "", "| metric | value |", "| --- | --- |"]
        lines += [
            f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |"
            for name, value in sorted(metrics.items())
        ]
        lines.append("")
    if options:
        lines += [
            "## Training options",
            "",
            "```json",
            json.dumps(options, indent=2, sort_keys=True),
            "```",
            "",
        ]
    return "\n".join(lines)
