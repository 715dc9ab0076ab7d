"""The one progress-bar helper: tqdm, switched off when stderr is not a terminal."""

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
