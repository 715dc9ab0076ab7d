"""User-facing errors: each names the argument or file at fault and says how to fix it.

The library words them for a Python caller: `param` is the argument at fault, and other arguments
a message names are written in backticks (`resolution`). The CLI prints them without a traceback,
with `param` and each backticked name turned into the command's option (see ganforge.cli.command);
any other exception reaching a user is a bug.
"""

from __future__ import annotations


class GanforgeError(Exception):
    """Base class of every error a user can cause: `message` in plain words, `param` the Python
    argument at fault (None: no single one); str() is "param: message"."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def __str__(self) -> str:
        return self.message if self.param is None else f"{self.param}: {self.message}"


class DatasetError(GanforgeError):
    """A dataset source or dataset file is missing, malformed or inconsistent."""


class NetworkFileError(GanforgeError):
    """A network pickle or checkpoint cannot be read, or is refused as unsafe."""


class OptionError(GanforgeError):
    """An argument (a command-line option) has an invalid value."""


class MetricError(GanforgeError):
    """A metric cannot be computed: unknown name, or detector weights that cannot be found."""


class OutputError(GanforgeError):
    """An output file or folder cannot be created or written (read-only, full disk, not a folder...)."""
