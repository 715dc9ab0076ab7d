"""Start `ganforge serve`: load the network once, build the page, serve it on one address."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.serve.explorer import Explorer
from ganforge.serve.uploads import MAX_UPLOAD_BYTES

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
QUEUE_SIZE = 64
"""Requests that may wait per event; each tab runs its own requests one at a time, independently of the
other tabs (a long projection never holds up the seeds)."""


def require_gradio() -> None:
    """Refuse, in one line saying how to install it, when Gradio (the `serve` extra) is missing."""
    try:
        import gradio  # noqa: F401
    except ImportError as e:
        raise GanforgeError(
            "`ganforge serve` needs Gradio, which is not installed: pip install 'ganforge[serve]'"
        ) from e


def start(
    network_path: str | os.PathLike[str],
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    device: str | None = None,
    block: bool = True,
) -> Any:
    """Serve the page for `network_path` at http://host:port/ (port None: the first free one from 7860).

    `block=False` returns the running Gradio app at once (its `local_url` says where; `close()` stops
    it), for tests and notebooks; otherwise serves until interrupted.
    """
    require_gradio()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests are no news to a user
    from ganforge.serve.app import CSS, build_app  # deferred: Gradio is an optional extra

    explorer = Explorer(network_path, device=device)
    workdir = tempfile.TemporaryDirectory(prefix="ganforge-serve-")  # removed with the app
    app = build_app(explorer, workdir.name)
    app.ganforge_workdir = workdir
    app.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    try:
        app.launch(
            server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True,
            max_file_size=MAX_UPLOAD_BYTES, show_error=False, quiet=True, ssr_mode=False, mcp_server=False,
            footer_links=[], css=CSS,
        )
    except OSError as e:
        raise GanforgeError(
            f"cannot serve on {host}:{port} (the port is taken, or the host is not an address of this "
            "machine); choose another port or `host`", param="port"
        ) from e
    logger.info("Serving %s at %s%s", network_path, app.local_url, " (Ctrl+C stops)" if block else "")
    if block:
        app.block_thread()
    return app
