"""Click options and parameter types shared by the commands (each option defined once, here).

An option's destination is the name of the library argument it feeds (`compile_` feeds `compile`), so
a command that only hands its options on takes them as `**options`: each is listed once, in its decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from ganforge.cli.interrupt import exit_on_sigterm
from ganforge.errors import OptionError
from ganforge.inference.runner import DEVICE_HELP, NOISE_MODES, is_device_name
from ganforge.tools.labels import parse_label
from ganforge.tools.seeds import parse_int_list

FC = TypeVar("FC", bound=Callable[..., object])


class IntList(click.ParamType):
    """Comma-separated integers and inclusive ranges, e.g. "0-7,42"."""

    name = "LIST"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            return parse_int_list(str(value))
        except OptionError as e:
            self.fail(e.message, param, ctx)  # click names the option


class DeviceName(click.ParamType):
    """A device name as `pick_device` takes it; whether the device exists is checked when it is used."""

    name = "DEVICE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        name = str(value).strip().lower()
        if not is_device_name(name):
            self.fail(f"{value!r} is not a device; use {DEVICE_HELP}", param, ctx)
        return name


INT_LIST = IntList()

network_option = click.option(
    "--network", "network_path", required=True, metavar="PATH",
    help="Network file: a ganforge checkpoint, an official StyleGAN2-ADA pickle or a legacy TF pickle.")
trunc_option = click.option(
    "--trunc", "truncation_psi", type=float, default=1.0, show_default=True,
    help="Truncation psi (1 = none, smaller = closer to the average image).")


def class_option(several: str) -> Callable[[FC], FC]:
    """--class: one class (an int) or several (a list) for a conditional network; `several` says what
    a list does in the command."""
    return click.option(
        "--class", "class_idx", type=INT_LIST, default=None, metavar="LIST", callback=_one_or_many,
        help=f"Class label(s) for a conditional network (required there), e.g. '3' or '0-9'; {several}")


def _one_or_many(
    _ctx: click.Context, _param: click.Parameter, value: list[int] | None
) -> int | list[int] | None:
    """One class as an int (the single-class behaviour), several as a list."""
    return value[0] if value is not None and len(value) == 1 else value


noise_mode_option = click.option(
    "--noise-mode", type=click.Choice(NOISE_MODES), default="const", show_default=True,
    help="Per-pixel noise: the stored constant, fresh random, or none.")
batch_option = click.option(
    "--batch", "batch_size", type=click.IntRange(min=1), default=16, show_default=True,
    help="Images per forward pass on the device (sets memory use; not a training batch).")
device_option = click.option(
    "--device", type=DeviceName(), default="auto", show_default=True,
    help=f"Device to run on: {DEVICE_HELP}.")


def sampling_options(several: str) -> Callable[[FC], FC]:
    """--trunc, --class and --noise-mode, in that order: how a command samples a generator (`several`
    says what a list of classes does, as for `class_option`)."""

    def add(command: FC) -> FC:
        return trunc_option(class_option(several)(noise_mode_option(command)))

    return add


def batch_run_options(command: FC) -> FC:
    """--batch and --device, then SIGTERM handled as Ctrl-C: the tail of a command that runs a
    generator in batches."""
    return batch_option(device_option(exit_on_sigterm(command)))


def _label(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[float] | None:
    try:
        return None if value is None else parse_label(value)
    except OptionError as exc:
        raise click.BadParameter(exc.message) from exc


label_option = click.option(
    "--label", callback=_label, default=None, metavar="V1,V2,...",
    help="A label vector for a network trained on multi-hot or continuous labels, e.g. 0,1,0,1.")
