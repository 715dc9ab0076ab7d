"""`ganforge serve`: explore a network in the browser."""

from __future__ import annotations

import click

from ganforge.cli.command import GanforgeCommand
from ganforge.cli.interrupt import exit_on_sigterm
from ganforge.cli.options import device_option, network_option
from ganforge.serve.server import DEFAULT_HOST, DEFAULT_PORT, start


@click.command("serve", cls=GanforgeCommand)
@network_option
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to serve the page on.")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to bind; 0.0.0.0 serves every network interface (anyone who can reach it).")
@device_option
@exit_on_sigterm
def serve_command(network_path: str, port: int, host: str, device: str) -> None:
    """Explore a network in the browser: seeds, style mixing, interpolation, projection.

    Needs the serve extra (pip install 'ganforge[serve]'). Only the network given here is loaded;
    the page offers no way to open other files.

    \b
    Examples:
      ganforge serve --network ffhq.pkl
      ganforge serve --network runs/00000-digits/network-snapshot-000020.pt --port 8080
    """
    start(network_path, host=host, port=port, device=device)
