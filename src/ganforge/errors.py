"""User-facing errors: each names the file or option at fault and says how to fix it.

The CLI prints these messages without a traceback; anything else is a bug.
"""


class GanforgeError(Exception):
    """Base class of every error a user can cause."""


class DatasetError(GanforgeError):
    """A dataset source or dataset file is missing, malformed or inconsistent."""


class NetworkFileError(GanforgeError):
    """A network pickle or checkpoint cannot be read, or is refused as unsafe."""


class OptionError(GanforgeError):
    """A command-line option or argument has an invalid value."""


class MetricError(GanforgeError):
    """A metric cannot be computed: unknown name, or detector weights that cannot be found."""


class OutputError(GanforgeError):
    """An output file or folder cannot be created or written (read-only, full disk, not a folder...)."""
