"""A real uvicorn server on loopback, in a thread, for tests where the wire matters."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(app: Any, **options: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields the base URL.

    uvicorn's own proxy handling (`proxy_headers`) is off unless a test turns it on:
    behind a proxy the middleware must see the real peer (docs/operations.md).
    """
    options.setdefault("proxy_headers", False)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
