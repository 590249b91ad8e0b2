"""The in-process driver: calls an ASGI app directly, no server, no network.

One event loop runs every batch: `await app(scope, receive, send)` in a tight
loop, a fresh copy of the scope and a fresh `receive` per request (as a server
gives), and a `send` that keeps nothing. Variants that share a baseline are
timed in interleaved rounds (the order rotates each round), so that the
machine's drift hits them all alike; the figure of a variant is the median over
the rounds, and its added cost the median of its per-round differences from the
baseline measured in the same round.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Scope

__all__ = ["Collected", "Timing", "call", "http_scope", "interleave", "loop", "time_app", "time_calls"]

_LOOP: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The benchmark's one event loop."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP


def http_scope(path: str, client: str, *, method: str = "GET", headers: Sequence[tuple[bytes, bytes]] = ()) -> Scope:
    """An HTTP scope as uvicorn builds one (ASGI spec 2.3)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": (client, 51234),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"harbour-gazette.example"), (b"accept", b"text/html"), *headers],
    }


@dataclass
class Collected:
    """One response as the driver received it."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return bytes(value)
        return None


def _receive_once() -> Callable[[], Awaitable[Message]]:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the response is being written
        raise AssertionError("unreachable")

    return receive


def call(app: ASGIApp, scope: Scope) -> Collected:
    """One request, keeping the whole response (for checking, not timing)."""
    got = Collected()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            got.status = message["status"]
            got.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            got.chunks.append(bytes(message.get("body", b"")))

    loop().run_until_complete(app(dict(scope), _receive_once(), send))
    return got


async def _discard(message: Message) -> None:
    return None


async def _batch(app: ASGIApp, scope: Scope, n: int) -> float:
    receive_once = _receive_once
    send = _discard
    clock = time.perf_counter
    began = clock()
    for _ in range(n):
        await app(dict(scope), receive_once(), send)
    return (clock() - began) / n


def time_app(app: ASGIApp, scope: Scope, n: int) -> float:
    """Seconds per request, over `n` requests."""
    return loop().run_until_complete(_batch(app, scope, n))


def time_calls(func: Callable[[], Any], n: int) -> float:
    """Seconds per call of a plain function, over `n` calls."""
    clock = time.perf_counter
    began = clock()
    for _ in range(n):
        func()
    return (clock() - began) / n


@dataclass
class Timing:
    """Per-round seconds per call of each variant; figures in microseconds."""

    rounds: dict[str, list[float]]
    baseline: str | None = None

    def median_us(self, name: str) -> float:
        return statistics.median(self.rounds[name]) * 1e6

    def added_us(self, name: str) -> float:
        assert self.baseline is not None
        base = self.rounds[self.baseline]
        return statistics.median(t - b for t, b in zip(self.rounds[name], base, strict=True)) * 1e6

    def ratio(self, name: str) -> float:
        assert self.baseline is not None
        return self.median_us(name) / self.median_us(self.baseline)

    def spread_us(self, name: str) -> float:
        """Half the interquartile range of the rounds (a noise indicator)."""
        values = sorted(self.rounds[name])
        if len(values) < 4:
            return 0.0
        q = statistics.quantiles(values, n=4)
        return (q[2] - q[0]) / 2 * 1e6


def interleave(
    variants: dict[str, Callable[[int], float]],
    *,
    rounds: int,
    batch_seconds: float,
    baseline: str | None = None,
) -> Timing:
    """Time each variant (a function of a call count that returns seconds per call) in interleaved rounds.

    The call count of each variant is chosen once, so that one batch takes about
    `batch_seconds`; the order of the variants rotates from round to round.
    """
    counts: dict[str, int] = {}
    for name, timed in variants.items():
        timed(1)  # warm up
        n = 1
        while True:
            spent = timed(n) * n
            if spent >= batch_seconds / 4 or n >= 1_000_000:
                break
            n *= 4 if spent < batch_seconds / 40 else 2
        per_call = max(timed(n), 1e-9)
        counts[name] = max(1, int(batch_seconds / per_call))
    names = list(variants)
    result: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            result[name].append(variants[name](counts[name]))
    return Timing(result, baseline)
