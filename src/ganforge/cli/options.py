"""Click options and parameter types shared by the commands that run a pretrained network."""

from __future__ import annotations

import click

from ganforge.errors import OptionError
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

network_option = click.option(
    "--network", "network_path", required=True, metavar="PATH",
    help="Network file: a ganforge checkpoint, an official StyleGAN2-ADA pickle or a legacy TF pickle.")
trunc_option = click.option(
    "--trunc", "truncation_psi", type=float, default=1.0, show_default=True,
    help="Truncation psi (1 = none, smaller = closer to the average image).")
class_option = click.option(
    "--class", "class_idx", type=int, default=None,
    help="Class label for a conditional network (required there).")
noise_mode_option = click.option(
    "--noise-mode", type=click.Choice(NOISE_MODES), default="const", show_default=True,
    help="Per-pixel noise: the stored constant, fresh random, or none.")
batch_option = click.option(
    "--batch", "batch_size", type=click.IntRange(min=1), default=16, show_default=True,
    help="Images per forward pass.")
device_option = click.option(
    "--device", type=click.Choice(DEVICE_NAMES), default=None,
    help="Device to run on  [default: cuda, else mps, else cpu].")
