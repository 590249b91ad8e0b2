"""Northwind News wrapped by the middleware: the one line a platform engineer adds.

Serve it with `make demo`, or `uvicorn --no-proxy-headers examples.app:app` (with
uvicorn's proxy headers on, uvicorn itself would rewrite the client address from
`X-Forwarded-For` before the middleware sees it). Forwarding headers are
believed from loopback only, so the demo can play a reader anywhere with
`X-Forwarded-For`; in production list your load balancer's or CDN's addresses.
"""

from __future__ import annotations

import os
from pathlib import Path

from compliance import ComplianceMiddleware
from examples.news_site import app as site

ROOT = Path(__file__).resolve().parent.parent

app = ComplianceMiddleware(
    site,
    rules=os.environ.get("COMPLIANCE_RULES", str(ROOT / "rules")),
    trusted_proxies=["127.0.0.1", "::1"],
)
