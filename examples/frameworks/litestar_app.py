"""A Litestar app wrapped in one line: `middleware=[DefineMiddleware(ComplianceMiddleware, rules=...)]`.

Litestar builds the middleware once per route handler; every instance over the same
rules shares one rule set, one watcher and one set of metrics.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar, MediaType, get
from litestar.middleware import DefineMiddleware

from compliance import ComplianceMiddleware

RULES = Path(__file__).resolve().parent.parent.parent / "rules"


@get("/news/{slug:str}", media_type=MediaType.HTML)
async def article() -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story</title></head>"
        "<body><article><h1>A story from the Litestar edition</h1><p>Text.</p>"
        "<!-- legal-notice --></article></body></html>"
    )


@get("/api/articles")
async def articles() -> dict[str, list[str]]:
    return {"articles": ["river-port-reopens"]}


app = Litestar(
    route_handlers=[article, articles],
    middleware=[DefineMiddleware(ComplianceMiddleware, rules=RULES, trusted_proxies=["127.0.0.1"])],
)
