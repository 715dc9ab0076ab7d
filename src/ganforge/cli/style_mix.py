"""`ganforge style-mix`: a grid of row seeds taking chosen style layers from column seeds."""

from __future__ import annotations

import click

from ganforge.cli.generate import INT_LIST
from ganforge.tools.runner import DEVICE_NAMES, NOISE_MODES
from ganforge.tools.style_mix import style_mix_grid


@click.command("style-mix")
@click.option("--network", "network_path", required=True, metavar="PATH",
              help="Network file: an official StyleGAN2-ADA pickle or a ganforge checkpoint.")
@click.option("--rows", "row_seeds", type=INT_LIST, required=True,
              help="Seeds of the grid rows, e.g. '85,100'.")
@click.option("--cols", "col_seeds", type=INT_LIST, required=True,
              help="Seeds of the grid columns, e.g. '55,821'.")
@click.option("--styles", "col_styles", type=INT_LIST, default="0-6", show_default=True,
              help="Style layers (ws indices) taken from the column seeds.")
@click.option("--trunc", "truncation_psi", type=float, default=1.0, show_default=True,
              help="Truncation psi (1 = none).")
@click.option("--class", "class_idx", type=int, default=None,
              help="Class label for a conditional network (required there).")
@click.option("--noise-mode", type=click.Choice(NOISE_MODES), default="const", show_default=True,
              help="Per-pixel noise: the stored constant, fresh random, or none.")
@click.option("--outdir", type=click.Path(file_okay=False), required=True, metavar="DIR",
              help="Where to write the images and grid.png.")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Images per forward pass.")
@click.option("--device", type=click.Choice(DEVICE_NAMES), default=None,
              help="Device to run on  [default: cuda, else mps, else cpu].")
def style_mix_command(
    network_path: str,
    row_seeds: list[int],
    col_seeds: list[int],
    col_styles: list[int],
    truncation_psi: float,
    class_idx: int | None,
    noise_mode: str,
    outdir: str,
    batch_size: int,
    device: str | None,
) -> None:
    """Generate a style-mixing grid using a pretrained network.

    \b
    Example:
      ganforge style-mix --network metfaces.pkl --rows 85,100,75 --cols 55,821,1789 --outdir out
    """
    paths = style_mix_grid(
        network_path,
        row_seeds,
        col_seeds,
        col_styles,
        outdir,
        truncation_psi=truncation_psi,
        noise_mode=noise_mode,
        class_idx=class_idx,
        batch_size=batch_size,
        device=device,
    )
    click.echo(f"Wrote {len(paths) - 1} images and {paths[-1]}")
