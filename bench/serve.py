"""The benchmark's server: `python -m bench.serve PORT RULES`.

uvicorn on loopback, httptools, one worker, no access log, serving the
benchmark's 100 KB page as a Starlette `HTMLResponse` (and `/api/...` as JSON),
bare under `/bare/...` and wrapped in ComplianceMiddleware everywhere else
(`/bare/news/x` is the bare app's `/news/x`). Both live in one process so that
they share its core, memory and scheduling: only the middleware differs. The
wrapped app trusts loopback as a proxy, so the load tool's `X-Forwarded-For`
plays the reader.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from .apps import ours, starlette_app
from .page import api_body, news_page

BARE_PREFIX = "/bare"


def both(rules: Path) -> ASGIApp:
    bare = starlette_app(news_page(), api_body())
    wrapped = ours(bare, rules, trusted_proxies=["127.0.0.1"])
    prefix = BARE_PREFIX + "/"
    cut = len(BARE_PREFIX)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path.startswith(prefix):
            scope = {**scope, "path": path[cut:], "raw_path": scope["raw_path"][cut:]}
            await bare(scope, receive, send)
        else:
            await wrapped(scope, receive, send)

    return app


def main(argv: list[str]) -> None:
    port, rules = int(argv[0]), Path(argv[1])
    uvicorn.run(
        both(rules),
        host="127.0.0.1",
        port=port,
        http="httptools",
        workers=1,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
