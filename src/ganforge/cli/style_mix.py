"""`ganforge style-mix`: a grid of row seeds taking chosen style layers from column seeds."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.options import INT_LIST, batch_run_options, label_option, network_option, sampling_options
from ganforge.cli.report import images_written
from ganforge.tools.style_mix import style_mix_grid


@click.command("style-mix", cls=GanforgeCommand)
@network_option
@click.option("--rows", "row_seeds", type=INT_LIST, required=True,
              help="Seeds of the grid rows, e.g. '85,100'.")
@click.option("--cols", "col_seeds", type=INT_LIST, required=True,
              help="Seeds of the grid columns, e.g. '55,821'.")
@click.option("--styles", "col_styles", type=INT_LIST, default="0-6", show_default=True,
              help="Style layers (ws indices) taken from the column seeds.")
@sampling_options("several write one set of images and grid.png per class to class{k}/.")
@label_option
@click.option("--outdir", type=click.Path(file_okay=False), required=True, metavar="DIR",
              help="Where to write the images and grid.png.")
@batch_run_options
def style_mix_command(
    network_path: str,
    row_seeds: list[int],
    col_seeds: list[int],
    col_styles: list[int],
    truncation_psi: float,
    class_idx: int | list[int] | None,
    label: list[float] | None,
    noise_mode: str,
    outdir: str,
    batch_size: int,
    device: str,
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
        label=label,
        batch_size=batch_size,
        device=device,
    )
    click.echo(images_written(paths, outdir))
