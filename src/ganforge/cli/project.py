"""`ganforge project`: find the w (or W+) latents that make a generator draw given images."""

from __future__ import annotations

from typing import Any

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.interrupt import exit_on_sigterm
from ganforge.cli.options import class_option, device_option, label_option, network_option
from ganforge.tools.project import DISTANCES, ProjectionConfig, project_images


@click.command("project", cls=GanforgeCommand)
@network_option
@click.option("--target", required=True, type=click.Path(), metavar="FILE|DIR",
              help="Image to project, or a folder of images (each gets its own subfolder of --outdir).")
@click.option("--outdir", type=click.Path(file_okay=False), required=True, metavar="DIR",
              help="Where to write target.png, proj.png, projected_w.npz (and proj.mp4).")
@click.option("--num-steps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Optimisation steps per image.")
@click.option("--seed", type=int, default=303, show_default=True,
              help="Seed of the noise-map initialisation and the w noise.")
@click.option("--wplus", is_flag=True, help="Optimise one w per layer (W+) instead of one w for all.")
@click.option("--save-video", is_flag=True, help="Also write proj.mp4: target | projection at every step.")
@click.option("--distance", type=click.Choice(DISTANCES), default="auto", show_default=True,
              help="Image distance: LPIPS-VGG, the offline multi-scale pixel MSE, or auto "
                   "(LPIPS when its weights are found, else pixel).")
@click.option("--detector", "detector_path", default=None, metavar="PATH",
              help="LPIPS weights: a folder holding vgg16-397923af.pth and lpips-vgg-v0.1.pth, or the "
                   "LPIPS linear-layer file  [default: GANFORGE_DETECTOR_DIR, cache, download].")
@class_option("one only: a projection searches the latents of one class.")
@label_option
@device_option
@exit_on_sigterm
def project_command(outdir: str, num_steps: int, wplus: bool, **options: Any) -> None:
    """Project images into the latent space of a pretrained network.

    \b
    Examples:
      ganforge project --network ffhq.pkl --target face.png --outdir out --save-video
      ganforge project --network ffhq.pkl --target faces/ --outdir out --wplus --num-steps 500
      ganforge generate --network ffhq.pkl --projected-w out/projected_w.npz --outdir out
    """
    config = ProjectionConfig(num_steps=num_steps, wplus=wplus)
    folders = project_images(outdir=outdir, config=config, **options)
    click.echo(f"Projected {len(folders)} image{'s' if len(folders) != 1 else ''} into {outdir}")
