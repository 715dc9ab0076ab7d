"""Stopping a run cleanly: the first SIGINT/SIGTERM asks the loop to finish its step and snapshot."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event set by the first SIGINT/SIGTERM (a second SIGINT interrupts at once).

    Signal handlers can only be installed from the main thread; elsewhere the event never fires.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        logger.info("\nReceived %s: stopping after this step...", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
