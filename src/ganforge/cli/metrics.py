"""`ganforge metrics`: evaluate a network file (FID, KID, precision/recall, IS, PPL, digits metrics)."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.options import device_option
from ganforge.metrics.compute import evaluate_network, format_table, metric_file
from ganforge.metrics.registry import METRICS


def parse_metric_names(value: str | None, allow_none: bool = False) -> tuple[str, ...]:
    """'fid_digits,kid_digits' -> the names, checked; 'none' (where allowed) or nothing -> ()."""
    if allow_none and (value is None or value.strip().lower() == "none"):
        return ()
    names = tuple(name.strip() for name in (value or "").split(",") if name.strip())
    unknown = [name for name in names if name not in METRICS]
    if not names or unknown:
        what = ", ".join(unknown) or "no metric given"
        raise click.BadParameter(f"{what}; choose from {', '.join(METRICS)}")
    return names


@click.command("metrics", cls=GanforgeCommand)
@click.option("--network", "network_path", required=True, metavar="PATH",
              help="Network file: a ganforge checkpoint/snapshot or an official StyleGAN2-ADA pickle.")
@click.option("--metrics", "metric_names", default="fid50k_full", show_default=True,
              callback=lambda _ctx, _param, value: parse_metric_names(value),
              help=f"Comma-separated metrics: {', '.join(METRICS)}.")
@click.option("--data", metavar="PATH",
              help="Dataset zip or folder to compare with  [default: the one recorded in the network file].")
@click.option("--mirror/--no-mirror", default=None,
              help="Count x-flipped copies of the dataset in the legacy fid50k, kid50k and pr50k3 (the other "
                   "metrics never mirror, as official)  [default: as recorded in the network file].")
@click.option("--detector", "detector_path", metavar="PATH",
              help="Weights file for the Inception/VGG16/LPIPS detector  [default: $GANFORGE_DETECTOR_DIR, "
                   "~/.cache/ganforge/detectors, else download].")
@click.option("--run-dir", metavar="DIR",
              help="Append results to DIR/metric-<name>.jsonl  [default: the network's run folder, if any].")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Images per detector batch.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated samples.")
@click.option("--num-gen", type=click.IntRange(min=2), default=None,
              help="Generated samples per metric, for quick checks (the figures are then not comparable "
                   "with published ones)  [default: the metric's own, e.g. 50000 for fid50k_full].")
@device_option
def metrics_command(
    network_path: str,
    metric_names: tuple[str, ...],
    data: str | None,
    mirror: bool | None,
    detector_path: str | None,
    run_dir: str | None,
    batch_size: int,
    seed: int,
    num_gen: int | None,
    device: str,
) -> None:
    """Compute quality metrics of a generator (its G_ema) against a dataset.

    The standard metrics (fid50k_full, kid50k_full, pr50k3_full, is50k, ppl2_wend and the legacy
    fid50k, kid50k, pr50k3, ppl_zfull, ppl_wfull, ppl_zend, ppl_wend) follow the StyleGAN2-ADA
    definitions and need the Inception, VGG16 or LPIPS weights; as there, --mirror applies to the
    legacy fid50k, kid50k and pr50k3 only; fid_digits, kid_digits and class_acc use the bundled digits
    detector and work offline. Dataset statistics are cached
    in $GANFORGE_CACHE_DIR (default ~/.cache/ganforge/metrics).
    """
    results, written_to = evaluate_network(
        network_path, metric_names, data=data, mirror=mirror, run_dir=run_dir, device=device,
        detector_path=detector_path, batch_size=batch_size, seed=seed, num_gen=num_gen,
    )
    click.echo(format_table(results))
    if written_to is not None:
        for result in results:
            click.echo(f"Appended to {metric_file(written_to, result['metric'])}")
