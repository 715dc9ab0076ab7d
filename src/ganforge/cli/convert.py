"""`ganforge convert`: a network pickle (official or legacy TensorFlow) as a ganforge checkpoint."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.interrupt import exit_on_sigterm
from ganforge.compat.convert import convert_network


@click.command("convert", cls=GanforgeCommand)
@click.argument("source", metavar="IN")
@click.argument("dest", metavar="OUT", type=click.Path(dir_okay=False))
@exit_on_sigterm
def convert_command(source: str, dest: str) -> None:
    """Convert network file IN (path or URL) to the ganforge checkpoint OUT.

    IN may be an official StyleGAN2-ADA-PyTorch pickle, a TensorFlow StyleGAN2-ADA, StyleGAN2 or
    StyleGAN pickle (NVlabs/stylegan2-ada, stylegan2, stylegan) or a ganforge checkpoint; no code
    from it is run.
    OUT is written atomically.

    \b
    Example:
      ganforge convert stylegan2-ffhq-config-f.pkl ffhq.pt
    """
    keys = convert_network(source, dest)
    click.echo(f"Wrote {', '.join(keys)} to {dest}")
