"""SIGTERM stops a writing command as Ctrl-C does: by an exception, so that atomic writes clean up.

Python's default for SIGTERM is to die on the spot, leaving the temp files of unfinished writes.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def exit_on_sigterm(command: Callable[P, R]) -> Callable[P, R]:
    """Run `command` with SIGTERM raising SystemExit(143) (128 + signal number, as a shell reports it)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if threading.current_thread() is not threading.main_thread():
            return command(*args, **kwargs)  # only the main thread may set signal handlers
        previous = signal.signal(signal.SIGTERM, _exit)
        try:
            return command(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
