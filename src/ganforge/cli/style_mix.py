"""`ganforge style-mix`: a grid of row seeds taking chosen style layers from column seeds."""

from __future__ import annotations

from typing import Any

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
def style_mix_command(outdir: str, **options: Any) -> None:
    """Generate a style-mixing grid using a pretrained network.

    \b
    Example:
      ganforge style-mix --network metfaces.pkl --rows 85,100,75 --cols 55,821,1789 --outdir out
    """
    paths = style_mix_grid(outdir=outdir, **options)
    click.echo(images_written(paths, outdir))
