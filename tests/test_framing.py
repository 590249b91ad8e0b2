"""How the response is framed around a changed body: Transfer-Encoding, stacked codings, trailers."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import brotli
import pytest

from compliance import ComplianceMiddleware
from tests.conftest import chunked_app, http_scope, rule_file, run_asgi

RULES = """
rules:
  - {id: r, notice: warning, jurisdictions: [RU]}
"""
PAGE = b"<html><body><p>x</p></body></html>"


def audit_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]


def test_a_chunked_response_never_also_gets_a_content_length(tmp_path: Path) -> None:
    app = chunked_app([PAGE], extra_headers=[(b"transfer-encoding", b"chunked")], content_length=False)
    sent = run_asgi(ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES)), http_scope())
    assert sent.header("content-length") is None
    assert sent.header("transfer-encoding") == "chunked"
    body = b"".join(m.get("body", b"") for m in sent.messages if m["type"] == "http.response.body")
    assert b'data-legal-notice="warning"' in body


def test_a_stacked_coding_is_passed_untouched_and_missed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    coded = brotli.compress(gzip.compress(PAGE))
    app = chunked_app([coded], extra_headers=[(b"content-encoding", b"gzip"), (b"content-encoding", b"br")])
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        sent = run_asgi(ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES)), http_scope())
    body = b"".join(m.get("body", b"") for m in sent.messages if m["type"] == "http.response.body")
    assert body == coded
    (event,) = audit_events(caplog)
    (rule,) = event["rules"]
    assert rule["outcome"] == "missed"
    assert "gzip, br" in rule["why"]


def test_trailers_do_not_make_a_second_audit_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")], "trailers": True}
        )
        await send({"type": "http.response.body", "body": PAGE, "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")], "more_trailers": False})

    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        sent = run_asgi(ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES)), http_scope())
    assert [m["type"] for m in sent.messages] == [
        "http.response.start",
        "http.response.body",
        "http.response.trailers",
    ]
    (event,) = audit_events(caplog)
    assert [r["outcome"] for r in event["rules"]] == ["injected"]
