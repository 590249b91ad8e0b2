"""A Quart app wrapped in one line: `app.asgi_app = ComplianceMiddleware(app.asgi_app, rules=...)`."""

from __future__ import annotations

from pathlib import Path

from quart import Quart

from compliance import ComplianceMiddleware

RULES = Path(__file__).resolve().parent.parent.parent / "rules"

app = Quart(__name__)


@app.get("/news/<slug>")
async def article(slug: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story</title></head>"
        "<body><article><h1>A story from the Quart edition</h1><p>Text.</p>"
        "<!-- legal-notice --></article></body></html>"
    )


@app.get("/api/articles")
async def articles() -> dict[str, list[str]]:
    return {"articles": ["river-port-reopens"]}


app.asgi_app = ComplianceMiddleware(app.asgi_app, rules=RULES, trusted_proxies=["127.0.0.1"])  # type: ignore[method-assign]
