"""`ganforge generate`: images from a network file, one PNG per seed."""

from __future__ import annotations

import click

from ganforge.errors import OptionError
from ganforge.tools.generate import generate_from_projected_w, generate_images
from ganforge.tools.runner import DEVICE_NAMES, NOISE_MODES
from ganforge.tools.seeds import parse_int_list


class IntList(click.ParamType):
    """Comma-separated integers and inclusive ranges, e.g. "0-7,42"."""

    name = "LIST"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        option = param.opts[0] if param is not None and param.opts else "value"
        try:
            return parse_int_list(str(value), option=option)
        except OptionError as e:
            self.fail(str(e), param, ctx)


INT_LIST = IntList()


@click.command("generate")
@click.option("--network", "network_path", required=True, metavar="PATH",
              help="Network file: an official StyleGAN2-ADA pickle or a ganforge checkpoint.")
@click.option("--seeds", type=INT_LIST, default=None, help="Random seeds, e.g. '0-7,42'.")
@click.option("--projected-w", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Render the ws of a projector's projected_w.npz (proj00.png, ...) instead of seeds.")
@click.option("--trunc", "truncation_psi", type=float, default=1.0, show_default=True,
              help="Truncation psi (1 = none, smaller = closer to the average image).")
@click.option("--class", "class_idx", type=int, default=None,
              help="Class label for a conditional network (required there).")
@click.option("--noise-mode", type=click.Choice(NOISE_MODES), default="const", show_default=True,
              help="Per-pixel noise: the stored constant, fresh random, or none.")
@click.option("--grid", is_flag=True, help="Also write grid.png with all images.")
@click.option("--outdir", type=click.Path(file_okay=False), required=True, metavar="DIR",
              help="Where to write the images.")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Images per forward pass.")
@click.option("--device", type=click.Choice(DEVICE_NAMES), default=None,
              help="Device to run on  [default: cuda, else mps, else cpu].")
def generate_command(
    network_path: str,
    seeds: list[int] | None,
    projected_w: str | None,
    truncation_psi: float,
    class_idx: int | None,
    noise_mode: str,
    grid: bool,
    outdir: str,
    batch_size: int,
    device: str | None,
) -> None:
    """Generate images using a pretrained network.

    \b
    Examples:
      ganforge generate --network metfaces.pkl --seeds 85,265,297 --outdir out
      ganforge generate --network cifar10.pkl --seeds 0-35 --class 1 --grid --outdir out
      ganforge generate --network ffhq.pkl --projected-w out/projected_w.npz --outdir out
    """
    if projected_w is not None:
        if seeds is not None:
            raise OptionError("--seeds and --projected-w: give one of them, not both")
        paths = generate_from_projected_w(
            network_path, projected_w, outdir, noise_mode=noise_mode, batch_size=batch_size, device=device
        )
        click.echo(f"Wrote {len(paths)} images to {outdir}")
        return
    if seeds is None:
        raise OptionError("--seeds: give the seeds to generate, e.g. '0-7', or --projected-w FILE")
    paths = generate_images(
        network_path,
        seeds,
        outdir,
        truncation_psi=truncation_psi,
        class_idx=class_idx,
        noise_mode=noise_mode,
        grid=grid,
        batch_size=batch_size,
        device=device,
    )
    click.echo(f"Wrote {len(paths)} images to {outdir}")
