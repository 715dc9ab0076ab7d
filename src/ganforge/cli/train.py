"""`ganforge train`: train a StyleGAN2-ADA, StyleGAN (2019) or DCGAN model (options named and defaulted
like the official train.py).

Options left unset take their values from --cfg; `resolve_config` checks every value and raises
`OptionError` naming the option.
"""

from __future__ import annotations

from typing import Any

import click

from ganforge.augment import AUGMENT_PRESETS
from ganforge.cli.metrics import parse_metric_names
from ganforge.cli.options import device_option
from ganforge.training.distributed import shutdown
from ganforge.training.launch import launch
from ganforge.training.loop import LoopOptions
from ganforge.training.presets import AUG_MODES, MODEL_PRESETS, MODELS, STYLEGAN_LOSSES

CFG = "  [default: from --cfg]"
CFG_NAMES = list(dict.fromkeys(name for presets in MODEL_PRESETS.values() for name in presets))


@click.command("train")
@click.option("--data", metavar="PATH",
              help="Training data: a dataset zip or folder (not needed with --resume latest).")
@click.option("--outdir", required=True, metavar="DIR", help="Where to put the run folders.")
@click.option("--model", type=click.Choice(MODELS),
              help="Model family: stylegan2, stylegan (2019, progressive growing) or dcgan"
                   "  [default: stylegan2].")
@click.option("--cfg", type=click.Choice(CFG_NAMES),
              help="Base configuration of the model family (stylegan and dcgan: auto or cpu)"
                   "  [default: auto].")
@click.option("--kimg", type=int, help="Training length in thousands of real images." + CFG)
@click.option("--snap", type=int, help="Snapshot (network and image grid) interval in ticks." + CFG)
@click.option("--resume", metavar="PKL|latest",
              help="'latest' continues the newest run in --outdir (same data; options may be repeated, only "
                   "--kimg, --snap, --tick and --workers changed); a network file starts a new run from it.")
@click.option("--cond", is_flag=True, default=None, help="Condition on the dataset labels.")
@click.option("--mirror", is_flag=True, default=None, help="Add x-flipped copies of the dataset.")
@click.option("--gamma", type=float, help="R1 regularisation weight." + CFG)
@click.option("--batch", type=int, help="Total batch size over all GPUs." + CFG)
@click.option("--batch-gpu", type=int,
              help="Images per process (GPU) per round  [default: from --cfg, at most batch / processes].")
@click.option("--glr", type=float, help="Generator learning rate." + CFG)
@click.option("--dlr", type=float, help="Discriminator learning rate." + CFG)
@click.option("--map", type=int, help="Mapping network depth." + CFG)
@click.option("--cbase", type=int, help="Channel base: the width of the networks." + CFG)
@click.option("--cmax", type=int, help="Maximum channels per layer." + CFG)
@click.option("--mbstd-group", type=int, help="Minibatch standard deviation group size." + CFG)
@click.option("--seed", type=int, help="Random seed  [default: 0].")
@click.option("--aug", type=click.Choice(AUG_MODES), help="Augmentation mode  [default: ada].")
@click.option("--p", type=float, help="Augmentation probability (required with --aug fixed).")
@click.option("--target", type=float, help="ADA target for the sign of D's real scores  [default: 0.6].")
@click.option("--augpipe", type=click.Choice(list(AUGMENT_PRESETS)),
              help="Augmentation pipeline  [default: bgc].")
@click.option("--freezed", type=int, help="Freeze-D: number of frozen discriminator layers  [default: 0].")
@click.option("--workers", type=int, help="Data loader processes." + CFG)
@click.option("--g-steps", type=int, help="DCGAN: generator updates per discriminator update  [default: 2].")
@click.option("--gf-dim", type=int, help="DCGAN: generator width." + CFG)
@click.option("--df-dim", type=int, help="DCGAN: discriminator width." + CFG)
@click.option("--loss", type=click.Choice(STYLEGAN_LOSSES),
              help="StyleGAN: logistic-r1 (non-saturating, R1 of --gamma) or wgangp  [default: logistic-r1].")
@click.option("--lod-initial-resolution", type=int,
              help="StyleGAN: resolution progressive growing starts from." + CFG)
@click.option("--lod-training-kimg", type=float,
              help="StyleGAN: kimg at each resolution before the next." + CFG)
@click.option("--lod-transition-kimg", type=float, help="StyleGAN: kimg of each fade-in." + CFG)
@click.option("--tick", "kimg_per_tick", type=float,
              help="Progress interval in kimg (fractions allowed)." + CFG)
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
    (2019, progressive growing) or DCGAN, all through the same loop.

    Each run gets a folder OUTDIR/NNNNN-DESC with log.txt, stats.jsonl, TensorBoard events, image
    grids and network-snapshot-KKKKKK.pt files (KKKKKK.FFF, the kimg to the image, with a fractional
    --tick); Ctrl-C finishes the step, writes a snapshot and exits. For several GPUs start it with
    `torchrun --nproc_per_node N -m ganforge.cli.main train`; each process takes its share of the batch.
    """
    overrides = {name: value for name, value in settings.items() if value is not None}
    try:
        options = LoopOptions(device=device, compile=compile_, grid=grid, metrics=metric_names)
        launch(data, outdir, cfg, overrides, resume, options)
    finally:
        shutdown()


def _parse_grid(value: str | None) -> tuple[int, int] | None:
    """'8x4' -> (8, 4); None stays None (the official grid size)."""
    if value is None:
        return None
    cols, sep, rows = value.lower().partition("x")
    if not sep or not cols.isdigit() or not rows.isdigit() or int(cols) < 1 or int(rows) < 1:
        raise click.BadParameter(f"expected COLSxROWS such as 8x8, got {value!r}", param_hint="--grid")
    return int(cols), int(rows)
