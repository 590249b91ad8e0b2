"""The middleware and shared caches: the edge's class header, and the private fallback that stops every cache."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from compliance import ComplianceMiddleware
from compliance.observe.metrics import Metrics
from compliance.reader.token import mint
from compliance.rules.classes import NO_NOTICE_CLASS
from tests.conftest import RU_IP, US_IP, http_scope, rule_file, run_asgi

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Story</p></body></html>"
RU_RULE = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    except_paths: ["/static/**"]
"""
PROXY = ("10.0.0.5", 1)
ETAG = b'"v1"'
LAST_MODIFIED = b"Mon, 01 Jan 2024 00:00:00 GMT"


def app_with(headers: list[tuple[bytes, bytes]]) -> Any:
    """A news page that honours If-None-Match, If-Modified-Since and Range as real apps do."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = dict(scope["headers"])
        base = [(b"content-type", b"text/html; charset=utf-8"), (b"etag", ETAG), (b"last-modified", LAST_MODIFIED)]
        base += headers
        if request.get(b"if-none-match") == ETAG or request.get(b"if-modified-since") == LAST_MODIFIED:
            await send({"type": "http.response.start", "status": 304, "headers": base})
            await send({"type": "http.response.body", "body": b""})
            return
        if b"range" in request:
            body = PAGE[:10]
            base += [(b"content-range", f"bytes 0-9/{len(PAGE)}".encode()), (b"content-length", b"10")]
            await send({"type": "http.response.start", "status": 206, "headers": base})
            await send({"type": "http.response.body", "body": body})
            return
        base += [(b"content-length", str(len(PAGE)).encode()), (b"accept-ranges", b"bytes")]
        await send({"type": "http.response.start", "status": 200, "headers": base})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else PAGE})

    return app


TEST_SECRET = "a-test-secret-of-32-characters!!"


def middleware(tmp_path: Path, app_headers: Sequence[tuple[bytes, bytes]] = (), **options: Any) -> ComplianceMiddleware:
    options.setdefault("trusted_proxies", ["10.0.0.0/8"])
    options.setdefault("metrics", False)
    return ComplianceMiddleware(app_with(list(app_headers)), rules=rule_file(tmp_path, RU_RULE), **options)


def class_value(mw: ComplianceMiddleware, member: str) -> bytes:
    from compliance.rules.classes import ClassTable

    classes = ClassTable(mw.rules.engine).at(time.time())
    return classes.header_value(classes.members[member]).encode()


def via_edge(
    reader_ip: str, value: bytes | None, extra: Sequence[tuple[bytes, bytes]] = (), **kw: Any
) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", reader_ip.encode()), *extra]
    if value is not None:
        headers.append((b"compliance-class", value))
    return http_scope("/story", client=PROXY, headers=headers, **kw)


PUBLIC = [(b"cache-control", b"public, max-age=600")]


# -- the class header ----------------------------------------------------------------


def test_with_the_edge_class_a_covered_page_stays_publicly_cacheable_and_varies_on_the_class(tmp_path: Path) -> None:
    mw = middleware(tmp_path, PUBLIC, class_header="Compliance-Class")
    ru = run_asgi(mw, via_edge(RU_IP, class_value(mw, "RU")))
    assert b'data-legal-notice="warning"' in ru.body
    assert ru.header("cache-control") == "public, max-age=600"
    assert "Compliance-Class" in (ru.header("vary") or "")
    us = run_asgi(mw, via_edge(US_IP, class_value(mw, "US")))
    assert us.body == PAGE
    assert us.header("cache-control") == "public, max-age=600"
    assert us.header("vary") == "Compliance-Class"
    # The validator names the class: no two classes share one.
    assert us.header("etag") == '"v1.none"'
    assert us.header("last-modified") is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"no-such-class;v=000000000000",
        b"none",  # no version
        b"none;v=0123456789ab",  # a version no longer in force
    ],
)
def test_without_a_class_of_the_map_in_force_the_page_falls_back_to_private(tmp_path: Path, value: bytes) -> None:
    mw = middleware(tmp_path, PUBLIC, class_header="Compliance-Class")
    sent = run_asgi(mw, via_edge(US_IP, value))
    assert sent.header("cache-control") == "private, max-age=600"
    assert "Compliance-Class" not in (sent.header("vary") or "")


def test_the_class_header_from_a_peer_that_is_not_a_trusted_proxy_is_not_believed(tmp_path: Path) -> None:
    mw = middleware(tmp_path, PUBLIC, class_header="Compliance-Class")
    scope = http_scope("/story", client=(RU_IP, 1), headers=[(b"compliance-class", class_value(mw, "US"))])
    sent = run_asgi(mw, scope)
    assert b"data-legal-notice" in sent.body
    assert sent.header("cache-control") == "private, max-age=600"


def test_edge_and_middleware_disagree_the_edge_wins_and_it_is_counted_and_audited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    mw = middleware(tmp_path, PUBLIC, class_header="Compliance-Class", metrics=Metrics(registry))
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["jurisdiction"] = scope["state"]["jurisdiction"]
        await app_with(PUBLIC)(scope, receive, send)

    mw.app = app
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        # The middleware places this reader in the US; the edge keyed its cache on Russia's class.
        sent = run_asgi(mw, via_edge(US_IP, class_value(mw, "RU")))
    assert b'data-legal-notice="warning"' in sent.body
    ru_class = class_value(mw, "RU").split(b";")[0].decode()
    assert seen["jurisdiction"].country == "US"
    assert seen["jurisdiction"].jurisdiction_class == ru_class
    assert registry.get_sample_value("compliance_edge_class_disagreements_total") == 1.0
    event = json.loads(caplog.records[-1].getMessage())
    assert event["class"] == ru_class and event["own_class"] == NO_NOTICE_CLASS
    # Agreement is not counted.
    run_asgi(mw, via_edge(RU_IP, class_value(mw, "RU")))
    assert registry.get_sample_value("compliance_edge_class_disagreements_total") == 1.0


def test_a_test_token_decides_and_is_never_stored(tmp_path: Path) -> None:
    mw = middleware(tmp_path, PUBLIC, class_header="Compliance-Class", test_secret=TEST_SECRET)
    token = (b"compliance-test-jurisdiction", mint(TEST_SECRET, "test", "RU").encode())
    sent = run_asgi(mw, via_edge(US_IP, class_value(mw, "US"), [token]))
    assert b'data-legal-notice="warning"' in sent.body
    assert sent.header("cache-control") == "private, max-age=600, no-store"
    assert sent.header("compliance-test") == "honoured"


# -- the private fallback --------------------------------------------------------------


SHARED = [
    (b"cache-control", b"public, max-age=60, s-maxage=600"),
    (b"surrogate-control", b"max-age=600"),
    (b"cdn-cache-control", b"max-age=600"),
    (b"cloudflare-cdn-cache-control", b"max-age=600"),
    (b"x-accel-expires", b"600"),
    (b"surrogate-key", b"story-1"),
]


@pytest.mark.parametrize("reader", [RU_IP, US_IP])
def test_the_fallback_neutralises_every_shared_cache_field_and_keeps_purge_keys(tmp_path: Path, reader: str) -> None:
    sent = run_asgi(middleware(tmp_path, SHARED), http_scope("/story", client=(reader, 1)))
    names = {k for k, _ in sent.headers}
    assert sent.header("cache-control") == "private, max-age=60"
    assert not names & {b"surrogate-control", b"cdn-cache-control", b"cloudflare-cdn-cache-control", b"x-accel-expires"}
    assert sent.header("surrogate-key") == "story-1"
    assert sent.header("etag") is None and sent.header("last-modified") is None


def test_an_uncovered_page_keeps_every_cache_field(tmp_path: Path) -> None:
    sent = run_asgi(middleware(tmp_path, SHARED), http_scope("/static/app.css", client=(RU_IP, 1)))
    assert sent.header("x-accel-expires") == "600"
    assert sent.header("etag") == ETAG.decode()


@pytest.mark.parametrize(
    "conditional", [(b"if-none-match", ETAG), (b"if-modified-since", LAST_MODIFIED), (b"if-none-match", b"*")]
)
def test_a_revalidation_never_keeps_a_reader_who_is_due_a_notice_on_a_copy_without_it(
    tmp_path: Path, conditional: tuple[bytes, bytes]
) -> None:
    # The reader kept the app's copy from before (or from elsewhere) and asks whether it changed.
    sent = run_asgi(middleware(tmp_path), http_scope("/story", client=(RU_IP, 1), headers=[conditional]))
    assert sent.start["status"] == 200
    assert b'data-legal-notice="warning"' in sent.body


def test_with_the_edge_class_a_revalidation_of_the_same_class_is_a_304_and_of_another_is_not(tmp_path: Path) -> None:
    mw = middleware(tmp_path, class_header="Compliance-Class")
    us = run_asgi(mw, via_edge(US_IP, class_value(mw, "US")))
    tag = us.header("etag")
    assert tag is not None
    again = run_asgi(mw, via_edge(US_IP, class_value(mw, "US"), [(b"if-none-match", tag.encode())]))
    assert again.start["status"] == 304
    assert again.header("etag") == tag
    moved = run_asgi(mw, via_edge(RU_IP, class_value(mw, "RU"), [(b"if-none-match", tag.encode())]))
    assert moved.start["status"] == 200
    assert b'data-legal-notice="warning"' in moved.body


def test_a_range_request_where_a_notice_is_due_gets_the_whole_page(tmp_path: Path) -> None:
    mw = middleware(tmp_path)
    sent = run_asgi(mw, http_scope("/story", client=(RU_IP, 1), headers=[(b"range", b"bytes=0-9")]))
    assert sent.start["status"] == 200
    assert sent.body.startswith(PAGE[:40]) and b'data-legal-notice="warning"' in sent.body
    assert sent.header("accept-ranges") is None
    # Where nothing is due, the range is the app's to answer.
    us = run_asgi(mw, http_scope("/story", client=(US_IP, 1), headers=[(b"range", b"bytes=0-9")]))
    assert us.start["status"] == 206 and us.body == PAGE[:10]


def test_head_agrees_with_get_on_content_length(tmp_path: Path) -> None:
    mw = middleware(tmp_path)
    get = run_asgi(mw, http_scope("/story", client=(RU_IP, 1)))
    head = run_asgi(mw, http_scope("/story", client=(RU_IP, 1), method="HEAD"))
    assert get.header("content-length") == str(len(get.body))
    assert head.header("content-length") in (None, get.header("content-length"))
    assert head.header("etag") is None


def test_vary_accept_language_when_the_notice_followed_it(tmp_path: Path) -> None:
    mw = middleware(tmp_path)
    followed = run_asgi(mw, http_scope("/story", client=(RU_IP, 1), headers=[(b"accept-language", b"ru")]))
    assert 'lang="ru"' in followed.body.decode()
    assert "Accept-Language" in (followed.header("vary") or "")
    pinned = middleware(tmp_path, [(b"content-language", b"en")])
    sent = run_asgi(pinned, http_scope("/story", client=(RU_IP, 1), headers=[(b"accept-language", b"ru")]))
    assert 'lang="en"' in sent.body.decode()
    assert "Accept-Language" not in (sent.header("vary") or "")
