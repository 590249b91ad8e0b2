"""The benchmark's server: `python -m bench.serve PORT RULES [--workers N] [--deployed AUDIT_FILE]`.

uvicorn on loopback, httptools, no access log, serving the benchmark's 100 KB
page as a Starlette `HTMLResponse` (and `/api/...` as JSON), bare under
`/bare/...` and wrapped in ComplianceMiddleware everywhere else (`/bare/news/x`
is the bare app's `/news/x`). Both live in one process so that they share its
core, memory and scheduling: only the middleware differs. The wrapped app
trusts loopback as a proxy, so the load tool's `X-Forwarded-For` plays the
reader.

`--workers N` runs N uvicorn worker processes; `--deployed AUDIT_FILE` runs the
middleware as the operations guide deploys it: metrics on, and the audit events
through `AuditFileHandler` to AUDIT_FILE, set up in each worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from .apps import ours, starlette_app
from .page import api_body, news_page

BARE_PREFIX = "/bare"
_RULES, _DEPLOYED = "COMPLIANCE_BENCH_RULES", "COMPLIANCE_BENCH_AUDIT_FILE"


def both(rules: Path, *, deployed: str | None = None) -> ASGIApp:
    bare = starlette_app(news_page(), api_body())
    if deployed:
        from compliance.observe.audit_file import AuditFileHandler

        audit = logging.getLogger("compliance.audit")
        audit.addHandler(AuditFileHandler(deployed))
        audit.setLevel(logging.INFO)
        audit.propagate = False
    wrapped = ours(bare, rules, trusted_proxies=["127.0.0.1"], metrics=bool(deployed))
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


def factory() -> ASGIApp:
    """The app of one worker, configured by the environment `main` sets."""
    return both(Path(os.environ[_RULES]), deployed=os.environ.get(_DEPLOYED) or None)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("port", type=int)
    parser.add_argument("rules", type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--deployed", default="")
    args = parser.parse_args(argv)
    os.environ[_RULES] = os.fspath(args.rules)
    os.environ[_DEPLOYED] = args.deployed
    uvicorn.run(
        "bench.serve:factory",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        workers=args.workers,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
