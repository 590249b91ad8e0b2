"""A FastAPI app wrapped in one line: `app.add_middleware(ComplianceMiddleware, rules=...)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from compliance import ComplianceMiddleware

RULES = Path(__file__).resolve().parent.parent.parent / "rules"

app = FastAPI()


@app.get("/news/{slug}", response_class=HTMLResponse)
async def article(slug: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{slug}</title></head>
<body><article><h1>A story from the FastAPI edition</h1><p>Text.</p><!-- legal-notice --></article></body></html>"""


@app.get("/api/articles")
async def articles() -> dict[str, list[str]]:
    return {"articles": ["river-port-reopens"]}


app.add_middleware(ComplianceMiddleware, rules=RULES, trusted_proxies=["127.0.0.1"])
