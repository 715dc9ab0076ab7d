"""`ganforge train`: train a StyleGAN2-ADA, StyleGAN (2019), DCGAN or R3GAN model (options named and
defaulted like the official train.py).

Options left unset take their values from --cfg; `resolve_config` checks every value and raises
`OptionError` naming the option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.metrics import parse_metric_names
from ganforge.cli.options import INT_LIST, device_option
from ganforge.training.config import CFG_NAMES, shown_default
from ganforge.training.distributed import shutdown
from ganforge.training.launch import launch
from ganforge.training.loop import LoopOptions
from ganforge.training.options import OPTIONS, TRAIN_OPTIONS, Option

_CLICK_TYPES: dict[Any, Any] = {int: int, float: float, str: str, str | None: str, list[int]: INT_LIST}


def _config_option(option: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of a training option, from its row of the options table."""
    knob = option.knob
    kwargs: dict[str, Any] = {"help": knob.help + shown_default(option.name), "metavar": knob.metavar}
    choices = CFG_NAMES if option.name == "cfg" else knob.choices
    if option.type is bool:
        kwargs.update(is_flag=True, default=None)
    elif choices is not None:
        kwargs["type"] = click.Choice(choices)
    else:
        kwargs["type"] = _CLICK_TYPES[option.type]
    return click.option(knob.flag, option.name, **kwargs)


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the click options of every training option that has a flag, in the table's order."""
    for name in reversed(TRAIN_OPTIONS):
        command = _config_option(OPTIONS[name])(command)
    return command


@click.command("train", cls=GanforgeCommand)
@click.option("--data", metavar="PATH",
              help="Training data: a dataset zip or folder (not needed with --resume latest).")
@click.option("--outdir", required=True, metavar="DIR", help="Where to put the run folders.")
@_config_options
@device_option
@click.option("--compile", "compile_", is_flag=True, help="torch.compile G and D for the main phases.")
@click.option("--grid", metavar="COLSxROWS", callback=lambda _ctx, _param, value: _parse_grid(value),
              help="Size of the reals/fakes preview grids, e.g. 8x8  [default: as official, up to 32x32].")
@click.option("--metrics", "metric_names", metavar="LIST", default="none", show_default=True,
              callback=lambda _ctx, _param, value: parse_metric_names(value, allow_none=True),
              help="Metrics at every snapshot, comma-separated (e.g. fid50k_full, fid_digits), or none.")
def train_command(
    data: str | None,
    outdir: str,
    cfg: str | None,
    resume: str | None,
    device: str,
    compile_: bool,
    grid: tuple[int, int] | None,
    metric_names: tuple[str, ...],
    **settings: Any,
) -> None:
    """Train a GAN: StyleGAN2-ADA ("Training Generative Adversarial Networks with Limited Data"), StyleGAN
    (2019, progressive growing), DCGAN or R3GAN (2024), all through the same loop.

    Each run gets a folder OUTDIR/NNNNN-DESC with log.txt, stats.jsonl, TensorBoard events, image
    grids and network-snapshot-KKKKKK.pt files (KKKKKK.FFF, the kimg to the image, with a fractional
    --tick); Ctrl-C finishes the step, writes a snapshot and exits. For several GPUs start it with
    `torchrun --nproc_per_node N -m ganforge.cli.main train`; each process takes its share of the batch.
    """
    overrides = {name: value for name, value in settings.items() if value is not None}
    finished = False
    try:
        options = LoopOptions(device=device, compile=compile_, grid=grid, metrics=metric_names)
        launch(data, outdir, cfg, overrides, resume, options)
        finished = True
    finally:
        shutdown(finished)


def _parse_grid(value: str | None) -> tuple[int, int] | None:
    """'8x4' -> (8, 4); None stays None (the official grid size)."""
    if value is None:
        return None
    cols, sep, rows = value.lower().partition("x")
    if not sep or not cols.isdigit() or not rows.isdigit() or int(cols) < 1 or int(rows) < 1:
        raise click.BadParameter(f"expected COLSxROWS such as 8x8, got {value!r}", param_hint="--grid")
    return int(cols), int(rows)
