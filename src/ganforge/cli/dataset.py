"""`ganforge dataset create|info`: thin wrappers over ganforge.data.create and ganforge.data.info."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.interrupt import exit_on_sigterm
from ganforge.data.create import create_dataset
from ganforge.data.grid import grid_size, save_image_grid
from ganforge.data.info import dataset_info, sample_images
from ganforge.data.transforms import TRANSFORMS


@click.group()
def dataset() -> None:
    """Create and inspect training datasets (StyleGAN2-ADA zip/folder layout)."""


@dataset.command(cls=GanforgeCommand)
@click.option(
    "--source",
    required=True,
    help="Images to read: a folder or .zip of images, an MNIST IDX folder/file, cifar-10-python.tar.gz, "
    "a legacy StyleGAN TFRecord folder, or demo:digits.",
)
@click.option(
    "--dest",
    required=True,
    type=click.Path(),
    help="Dataset to write: a path ending in .zip for a zip, anything else for a folder. Must not exist.",
)
@click.option(
    "--resolution",
    default=None,
    help="Output size: N for N x N, or WxH (width x height, e.g. 512x256); sides are powers of two, "
    "at most 4:1 either way. Default: the source size (all images must match).",
)
@click.option(
    "--transform",
    type=click.Choice(TRANSFORMS),
    default="none",
    show_default=True,
    help="How to reach W x H: none (images of that aspect only), center-crop (largest centered box of "
    "that aspect), center-crop-wide (centered box twice as wide, bars top and bottom) or pad "
    "(whole image, letterboxed on --background).",
)
@click.option(
    "--background",
    default="black",
    show_default=True,
    help="Colour of padding, and under transparent pixels when RGBA images lose their alpha: a name or "
    "#rrggbb (#rrggbbaa gives padding alpha on 4-channel output).",
)
@click.option(
    "--max-images", type=click.IntRange(min=1), default=None, help="Write at most this many images."
)
@click.option(
    "--shuffle-seed",
    type=int,
    default=None,
    help="Shuffle the source order with this seed before --max-images is applied. Default: keep the order.",
)
@click.option(
    "--channels",
    type=click.Choice(["1", "3", "4"]),
    default=None,
    help="Convert every image to 1 (grayscale), 3 (RGB) or 4 (RGBA, keeps transparency) channels. "
    "Default: the source's, with alpha composited on --background.",
)
@click.option(
    "--lods",
    is_flag=True,
    help="Also write the 2x2-averaged pyramid (lod1/, lod2/, ...) for StyleGAN 1 training.",
)
@click.option(
    "--labels-from-folders",
    is_flag=True,
    help="Use the first-level sub-folder names of a folder/zip source as class labels (sorted -> 0..K-1).",
)
@click.option(
    "--labels-from",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV of labels: a header (file, then label names), then per image its path in the source and one "
    "number per label. 0/1 integers make multi-hot labels, other numbers continuous ones.",
)
@click.option(
    "--skip-bad", is_flag=True, help="Skip and count unreadable images instead of stopping at the first."
)
@exit_on_sigterm
def create(
    source: str,
    dest: str,
    resolution: str | None,
    transform: str,
    background: str,
    max_images: int | None,
    shuffle_seed: int | None,
    channels: str | None,
    lods: bool,
    labels_from_folders: bool,
    labels_from: str | None,
    skip_bad: bool,
) -> None:
    """Convert images from --source into a dataset at --dest."""
    report = create_dataset(
        source,
        dest,
        resolution=resolution,
        transform=transform,
        max_images=max_images,
        shuffle_seed=shuffle_seed,
        channels=None if channels is None else int(channels),
        lods=lods,
        labels_from_folders=labels_from_folders,
        labels_from=labels_from,
        skip_bad=skip_bad,
        background=background,
    )
    click.echo(report.summary())
    if report.skipped:
        click.echo(f"skipped {report.skipped} unreadable images")


@dataset.command(cls=GanforgeCommand)
@click.argument("path", type=click.Path())
@click.option(
    "--grid",
    "grid_path",
    type=click.Path(),
    default=None,
    help="Also save a PNG grid of up to 64 images here.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed choosing the images of --grid.")
@exit_on_sigterm
def info(path: str, grid_path: str | None, seed: int) -> None:
    """Describe the dataset at PATH (zip or folder): images, resolution, channels, labels."""
    summary = dataset_info(path)
    for line in summary.lines():
        click.echo(line)
    if grid_path is not None:
        images = sample_images(path, count=64, seed=seed)
        save_image_grid(images, grid_path, grid_size(len(images)))
        click.echo(f"Grid of {len(images)} images written to {grid_path}")
