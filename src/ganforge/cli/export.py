"""`ganforge export`: a network file as a safetensors model folder, an ONNX graph or an official pickle."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.export import FORMATS, export_network


@click.command("export", cls=GanforgeCommand)
@click.argument("network", metavar="NETWORK")
@click.argument("out", type=click.Path(), metavar="OUT")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="safetensors",
    show_default=True,
    help="safetensors: a Hugging Face model folder; onnx: the generator as an ONNX graph; "
    "official: a StyleGAN2-ADA-PyTorch pickle (StyleGAN2 snapshots).",
)
@click.option(
    "--all",
    "all_networks",
    is_flag=True,
    help="safetensors: store every network (G, D, augment pipe), not only the generator.",
)
@click.option(
    "--parts",
    default=None,
    metavar="LIST",
    help="onnx: write these halves into folder OUT instead of one graph, e.g. 'mapping,synthesis'.",
)
@click.option(
    "--push-to-hub",
    "repo",
    default=None,
    metavar="USER/NAME",
    help="safetensors: also upload the folder to this Hugging Face Hub model repository.",
)
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def export_command(
    network: str, out: str, fmt: str, all_networks: bool, parts: str | None, repo: str | None, force: bool
) -> None:
    """Write NETWORK (any network file the other commands read) to OUT in a format other tools read.

    \b
    Examples:
      ganforge export network-snapshot-000400.pt ffhq-gan --format safetensors --push-to-hub me/ffhq-gan
      ganforge export ffhq.pkl ffhq.onnx --format onnx
      ganforge export network-snapshot-000400.pt official.pkl --format official
    """
    part_list = [p.strip() for p in parts.split(",")] if parts else None
    paths = export_network(
        network, out, fmt, all_networks=all_networks, parts=part_list, force=force, push_to_hub_repo=repo
    )
    click.echo(f"Wrote {', '.join(str(p) for p in paths)}" + (f" and uploaded it to {repo}" if repo else ""))
