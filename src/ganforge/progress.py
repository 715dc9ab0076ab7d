"""Progress for people: the one progress-bar helper (tqdm, off when stderr is not a terminal) and the
one format of elapsed times."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T], total: int | None = None, desc: str | None = None, enabled: bool | None = None
) -> Iterator[T]:
    """Wrap `iterable` in a progress bar; `enabled=None` means only when stderr is a TTY."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return iter(tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True))


def format_time(seconds: float) -> str:
    """'12s', '3m 04s', '2h 05m 07s' or '1d 02h 03m', as the official status line and metric records."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02}m {s % 60:02}s"
    return f"{s // 86400}d {(s // 3600) % 24:02}h {(s // 60) % 60:02}m"
