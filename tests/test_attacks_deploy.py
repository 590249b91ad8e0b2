"""Deployment traps, on a real uvicorn over loopback: the middleware reports what it can see of them."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from compliance import ComplianceMiddleware
from tests.conftest import RU_IP, rule_file
from tests.server import serve

RULES = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
"""


async def page(scope: object, receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"<html><body>story</body></html>"})  # type: ignore[operator]


def warnings(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(1 for r in caplog.records if r.name == "compliance" and words in r.getMessage())


def test_uvicorn_proxy_headers_are_detected_and_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The trap: uvicorn's default proxy handling believes X-Forwarded-For from loopback, so a client
    # on loopback chooses Russia although no proxy is trusted by the middleware.
    mw = ComplianceMiddleware(page, rules=rule_file(tmp_path, RULES), reload_interval=None, trusted_proxies=[])
    with caplog.at_level(logging.WARNING, "compliance"), serve(mw, proxy_headers=True) as url:
        for _ in range(3):
            httpx.get(url + "/news/a", headers={"X-Forwarded-For": RU_IP})
    assert warnings(caplog, "--no-proxy-headers") == 1


def test_no_warning_when_uvicorn_leaves_the_client_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mw = ComplianceMiddleware(
        page, rules=rule_file(tmp_path, RULES), reload_interval=None, trusted_proxies=["127.0.0.1"]
    )
    with caplog.at_level(logging.WARNING, "compliance"), serve(mw) as url:
        response = httpx.get(url + "/news/a", headers={"X-Forwarded-For": RU_IP})
    assert 'data-legal-notice="warning"' in response.text
    assert warnings(caplog, "--no-proxy-headers") == 0
    assert warnings(caplog, "no trusted_proxies") == 0


def test_forwarding_headers_from_a_private_peer_without_trusted_proxies_are_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mw = ComplianceMiddleware(page, rules=rule_file(tmp_path, RULES), reload_interval=None)
    with caplog.at_level(logging.WARNING, "compliance"), serve(mw) as url:
        for _ in range(3):
            response = httpx.get(url + "/news/a", headers={"X-Forwarded-For": RU_IP})
            assert "data-legal-notice" not in response.text  # the header is ignored, as it must be
    assert warnings(caplog, "no trusted_proxies") == 1
    assert warnings(caplog, "--no-proxy-headers") == 0
