"""`make demo`: serve the wrapped example site on 127.0.0.1 and print what to try."""

from __future__ import annotations

import os
import sys

import uvicorn

HOST = "127.0.0.1"


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    base = f"http://{HOST}:{port}"
    article = f"{base}/news/press-freedom-report"
    print(
        f"""
Northwind News, wrapped by ComplianceMiddleware, at {base}/
Rules: rules/   Jurisdiction data: the embedded table (no download needed)

Try, in another terminal (loopback is a trusted proxy in this demo, so
X-Forwarded-For plays a reader anywhere):

  # A reader in Russia (95.173.136.70) sees the warning where the article has its marker:
  curl -s -H 'X-Forwarded-For: 95.173.136.70' {article} | grep '<aside'

  # ... in Russian on the Russian edition (the notice speaks the page's language):
  curl -s -H 'X-Forwarded-For: 95.173.136.70' {base}/ru/news/doklad-o-svobode-pressy | grep '<aside'

  # A reader in the United States (8.8.8.8) gets the page as the site wrote it:
  curl -s -H 'X-Forwarded-For: 8.8.8.8' {article} | grep -c 'data-legal-notice'

  # Both responses say a shared cache must not mix them up:
  curl -sI -H 'X-Forwarded-For: 8.8.8.8' {article} | grep -i cache-control

  # Static files and /healthz are excluded by the rules, and pass untouched:
  curl -sI -H 'X-Forwarded-For: 95.173.136.70' {base}/static/site.css

  # What the site itself sees (request.state.jurisdiction):
  curl -s -H 'X-Forwarded-For: 95.173.136.70' {base}/about | grep jurisdiction

  # Why, in the legal team's words:
  .venv/bin/compliance explain --rules rules --ip 95.173.136.70 --path /news/press-freedom-report

Press Ctrl+C to stop.
""",
        flush=True,
    )
    # uvicorn's own proxy handling is off: the middleware reads X-Forwarded-For from trusted_proxies itself
    # (with it on, uvicorn would replace the client address before the middleware sees the peer).
    uvicorn.run("examples.app:app", host=HOST, port=port, log_level="warning", proxy_headers=False)


if __name__ == "__main__":
    sys.exit(main())
