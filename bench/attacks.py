"""Attacks with numeric targets: adversarial path patterns, and memory under unique requests.

- Each adversarial pattern matched against a 64 KB path built to make a
  backtracking matcher explode: target under 1 ms (the best of a few calls).
- Memory (`run_memory`): a worker's RSS after requests with unique 64 KB paths
  and `Accept-Language` headers, against its warm value: target within +50 MB.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from pathlib import Path
from typing import Any

from compliance.rules.paths import path_pattern

from .model import Row, Section, Target, fmt

__all__ = ["ADVERSARIAL", "run_memory", "run_patterns"]

_KB64 = 64 * 1024

#: (pattern, a 64 KB path that makes a backtracking matcher explode on it)
ADVERSARIAL: tuple[tuple[str, str], ...] = (
    ("/**/amp/**/print", ("/amp" * (_KB64 // 4))[:_KB64] + "/x"),
    ("/**/a/**/b/**/c", ("/a/b" * (_KB64 // 4))[:_KB64] + "/x"),
    ("/**/a*a*a*a*b/**", "/" + "a" * _KB64),
    (r"re:/article/(\w+-?)+/", "/article/" + "a-" * (_KB64 // 2) + "!"),
    (r"re:(\w+-?)+", "/" + "a" * _KB64 + "!"),
    ("re:(a|aa)+z", "a" * _KB64),
    ("re:(.*)*x", "/" + "a" * _KB64),
)


def run_patterns(*, rounds: int = 5) -> Section:
    section = Section("patterns", "Adversarial path patterns against a 64 KB path", ["time"])
    for source, path in ADVERSARIAL:
        pattern = path_pattern(source)
        best = float("inf")
        for _ in range(rounds):
            began = time.perf_counter()
            pattern.matches(path)
            best = min(best, time.perf_counter() - began)
        section.add(
            Row(
                f"`{source}`",
                {"time": fmt(best * 1e6) + " µs"},
                value=best * 1000,
                target=Target("<", 1, "ms"),
                data={"seconds": best, "path_bytes": len(path)},
            )
        )
    return section


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_memory(rules: Path, *, requests: int = 100_000) -> Section:
    """RSS growth of a middleware in this process over `requests` unique 64 KB paths and Accept-Language headers."""
    from compliance import ComplianceMiddleware

    section = Section("attack_memory", "Memory under unique 64 KB paths and headers", ["requests", "RSS growth"])
    body = b"<html><body><p>story</p></body></html>"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": body})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    mw = ComplianceMiddleware(app, rules=rules, reload_interval=None, metrics=False)
    ru = "95.173.136.70"
    filler = "a" * (_KB64 - 32)
    language = ",".join(["en-gb;q=0.5"] * (_KB64 // 12))

    def scope(n: int, path: str, accept: str) -> dict[str, Any]:
        headers = [(b"host", b"www.example.org"), (b"accept-language", accept.encode())]
        return {"type": "http", "method": "GET", "path": path, "headers": headers, "client": (ru, 1)}

    async def run() -> int:
        for n in range(2_000):  # warm
            await mw(scope(n, f"/news/{n}", f"ru-{n % 50}"), receive, send)
        gc.collect()
        warm = _rss()
        for n in range(requests):
            await mw(scope(n, f"/news/{n}/{filler}", f"x-{n}-{language}"), receive, send)
        gc.collect()
        return _rss() - warm

    grown = asyncio.run(run())
    section.add(
        Row(
            "unique 64 KB path and 64 KB Accept-Language per request, in process",
            {"requests": f"{requests:,}", "RSS growth": fmt(grown / 2**20) + " MB"},
            value=grown / 2**20,
            target=Target("<=", 50, "MB"),
            data={"bytes": grown, "requests": requests},
        )
    )
    return section


if __name__ == "__main__":
    import sys

    print(run_patterns().markdown())
    if "--memory" in sys.argv:
        print(run_memory(Path(__file__).resolve().parent.parent / "rules").markdown())
