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
ONE_LANGUAGE = """
notices:
  warning:
    title: Test warning
    text: {en: "Readers here: take care."}
"""


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
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
                "trailers": True,
            }
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


@pytest.mark.parametrize(
    ("content_type", "streams"),
    [(b"text/html; charset=utf-8", True), (b"application/json", True), (b"text/html", False)],
)
def test_a_page_streamed_in_small_pieces_keeps_streaming_where_its_charset_is_known(
    tmp_path: Path, content_type: bytes, streams: bool
) -> None:
    import asyncio

    out: list[dict[str, Any]] = []
    seen_before_second: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": b"<html><body><p>" + b"x" * 16, "more_body": True})
        seen_before_second.append(sum(1 for m in out if m["type"] == "http.response.body" and m["body"]))
        await send({"type": "http.response.body", "body": b"</p></body></html>", "more_body": False})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    # one language: nothing to learn from `<html lang>` (a notice in several waits for it, at most 50 ms)
    rules = rule_file(tmp_path, RULES, notices=ONE_LANGUAGE)
    asyncio.run(ComplianceMiddleware(app, rules=rules)(http_scope(), receive, send))
    assert seen_before_second == [1 if streams else 0]


def test_without_a_charset_the_first_bytes_wait_no_longer_than_50_ms(tmp_path: Path) -> None:
    import asyncio

    out: list[dict[str, Any]] = []
    seen_before_second: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html><body><p>", "more_body": True})
        await asyncio.sleep(0.06)
        # the deadline sent the first bytes though the app sent nothing more
        seen_before_second.append(sum(1 for m in out if m["type"] == "http.response.body" and m["body"]))
        await send({"type": "http.response.body", "body": b"x" * 16, "more_body": True})
        await send({"type": "http.response.body", "body": b"</p></body></html>", "more_body": False})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    asyncio.run(ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES))(http_scope(), receive, send))
    assert seen_before_second == [1]
    body = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
    assert b'data-legal-notice="warning"' in body


@pytest.mark.parametrize("extension", ["http.response.pathsend", "http.response.zerocopysend"])
def test_a_page_due_a_notice_is_not_offered_a_path_or_zero_copy_send(tmp_path: Path, extension: str) -> None:
    offered: list[set[str]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        offered.append(set(scope.get("extensions") or {}))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": PAGE})

    scope = {**http_scope(), "extensions": {extension: {}, "http.response.trailers": {}}}
    sent = run_asgi(ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES)), scope)
    assert offered == [{"http.response.trailers"}]
    assert b'data-legal-notice="warning"' in sent.body
    # a reader who gets no notice is offered every extension the server has
    offered.clear()
    run_asgi(ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES)), {**scope, "client": ("8.8.8.8", 1)})
    assert offered == [{extension, "http.response.trailers"}]
