"""Streaming: a 10 MB page in 64 KB chunks, throughput and peak memory.

Throughput is the page's size over the time the wrapped app takes to stream it
in-process (the bare app's own time included: about a microsecond a chunk).
Peak memory is traced with `tracemalloc` while a page streams through: a 10 MB
page, then a 1 GB one, both generated lazily from the same three pieces, so the
app itself holds only one chunk at a time. Streaming means the two peaks are
about the same.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

from starlette.types import ASGIApp, Message

from . import apps
from .driver import http_scope, interleave, loop
from .inprocess import Checks
from .model import Row, Section, Target, fmt
from .page import CHUNK, COUNTRY_IPS, iter_stream, stream_chunks

__all__ = ["run_streaming"]

MB = 1_000_000
TEN_MB = 10 * 1024 * 1024
ONE_GB = 1024 * 1024 * 1024


def _pieces(total: int) -> tuple[int, Callable[[], Iterator[bytes]]]:
    first, middle, last, repeats = stream_chunks(total)

    def pieces() -> Iterator[bytes]:
        return iter_stream(first, middle, last, repeats)

    return len(first) + len(middle) * repeats + len(last), pieces


async def _stream(app: ASGIApp, path: str, look: bool = True) -> tuple[int, int]:
    """Stream one response; (bytes received, how many messages showed the notice, where `look`)."""
    total = 0
    seen = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal total, seen
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            total += len(body)
            if look and b'class="legal-notice"' in body:
                seen += 1

    await app(http_scope(path, COUNTRY_IPS["RU"]), receive, send)
    return total, seen


def _peak(app: ASGIApp, path: str) -> tuple[int, int]:
    """Peak traced bytes while one response streams through `app` (tracing must be on)."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    total, _ = loop().run_until_complete(_stream(app, path, look=False))
    return tracemalloc.get_traced_memory()[1] - before, total


def run_streaming(rules: Path, checks: Checks, *, rounds: int, big: int) -> list[Section]:
    size, pieces = _pieces(TEN_MB)
    bare = apps.streaming_app(pieces)
    wrapped = apps.ours(bare, rules)
    variants: dict[str, tuple[str, ASGIApp]] = {
        "bare app": ("/news/long-read", bare),
        "body-end notice": ("/news/long-read", wrapped),
        '{after: "article h1"} notice': ("/world/long-read", wrapped),
    }
    for name, (path, app) in variants.items():
        total, seen = loop().run_until_complete(_stream(app, path))
        expected = size if app is bare else size + len(apps.notice_markup(rules))
        checks.expect(
            total == expected and seen == (0 if app is bare else 1),
            f"10 MB stream, {name}: {total} bytes out, notice seen in {seen} message(s)",
        )

    def timed(path: str, app: ASGIApp) -> Callable[[int], float]:
        def run(n: int) -> float:
            return sum(_timed_once(app, path) for _ in range(n)) / n

        return run

    timing = interleave(
        {name: timed(path, app) for name, (path, app) in variants.items()},
        rounds=rounds,
        batch_seconds=0.0,
        baseline="bare app",
    )
    throughput = Section(
        "streaming", f"Streaming {size / MB:.1f} MB in {CHUNK // 1024} KB chunks, in process", ["ms", "MB/s"]
    )
    targets = {"body-end notice": Target(">=", 1000, "MB/s"), '{after: "article h1"} notice': Target(">=", 300, "MB/s")}
    for name in variants:
        ms = timing.median_us(name) / 1000
        rate = size / (ms / 1000) / MB
        throughput.add(
            Row(
                name,
                {"ms": fmt(ms), "MB/s": fmt(rate)},
                value=rate,
                target=targets.get(name),
                data={"ms": ms, "mb_s": rate},
            )
        )
    throughput.notes.append(
        "MB/s: 10^6 bytes a second, end to end through the wrapped app (the app's own time included)."
    )

    memory = Section(
        "memory",
        "Peak memory while streaming (tracemalloc, traced bytes above the start)",
        ["10 MB page", f"{big / ONE_GB:g} GB page", "ratio"],
    )
    big_size, big_pieces = _pieces(big)
    tracemalloc.start()
    try:
        for name, path in (
            ("body-end notice", "/news/long-read"),
            ('{after: "article h1"} notice', "/world/long-read"),
        ):
            small_peak, small_total = _peak(apps.ours(apps.streaming_app(pieces), rules), path)
            big_peak, big_total = _peak(apps.ours(apps.streaming_app(big_pieces), rules), path)
            checks.expect(big_total > big_size, f"{big_size / MB:,.0f} MB stream, {name}: {big_total} bytes out")
            ratio = big_peak / small_peak if small_peak else float("inf")
            memory.add(
                Row(
                    name,
                    {
                        "10 MB page": f"{small_peak / 1024:,.0f} KiB",
                        f"{big / ONE_GB:g} GB page": f"{big_peak / 1024:,.0f} KiB",
                        "ratio": fmt(ratio),
                    },
                    value=ratio,
                    target=Target("<=", 1.25, "×"),
                    data={"peak_small": small_peak, "peak_big": big_peak, "big_bytes": big_total},
                )
            )
    finally:
        tracemalloc.stop()
    memory.notes.append("target: the bigger stream's peak at most 1.25 × the 10 MB stream's (the same, within noise).")
    return [throughput, memory]


def _timed_once(app: ASGIApp, path: str) -> float:
    began = time.perf_counter()
    loop().run_until_complete(_stream(app, path, look=False))
    return time.perf_counter() - began
