"""`ganforge generate`: images from a network file, one PNG per seed."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.options import INT_LIST, batch_run_options, label_option, network_option, sampling_options
from ganforge.cli.report import images_written
from ganforge.errors import OptionError
from ganforge.tools.generate import generate_from_projected_w, generate_images
from ganforge.tools.labels import read_label_file


@click.command("generate", cls=GanforgeCommand)
@network_option
@click.option("--seeds", type=INT_LIST, default=None, help="Random seeds, e.g. '0-7,42'.")
@click.option("--projected-w", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Render the ws of a projector's projected_w.npz (proj00.png, ...) instead of seeds.")
@sampling_options("several write class{k}/seed*.png and a grid with one row per class.")
@label_option
@click.option("--label-file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Label vectors, one per line (an optional header row names them); several write "
              "label{k}/seed*.png and a grid with one row per label.")
@click.option("--grid", is_flag=True, help="Also write grid.png with all images.")
@click.option("--outdir", type=click.Path(file_okay=False), required=True, metavar="DIR",
              help="Where to write the images.")
@batch_run_options
def generate_command(
    network_path: str,
    seeds: list[int] | None,
    projected_w: str | None,
    truncation_psi: float,
    class_idx: int | list[int] | None,
    label: list[float] | None,
    label_file: str | None,
    noise_mode: str,
    grid: bool,
    outdir: str,
    batch_size: int,
    device: str,
) -> None:
    """Generate images using a pretrained network.

    \b
    Examples:
      ganforge generate --network metfaces.pkl --seeds 85,265,297 --outdir out
      ganforge generate --network cifar10.pkl --seeds 0-35 --class 1 --grid --outdir out
      ganforge generate --network cifar10.pkl --seeds 0-9 --class 0-9 --grid --outdir out
      ganforge generate --network faces.pt --seeds 0-7 --label 0,1,0,1 --outdir out
      ganforge generate --network ffhq.pkl --projected-w out/projected_w.npz --outdir out
    """
    if projected_w is not None:
        if seeds is not None:
            raise OptionError("--seeds and --projected-w: give one of them, not both")
        paths = generate_from_projected_w(
            network_path, projected_w, outdir, noise_mode=noise_mode, batch_size=batch_size, device=device
        )
        click.echo(images_written(paths, outdir))
        return
    if seeds is None:
        raise OptionError("--seeds: give the seeds to generate, e.g. '0-7', or --projected-w FILE")
    if label is not None and label_file is not None:
        raise OptionError("--label and --label-file: give one of them, not both")
    labels, label_names = None, []
    if label is not None:
        labels = [label]
    elif label_file is not None:
        labels, label_names = read_label_file(label_file)
    paths = generate_images(
        network_path,
        seeds,
        outdir,
        truncation_psi=truncation_psi,
        class_idx=class_idx,
        labels=labels,
        label_names=label_names,
        noise_mode=noise_mode,
        grid=grid,
        batch_size=batch_size,
        device=device,
    )
    click.echo(images_written(paths, outdir))
