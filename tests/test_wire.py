"""Over a real uvicorn on loopback: what a browser receives, Content-Length included.

httpx's ASGI transport does not notice a wrong Content-Length; a real server sends a
truncated body and closes the connection, so these tests go over the wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from compliance import ComplianceMiddleware
from examples.news_site import app as site
from tests.conftest import RU_IP, US_IP, chunked_app, rule_file
from tests.server import serve

RULES = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
"""


@pytest.fixture(scope="module")
def news_url() -> Any:
    app = ComplianceMiddleware(
        site, rules=Path(__file__).resolve().parent.parent / "rules", trusted_proxies=["127.0.0.1"]
    )
    with serve(app) as url:
        yield url


def test_reader_in_russia_gets_a_complete_page_with_the_right_length(news_url: str) -> None:
    with httpx.Client() as client:
        r = client.get(f"{news_url}/news/river-port-reopens", headers={"X-Forwarded-For": RU_IP})
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.text.rstrip().endswith("</html>")
    assert r.text.count('data-legal-notice="undesirable-organization"') == 1


def test_reader_elsewhere_gets_the_bare_page_over_the_wire(news_url: str) -> None:
    with httpx.Client() as client:
        wrapped = client.get(f"{news_url}/news/river-port-reopens", headers={"X-Forwarded-For": US_IP})
    assert "data-legal-notice" not in wrapped.text
    assert wrapped.headers["cache-control"] == "private"


def test_keep_alive_connection_survives_many_rewritten_pages(news_url: str) -> None:
    with httpx.Client() as client:
        for i in range(30):
            ip = RU_IP if i % 2 else US_IP
            r = client.get(f"{news_url}/news/council-budget-vote", headers={"X-Forwarded-For": ip})
            assert int(r.headers["content-length"]) == len(r.content)
            assert ("data-legal-notice" in r.text) == (ip == RU_IP)


def test_a_streamed_page_arrives_chunked_and_whole(tmp_path: Path) -> None:
    chunks = [b"<html><head></head><body>", *[b"<p>%d</p>" % i for i in range(500)], b"</body></html>"]
    app = ComplianceMiddleware(chunked_app(chunks), rules=rule_file(tmp_path, RULES), trusted_proxies=["127.0.0.1"])
    with serve(app) as url, httpx.Client() as client:
        r = client.get(f"{url}/story", headers={"X-Forwarded-For": RU_IP})
    assert "content-length" not in r.headers
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.content.startswith(b"<html><head>")
    assert r.content.endswith(b"</aside></body></html>")
    assert r.content.count(b"<p>") == 500 + 2  # the article's paragraphs, the notice's text and link
