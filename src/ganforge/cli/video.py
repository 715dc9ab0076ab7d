"""`ganforge video`: a looping MP4 interpolating between the latents of seeds, one walk per grid cell."""

from __future__ import annotations

from typing import Any

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.options import (
    INT_LIST,
    batch_run_options,
    class_option,
    label_option,
    network_option,
    noise_mode_option,
    trunc_option,
)
from ganforge.errors import OptionError
from ganforge.tools.video import LATENT_KINDS, make_interpolation_video, parse_grid


def _grid(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        return parse_grid(value)
    except OptionError as e:
        raise click.BadParameter(e.message, ctx, param) from e  # click names the option


@click.command("video", cls=GanforgeCommand)
@network_option
@click.option("--seeds", type=INT_LIST, required=True,
              help="Seeds to walk through, split evenly over the grid cells in order, e.g. '0-31'.")
@click.option("--grid", type=str, default="1x1", show_default=True, callback=_grid, metavar="COLSxROWS",
              help="Grid of cells; cell i (row-major) walks the i-th equal share of the seeds.")
@click.option("--frames-per-seed", type=click.IntRange(min=1), default=60, show_default=True,
              help="Frames from one seed's keyframe to the next.")
@click.option("--kind", type=click.Choice(LATENT_KINDS), default="w", show_default=True,
              help="Interpolate in z (then map each frame) or in W (mapped and truncated keyframes).")
@trunc_option
@noise_mode_option
@class_option("several give one class per grid cell, in the order of the cells.")
@label_option
@click.option("--output", type=click.Path(dir_okay=False), required=True, metavar="FILE.mp4",
              help="The MP4 file to write.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=30, show_default=True,
              help="Frames per second of the video.")
@batch_run_options
def video_command(output: str, **options: Any) -> None:
    """Render a looping latent-interpolation video (closed Catmull-Rom spline through the seeds).

    \b
    Example:
      ganforge video --network ffhq.pkl --seeds 0-31 --grid 4x2 --trunc 0.7 --output lerp.mp4
    """
    num_frames = make_interpolation_video(output=output, **options)
    click.echo(f"Wrote {num_frames} frames to {output}")
