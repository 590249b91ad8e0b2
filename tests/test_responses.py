"""Every kind of response: header and JSON placements, 451 blocks, compressed bodies."""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest

from compliance import ComplianceMiddleware
from tests.conftest import US_IP, chunked_app, fetch, http_scope, rule_file, run_asgi
from tests.server import serve

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[import-not-found,no-redef]

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Story</p></body></html>"


def wrapped(tmp_path: Path, app: Any, rules: str, **options: Any) -> ComplianceMiddleware:
    return ComplianceMiddleware(app, rules=rule_file(tmp_path, rules), **options)


HEADER_RULE = """
rules:
  - id: ru-header
    notice: warning
    jurisdictions: [RU]
    placement: {header: X-Legal-Notices}
"""


@pytest.mark.parametrize("content_type", [b"text/html", b"application/json", b"image/png"])
def test_header_placement_names_the_notice_on_any_response(tmp_path: Path, content_type: bytes) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE], content_type=content_type), HEADER_RULE)
    sent = run_asgi(app, http_scope("/x"))
    assert sent.header("x-legal-notices") == "warning"
    assert sent.body == PAGE  # the body is not touched
    assert sent.header("content-length") == str(len(PAGE))


def test_header_placement_applies_to_head_too(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]), HEADER_RULE)
    assert run_asgi(app, http_scope("/x", method="HEAD")).header("x-legal-notices") == "warning"


def test_header_placement_is_absent_for_readers_elsewhere(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]), HEADER_RULE)
    sent = run_asgi(app, http_scope("/x", client=(US_IP, 1)))
    assert sent.header("x-legal-notices") is None
    assert sent.header("cache-control") == "private"


JSON_RULE = """
rules:
  - id: ru-json
    notice: warning
    jurisdictions: [RU]
    placement: {json: legal_notices}
"""


@pytest.mark.parametrize("content_type", [b"application/json", b"application/problem+json"])
def test_json_placement_adds_a_top_level_field(tmp_path: Path, content_type: bytes) -> None:
    body = json.dumps({"articles": [1, 2, 3]}).encode()
    app = wrapped(tmp_path, chunked_app([body[:5], body[5:]], content_type=content_type), JSON_RULE)
    sent = run_asgi(app, http_scope("/api", headers=[(b"accept-language", b"ru")]))
    document = json.loads(sent.body)
    assert document["articles"] == [1, 2, 3]
    assert document["legal_notices"] == [
        {
            "id": "warning",
            "language": "ru",
            "text": "Читатели здесь: будьте осторожны.",
            "link": {"href": "https://example.org/why", "text": "Почему?"},
        }
    ]


def test_json_placement_in_one_message_gets_an_exact_length(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([b"{}"], content_type=b"application/json"), JSON_RULE)
    sent = run_asgi(app, http_scope("/api"))
    assert json.loads(sent.body)["legal_notices"][0]["id"] == "warning"
    assert sent.header("content-length") == str(len(sent.body))


def test_a_json_array_passes_untouched_and_the_miss_is_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = wrapped(tmp_path, chunked_app([b"[1, 2]"], content_type=b"application/json"), JSON_RULE)
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        sent = run_asgi(app, http_scope("/api"))
    assert sent.body == b"[1, 2]"
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert event["rules"][0]["outcome"] == "missed"
    assert "not a JSON object" in event["rules"][0]["why"]


def test_html_placement_leaves_json_alone(tmp_path: Path) -> None:
    rules = JSON_RULE.replace("{json: legal_notices}", "body-end")
    app = wrapped(tmp_path, chunked_app([b'{"a": 1}'], content_type=b"application/json"), rules)
    assert run_asgi(app, http_scope("/api")).body == b'{"a": 1}'


BLOCK_RULE = """
rules:
  - id: ru-block
    notice: warning
    jurisdictions: [RU]
    paths: ["/banned/**"]
    action: block
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
"""


def _never_called(calls: list[str]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": PAGE})

    return app


def test_block_answers_451_with_the_notice_without_calling_the_app(tmp_path: Path) -> None:
    calls: list[str] = []
    app = wrapped(tmp_path, _never_called(calls), BLOCK_RULE)
    r = fetch(app, "/banned/story", headers={"Accept-Language": "ru"})
    assert r.status_code == 451
    assert calls == []
    assert 'data-legal-notice="warning"' in r.text
    assert "Читатели здесь" in r.text
    assert r.headers["link"] == '<https://example.org/why>; rel="blocked-by"'
    assert "private" in r.headers["cache-control"]
    assert r.headers["content-length"] == str(len(r.content))


def test_block_answers_json_to_a_client_that_prefers_it(tmp_path: Path) -> None:
    app = wrapped(tmp_path, _never_called([]), BLOCK_RULE)
    r = fetch(app, "/banned/story", headers={"Accept": "application/json"})
    assert r.status_code == 451
    assert r.json()["notices"][0]["id"] == "warning"


def test_block_is_only_for_the_jurisdiction_it_names(tmp_path: Path) -> None:
    calls: list[str] = []
    app = wrapped(tmp_path, _never_called(calls), BLOCK_RULE)
    r = fetch(app, "/banned/story", client=(US_IP, 1))
    assert r.status_code == 200
    assert calls == ["/banned/story"]


def test_block_from_a_cdn_header_varies_on_it(tmp_path: Path) -> None:
    app = wrapped(
        tmp_path, _never_called([]), BLOCK_RULE, trusted_proxies=["10.0.0.0/8"], country_header="CF-IPCountry"
    )
    sent = run_asgi(app, http_scope("/banned/x", client=("10.0.0.1", 1), headers=[(b"cf-ipcountry", b"RU")]))
    assert sent.start["status"] == 451
    assert sent.header("vary") == "CF-IPCountry"


def test_report_only_block_lets_the_page_through(tmp_path: Path) -> None:
    rules = BLOCK_RULE.replace("action: block", "action: block\n    mode: report-only")
    calls: list[str] = []
    app = wrapped(tmp_path, _never_called(calls), rules)
    assert fetch(app, "/banned/story").status_code == 200
    assert calls == ["/banned/story"]


WARNING_RULE = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
"""


def _compress(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return bytes(brotli.compress(data))
    return bytes(zstd.compress(data))


def _decompress(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "br":
        return bytes(brotli.decompress(data))
    return bytes(zstd.decompress(data))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("split", [False, True])
def test_compressed_pages_are_decoded_changed_and_encoded_again(tmp_path: Path, encoding: str, split: bool) -> None:
    packed = _compress(encoding, PAGE * 3)
    chunks = [packed[:7], packed[7:20], packed[20:]] if split else [packed]
    extra = [(b"content-encoding", encoding.encode()), (b"etag", b'"v1"')]
    app = wrapped(tmp_path, chunked_app(chunks, extra_headers=extra), WARNING_RULE)
    sent = run_asgi(app, http_scope("/story"))
    assert sent.header("content-encoding") == encoding
    assert sent.header("etag") is None
    plain = _decompress(encoding, sent.body)
    assert plain.count(b'data-legal-notice="warning"') == 1
    assert plain.replace(plain[plain.index(b"<aside") : plain.index(b"</aside>") + 8], b"") == PAGE * 3
    assert sent.header("content-length") in (None, str(len(sent.body)))  # right, or chunked


@pytest.mark.parametrize(("encoding", "body"), [("compress", b"\x1f\x9d..."), ("gzip", b"not gzip at all")])
def test_undecodable_bodies_pass_untouched_and_are_recorded_as_missed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, encoding: str, body: bytes
) -> None:
    extra = [(b"content-encoding", encoding.encode())]
    app = wrapped(tmp_path, chunked_app([body], extra_headers=extra), WARNING_RULE)
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        sent = run_asgi(app, http_scope("/story"))
    assert sent.body == body
    assert sent.header("content-length") == str(len(body))
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert event["rules"][0]["outcome"] == "missed"


def test_gzip_page_over_the_wire_has_a_right_length(tmp_path: Path) -> None:
    import httpx

    packed = gzip.compress(PAGE)
    app = wrapped(
        tmp_path,
        chunked_app([packed], extra_headers=[(b"content-encoding", b"gzip")]),
        WARNING_RULE,
        trusted_proxies=["127.0.0.1"],
    )
    with serve(app) as url, httpx.Client() as client:
        r = client.get(f"{url}/story", headers={"X-Forwarded-For": "95.173.136.70", "Accept-Encoding": "gzip"})
    assert b'data-legal-notice="warning"' in r.content  # httpx decoded it
    assert r.headers["content-encoding"] == "gzip"
