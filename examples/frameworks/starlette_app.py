"""A Starlette app wrapped in one line: `Middleware(ComplianceMiddleware, rules=...)`."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware

RULES = Path(__file__).resolve().parent.parent.parent / "rules"


async def article(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story</title></head>"
        "<body><article><h1>A story from the Starlette edition</h1><p>Text.</p>"
        "<!-- legal-notice --></article></body></html>"
    )


async def articles(request: Request) -> JSONResponse:
    return JSONResponse({"articles": ["river-port-reopens"]})


app = Starlette(
    routes=[Route("/news/{slug}", article), Route("/api/articles", articles)],
    middleware=[Middleware(ComplianceMiddleware, rules=RULES, trusted_proxies=["127.0.0.1"])],
)
