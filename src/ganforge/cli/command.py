"""The click command class of every ganforge command: library errors reworded in its options' names.

The library names the Python argument at fault (`GanforgeError.param`) and writes other arguments
in backticks; a command's own click options say how its user spells them (class_idx -> --class), so
no second table of names is kept.
"""

from __future__ import annotations

import re
from typing import Any

import click

from ganforge.errors import GanforgeError

REFERENCE = re.compile(r"`([A-Za-z_]\w*)`")
"""An argument named inside a message: `resolution`."""


class GanforgeCommand(click.Command):
    """A click command whose GanforgeErrors name its options ("--class: ...") rather than the
    library's arguments ("class_idx: ..."); names it has no option for stay as the library wrote them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GanforgeError as e:
            raise in_options(self, e) from e


def spelling(command: click.Command, name: str) -> str | None:
    """How a user of `command` writes its parameter `name`: the long option (else the first), or an
    argument's metavar; None when it has no such parameter. A trailing underscore that keeps a name
    off a Python builtin does not count (`compile_` is `compile`)."""
    for param in command.params:
        if param.name not in (name, f"{name}_"):
            continue
        if isinstance(param, click.Option):
            return next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
        return param.human_readable_name
    return None


def in_options(command: click.Command, error: GanforgeError) -> GanforgeError:
    """`error` (same type) with its param and backticked arguments named as `command`'s options."""
    message = REFERENCE.sub(lambda m: spelling(command, m.group(1)) or m.group(0), error.message)
    if error.param is not None:
        message = f"{spelling(command, error.param) or error.param}: {message}"
    return type(error)(message)
