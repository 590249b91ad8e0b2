"""Real servers on loopback for tests where the wire matters: uvicorn in a thread, or any server as a process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
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


#: How each server is started on a loopback port, its own proxy-header handling off
#: (uvicorn's is on by default; hypercorn, granian and daphne have none unless asked).
SERVERS: dict[str, list[str]] = {
    "uvicorn": ["-m", "uvicorn", "--no-proxy-headers", "--lifespan", "off", "--host", "127.0.0.1", "--port", "{port}"],
    "hypercorn": ["-m", "hypercorn", "--bind", "127.0.0.1:{port}"],
    "hypercorn-trio": ["-m", "hypercorn", "--worker-class", "trio", "--bind", "127.0.0.1:{port}"],
    "granian": ["-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}"],
    "daphne": ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}"],
}


@contextlib.contextmanager
def serve_process(server: str, target: str, ready: str = "/healthz", timeout: float = 60) -> Iterator[str]:
    """Run `target` ("module:attribute") under `server` as a process of its own; yields the base URL.

    Waits until `ready` answers 200; the server (and any worker it started) is ended afterwards.
    """
    port = free_port()
    args = [arg.format(port=port) for arg in SERVERS[server]]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, *args, target], cwd=root, env=env, stdout=log, stderr=log, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(
                        f"{server} ended with {process.returncode}: {log.read().decode(errors='replace')}"
                    )
                try:
                    if httpx.get(url + ready, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server} did not answer on {url} within {timeout} s")
                time.sleep(0.1)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
