"""The `ganforge` command: a click group whose subcommands are thin wrappers over library functions."""

from __future__ import annotations

import logging
import sys

import click

from ganforge import __version__
from ganforge.cli.convert import convert_command
from ganforge.cli.dataset import dataset
from ganforge.cli.export import export_command
from ganforge.cli.generate import generate_command
from ganforge.cli.metrics import metrics_command
from ganforge.cli.project import project_command
from ganforge.cli.serve import serve_command
from ganforge.cli.style_mix import style_mix_command
from ganforge.cli.train import train_command
from ganforge.cli.video import video_command
from ganforge.errors import GanforgeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganforge")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def cli(verbose: bool) -> None:
    """ganforge: train, use and evaluate GANs of the StyleGAN family."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")


cli.add_command(convert_command)
cli.add_command(dataset)
cli.add_command(export_command)
cli.add_command(generate_command)
cli.add_command(metrics_command)
cli.add_command(project_command)
cli.add_command(serve_command)
cli.add_command(style_mix_command)
cli.add_command(train_command)
cli.add_command(video_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, printing user errors without a traceback."""
    try:
        cli.main(args=argv, prog_name="ganforge", standalone_mode=False)
    except GanforgeError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
