"""The example news site with a streamed page and pages served from files, wrapped as examples/app.py wraps it.

Served by tests/test_servers.py under each server as a process of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from compliance import ComplianceMiddleware
from examples.news_site import app as site

ROOT = Path(__file__).resolve().parent.parent
PAGES = Path(__file__).resolve().parent / "pages"
#: How long the streamed page waits between its first part and the rest.
PAUSE = 1.0


async def live(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        yield b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Live</title></head><body>"
        yield b"<article><h1>Live: the river port</h1><!-- legal-notice --><p>First update.</p>"
        await anyio.sleep(PAUSE)
        yield b"<p>Second update.</p></article></body></html>"

    # Charset and language in the headers: nothing is left to learn from the first bytes.
    return StreamingResponse(parts(), media_type="text/html; charset=utf-8", headers={"Content-Language": "en"})


#: A page with no charset in its Content-Type, sent 16 bytes at a time.
TRICKLED = b"<html lang='en'><head><title>Live</title></head><body><p>First.</p><p>Second.</p></body></html>"
TRICKLE_PAUSE = 0.25


async def trickle(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        for at in range(0, len(TRICKLED), 16):
            if at and "whole" not in request.query_params:
                await anyio.sleep(TRICKLE_PAUSE)
            yield TRICKLED[at : at + 16]

    if "whole" in request.query_params:
        return Response(TRICKLED, media_type="text/html")
    return StreamingResponse(parts(), media_type="text/html")


async def file_page(request: Request) -> FileResponse:
    return FileResponse(PAGES / "article.html", media_type="text/html; charset=utf-8")


inner = Starlette(
    routes=[
        Route("/live/river-port", live),
        Route("/live/trickle", trickle),
        Route("/files/article", file_page),
        Mount("/pages", StaticFiles(directory=PAGES)),
        Mount("/", site),
    ]
)

app = ComplianceMiddleware(inner, rules=str(ROOT / "rules"), trusted_proxies=["127.0.0.1", "::1"])
