"""Memory over many requests, each a distinct URL from a reader of one of 200 jurisdictions.

`python -m bench.memory_scale REQUESTS RULES` runs in a process of its own (so
that its resident size is the middleware's, not the rest of the benchmark's)
and prints one JSON object. In process: the wrapped app's ASGI callable is
driven directly, no socket; the app sends a small page (the page's size does not
change what the middleware keeps). Each request asks for a path never asked
before, in one of 40 sections, for a reader whose country the trusted CDN header
`CF-IPCountry` gives, one of 200 countries in turn. The resident set size
(`/proc/self/statm`) and Python's live allocated blocks are read after 10 %,
50 % and 100 % of the requests, each after a full collection.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from pathlib import Path

from compliance import ComplianceMiddleware
from compliance.reader.jurisdiction import country_codes

from .apps import raw_app
from .driver import http_scope
from .model import Row, Section, Target, fmt

__all__ = ["FLAT_MB", "run_memory_scale"]

#: "Flat": the resident size grows by less than this between 10 % and 100 % of the requests.
FLAT_MB = 5.0
_PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><article><h1>h</h1><p>x</p></article></body></html>"
_SECTIONS = ["news", "world", *(f"section{i}" for i in range(38))]


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _drive(app: ComplianceMiddleware, requests: int) -> list[dict[str, float]]:
    countries = sorted(c for c in country_codes() if c not in ("XX", "ZZ"))[:200]
    assert len(countries) == 200
    base = http_scope("/", "127.0.0.1")
    headers = [[*base["headers"], (b"cf-ipcountry", c.encode())] for c in countries]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    noticed = 0

    async def send(message: dict[str, object]) -> None:
        nonlocal noticed
        if message["type"] == "http.response.body" and b"legal-notice" in message.get("body", b""):  # type: ignore[operator]
            noticed += 1

    marks = {requests // 10: "10%", requests // 2: "50%", requests: "100%"}
    points: list[dict[str, float]] = []
    began = time.perf_counter()
    for i in range(1, requests + 1):
        path = f"/{_SECTIONS[i % 40]}/{i}-story"
        scope = {**base, "path": path, "raw_path": path.encode(), "headers": headers[i % 200]}
        await app(scope, receive, send)
        if i in marks:
            gc.collect()
            points.append(
                {
                    "at": i,
                    "rss_mb": _rss_mb(),
                    "blocks": sys.getallocatedblocks(),
                    "seconds": time.perf_counter() - began,
                    "with_notice": noticed,
                }
            )
    return points


def main(argv: list[str]) -> None:
    requests, rules = int(argv[0]), Path(argv[1])
    app = ComplianceMiddleware(
        raw_app(_PAGE),
        rules=rules,
        trusted_proxies=["127.0.0.1"],
        country_header="CF-IPCountry",
        metrics=False,
        reload_interval=None,
    )
    print(json.dumps({"requests": requests, "points": asyncio.run(_drive(app, requests))}))


def run_memory_scale(rules: Path, *, requests: int, quick: bool) -> Section:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory_scale", str(requests), os.fspath(rules)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    points = json.loads(out)["points"]
    first, middle, last = points
    growth = last["rss_mb"] - first["rss_mb"]
    section = Section(
        "memory_scale",
        "Memory over distinct URLs from 200 jurisdictions (in process, 1,004 rules)",
        [
            "RSS at 10 %",
            "RSS at 50 %",
            "RSS at 100 %",
            "growth 10 % → 100 %",
            "live blocks 10 % → 100 %",
            "req/s",
            "with a notice",
        ],
    )
    section.add(
        Row(
            f"{requests:,} requests, each a distinct URL, readers of 200 jurisdictions"
            + (" (--quick: fewer requests than the target's 1,000,000)" if quick else ""),
            {
                "RSS at 10 %": f"{fmt(first['rss_mb'])} MB",
                "RSS at 50 %": f"{fmt(middle['rss_mb'])} MB",
                "RSS at 100 %": f"{fmt(last['rss_mb'])} MB",
                "growth 10 % → 100 %": f"{growth:+.1f} MB",
                "live blocks 10 % → 100 %": f"{int(last['blocks'] - first['blocks']):+,}",
                "req/s": fmt(requests / last["seconds"]),
                "with a notice": f"{last['with_notice'] / requests:.0%}",
            },
            value=growth,
            target=Target("<", FLAT_MB, "MB"),
            data={"requests": requests, "points": points, "growth_mb": growth},
        )
    )
    section.notes.append(
        f"Flat means the resident size grows by less than {FLAT_MB:g} MB between 10 % and 100 % of the requests "
        "(one run in a process of its own, read after a full collection; live blocks: sys.getallocatedblocks). "
        "The app sends a 110-byte page; each path is new, in one of 40 sections; the reader's country comes "
        "from a trusted CF-IPCountry header, 200 countries in turn."
    )
    return section


if __name__ == "__main__":
    main(sys.argv[1:])
