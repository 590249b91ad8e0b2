"""The middleware end to end, in-process: what a reader, a cache and the app see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from compliance import ComplianceMiddleware, Jurisdiction, RuleFileError
from examples.news_site import app as site
from tests.conftest import RU_IP, US_IP, chunked_app, fetch, http_scope, rule_file, run_asgi

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Story</p></body></html>"
RU_RULE = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    except_paths: ["/static/**"]
"""


def wrapped(tmp_path: Path, app: Any, rules: str = RU_RULE, **options: Any) -> ComplianceMiddleware:
    return ComplianceMiddleware(app, rules=rule_file(tmp_path, rules), **options)


# -- the example site ------------------------------------------------------------------


@pytest.fixture
def news(example_rules: Path) -> ComplianceMiddleware:
    return ComplianceMiddleware(site, rules=example_rules, trusted_proxies=["127.0.0.1"])


def test_reader_in_russia_sees_the_warning_at_the_article_marker(news: ComplianceMiddleware) -> None:
    r = fetch(news, "/news/press-freedom-report", client=("127.0.0.1", 5000), headers={"X-Forwarded-For": RU_IP})
    assert r.status_code == 200
    html = r.text
    assert html.count('data-legal-notice="undesirable-organization"') == 1
    assert "<!-- legal-notice -->" not in html  # the marker is replaced
    assert html.index("data-legal-notice") < html.index("</article>")
    assert 'lang="en"' in html and "undesirable" in html
    assert r.headers["content-length"] == str(len(r.content))
    assert "private" in r.headers["cache-control"]


def test_the_notice_speaks_the_language_of_the_page(news: ComplianceMiddleware) -> None:
    r = fetch(news, "/ru/news/doklad-o-svobode-pressy", client=(RU_IP, 1), headers={"Accept-Language": "en"})
    assert '<aside class="legal-notice" data-legal-notice="undesirable-organization" lang="ru"' in r.text
    assert "нежелательной организацией" in r.text
    english = fetch(news, "/news/river-port-reopens", client=(RU_IP, 1), headers={"Accept-Language": "ru"})
    assert 'data-legal-notice="undesirable-organization" lang="en"' in english.text


def test_reader_in_occupied_crimea_sees_the_warning_through_a_group(example_rules: Path) -> None:
    from compliance.reader.databases import StaticResolver

    app = ComplianceMiddleware(site, rules=example_rules, resolver=StaticResolver({"176.104.32.0/19": "UA-43"}))
    r = fetch(app, "/news/river-port-reopens", client=("176.104.40.9", 1))
    assert 'data-legal-notice="undesirable-organization"' in r.text


def test_pages_without_a_marker_get_the_warning_at_the_end_of_the_body(news: ComplianceMiddleware) -> None:
    r = fetch(news, "/", client=(RU_IP, 1))
    html = r.text
    assert html.index('data-legal-notice="undesirable-organization"') < html.rindex("</body>")
    assert html.index("</footer>") < html.index('data-legal-notice="undesirable-organization"')


def test_the_notice_css_goes_once_before_head_end(news: ComplianceMiddleware) -> None:
    html = fetch(news, "/", client=(RU_IP, 1)).text
    assert html.count("<style>") == 1
    assert html.index("<style>") < html.index("</head>")


def test_reader_in_the_united_states_gets_the_page_as_written(news: ComplianceMiddleware) -> None:
    bare = fetch(site, "/news/press-freedom-report", client=(US_IP, 1))
    r = fetch(news, "/news/press-freedom-report", client=(US_IP, 1))
    assert r.content == bare.content
    assert "data-legal-notice" not in r.text
    assert r.headers["cache-control"] == "private"  # only the cache header is added
    assert r.headers["content-length"] == bare.headers["content-length"]


def test_excluded_paths_pass_byte_for_byte_headers_included(news: ComplianceMiddleware) -> None:
    for path in ("/static/site.css", "/healthz", "/api/articles"):
        bare = fetch(site, path, client=(RU_IP, 1))
        r = fetch(news, path, client=(RU_IP, 1))
        assert r.content == bare.content
        assert r.headers.raw == bare.headers.raw, path


def test_app_reads_the_jurisdiction_from_request_state(news: ComplianceMiddleware) -> None:
    r = fetch(news, "/about", client=("127.0.0.1", 1), headers={"X-Forwarded-For": RU_IP})
    assert "RU via embedded" in r.text


def test_forwarded_for_from_an_untrusted_peer_is_ignored(news: ComplianceMiddleware) -> None:
    r = fetch(news, "/news/river-port-reopens", client=(US_IP, 1), headers={"X-Forwarded-For": RU_IP})
    assert "data-legal-notice" not in r.text


def test_private_addresses_are_unknown_and_get_no_notice(news: ComplianceMiddleware) -> None:
    r = fetch(news, "/news/river-port-reopens", client=("10.1.2.3", 1))
    assert "data-legal-notice" not in r.text
    assert r.headers["cache-control"] == "private"


# -- HTTP correctness ----------------------------------------------------------------


def test_a_changed_body_loses_the_strong_etag_and_gets_a_right_length(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE], extra_headers=[(b"etag", b'"abc"'), (b"accept-ranges", b"bytes")]))
    sent = run_asgi(app, http_scope("/story"))
    assert b"data-legal-notice" in sent.body
    assert sent.header("etag") is None
    assert sent.header("accept-ranges") is None
    assert sent.header("content-length") == str(len(sent.body))


def test_an_unchanged_body_on_a_dependent_page_shares_no_validator_with_other_jurisdictions(tmp_path: Path) -> None:
    extra = [(b"etag", b'"abc"'), (b"last-modified", b"Mon, 01 Jan 2024 00:00:00 GMT")]
    app = wrapped(tmp_path, chunked_app([PAGE], extra_headers=extra))
    sent = run_asgi(app, http_scope("/story", client=(US_IP, 1)))
    assert sent.body == PAGE
    assert sent.header("etag") is None
    assert sent.header("last-modified") is None
    assert sent.header("cache-control") == "private"


def test_public_cache_control_becomes_private(tmp_path: Path) -> None:
    app = wrapped(
        tmp_path, chunked_app([PAGE], extra_headers=[(b"cache-control", b"public, max-age=600, s-maxage=60")])
    )
    sent = run_asgi(app, http_scope("/story", client=(US_IP, 1)))
    assert sent.header("cache-control") == "private, max-age=600"


def test_cache_fields_named_in_upper_case_are_read_as_any_other(tmp_path: Path) -> None:
    # Frameworks send lower-case names; an app that does not still gets the same policy.
    extra = [(b"Cache-Control", b"public, s-maxage=60"), (b"ETag", b'"abc"'), (b"Surrogate-Control", b"max-age=60")]
    app = wrapped(tmp_path, chunked_app([PAGE], extra_headers=extra))
    sent = run_asgi(app, http_scope("/story", client=(US_IP, 1)))
    assert sent.body == PAGE
    assert sent.header("cache-control") == "private"
    assert sent.header("etag") is None
    assert sent.header("surrogate-control") is None
    assert [k for k, _ in sent.headers if k.lower() == b"cache-control"] == [b"cache-control"]


def test_a_path_left_alone_is_covered_once_the_rules_name_it(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]), reload_interval=None)
    assert run_asgi(app, http_scope("/static/story")).body == PAGE  # excepted: passed through
    assert run_asgi(app, http_scope("/static/story")).header("cache-control") is None
    rule_file(tmp_path, RU_RULE.replace('except_paths: ["/static/**"]', 'except_paths: ["/archive/**"]'))
    assert app.rules.reload_now()
    sent = run_asgi(app, http_scope("/static/story"))
    assert b"data-legal-notice" in sent.body
    assert sent.header("cache-control") == "private"


def test_country_header_source_varies_on_that_header_instead_of_private(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]), trusted_proxies=["10.0.0.0/8"], country_header="CF-IPCountry")
    sent = run_asgi(app, http_scope("/story", client=("10.0.0.5", 1), headers=[(b"cf-ipcountry", b" ru ")]))
    assert b"data-legal-notice" in sent.body
    assert sent.header("vary") == "CF-IPCountry, Accept-Language"  # the notice's language followed it
    assert sent.header("cache-control") is None
    other = run_asgi(app, http_scope("/story", client=("10.0.0.5", 1), headers=[(b"cf-ipcountry", b"US")]))
    assert other.body == PAGE
    assert other.header("vary") == "CF-IPCountry"


def test_country_header_from_an_untrusted_peer_is_not_believed(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]), trusted_proxies=["10.0.0.0/8"], country_header="CF-IPCountry")
    sent = run_asgi(app, http_scope("/story", client=(US_IP, 1), headers=[(b"cf-ipcountry", b"RU")]))
    assert sent.body == PAGE
    assert sent.header("cache-control") == "private"


def test_streamed_body_stays_streamed_and_drops_content_length(tmp_path: Path) -> None:
    chunks = [b"<html><body>", b"<p>one</p>" * 200, b"<p>two</p>" * 200, b"</body></html>"]
    app = wrapped(tmp_path, chunked_app(chunks))
    sent = run_asgi(app, http_scope("/story"))
    assert sent.header("content-length") is None
    assert len(sent.bodies) >= 3  # not buffered into one message
    assert sent.body == b"".join(chunks).replace(b"</body>", sent.body[sent.body.index(b"<aside") :][:-14] + b"</body>")
    assert sent.body.endswith(b"</aside></body></html>")


@pytest.mark.parametrize(
    ("method", "status", "content_type", "extra"),
    [
        ("GET", 206, b"text/html", [(b"content-range", b"bytes 0-9/100")]),
        ("GET", 304, b"text/html", []),
        ("GET", 200, b"application/json", []),
        ("GET", 200, b"text/plain", []),
        ("GET", 200, b"text/html", [(b"content-encoding", b"br")]),
        ("GET", 301, b"text/html", [(b"location", b"/elsewhere")]),
    ],
)
def test_bodies_that_take_no_html_notice_pass_untouched(
    tmp_path: Path, method: str, status: int, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE], status=status, content_type=content_type, extra_headers=extra))
    sent = run_asgi(app, http_scope("/story", method=method))
    assert sent.body == PAGE
    assert sent.start["status"] == status
    assert sent.header("content-length") == str(len(PAGE))
    assert sent.header("cache-control") == "private"  # still jurisdiction-dependent


def test_error_pages_carry_the_notice_too(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE], status=404))
    assert b"data-legal-notice" in run_asgi(app, http_scope("/missing")).body


def test_windows_1251_page_gets_cyrillic_right(tmp_path: Path) -> None:
    page = "<html lang=ru><head><meta charset=windows-1251></head><body><p>Новости</p></body></html>".encode("cp1251")
    app = wrapped(tmp_path, chunked_app([page], content_type=b"text/html"))
    body = run_asgi(app, http_scope("/story")).body
    text = body.decode("cp1251")
    assert "Читатели здесь: будьте осторожны." in text
    assert 'lang="ru"' in text


def test_characters_the_charset_lacks_become_references(tmp_path: Path) -> None:
    page = b"<html><body><p>news</p></body></html>"
    app = wrapped(tmp_path, chunked_app([page], content_type=b"text/html; charset=iso-8859-1"))
    body = run_asgi(app, http_scope("/story", headers=[(b"accept-language", b"ru")])).body
    assert b"&#1063;" in body  # the first letter of the Russian text
    body.decode("ascii")  # nothing outside the charset slipped through


def test_websocket_and_lifespan_pass_through(tmp_path: Path) -> None:
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close()

    started: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append(True)
        yield

    inner = Starlette(routes=[WebSocketRoute("/ws", echo)], lifespan=lifespan)
    app = wrapped(tmp_path, inner, rules=RU_RULE.replace('except_paths: ["/static/**"]', "paths: ['/**']"))

    async def drive(scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        queue = list(incoming)

        async def receive() -> dict[str, Any]:
            return queue.pop(0) if queue else {"type": "websocket.disconnect", "code": 1000}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    ws_scope = {**http_scope("/ws"), "type": "websocket", "scheme": "ws", "subprotocols": []}
    sent = asyncio.run(drive(ws_scope, [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hello"}]))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "hello"

    life = asyncio.run(
        drive(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
        )
    )
    assert [m["type"] for m in life] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert started == [True]


def test_state_holds_a_frozen_jurisdiction(tmp_path: Path) -> None:
    seen: list[Any] = []

    async def page(request: Request) -> Response:
        seen.append(request.state.jurisdiction)
        return PlainTextResponse("ok")

    app = wrapped(tmp_path, Starlette(routes=[Route("/x", page)]))
    fetch(app, "/x", client=(RU_IP, 1))
    assert seen == [Jurisdiction("RU", None, False, "embedded")]


# -- failures ----------------------------------------------------------------------


def test_a_broken_rule_file_fails_at_start_up_with_its_location(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError) as caught:
        wrapped(tmp_path, site, rules="rules:\n  - id: x\n    notice: warning\n    jurisdictions: [XY]\n")
    assert caught.value.path.endswith("rules.yaml")
    assert (caught.value.line, caught.value.column) == (11, 21)
    assert "XY" in str(caught.value)


class _BrokenResolver:
    def lookup(self, ip: str) -> Jurisdiction | None:
        raise RuntimeError("database went away")


def test_a_fault_in_the_middleware_serves_the_page_as_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]), resolver=_BrokenResolver())
    with caplog.at_level(logging.ERROR, logger="compliance"):
        sent = run_asgi(app, http_scope("/story"))
    assert sent.body == PAGE
    assert sent.start["status"] == 200


def test_an_unknown_charset_passes_the_page_and_records_a_missed_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE], content_type=b"text/html; charset=x-martian"))
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        sent = run_asgi(app, http_scope("/story"))
    assert sent.body == PAGE
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert events[-1]["rules"][0]["outcome"] == "missed"
    assert "x-martian" in events[-1]["rules"][0]["why"]


def test_audit_event_names_rule_place_and_network_never_the_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]))
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        run_asgi(app, http_scope("/story", headers=[(b"x-request-id", b"req-42")]))
    (record,) = [r for r in caplog.records if r.name == "compliance.audit"]
    event = json.loads(record.getMessage())
    assert event["request_id"] == "req-42"
    assert event["jurisdiction"]["country"] == "RU"
    assert event["network"] == "95.173.136.0/24"
    assert RU_IP not in record.getMessage()
    assert event["rules"] == [
        {
            "rule": "ru-warning",
            "notice": "warning",
            "mode": "enforce",
            "language": "en",
            "outcome": "injected",
            "place": "body-end",
        }
    ]


def test_one_instance_serves_several_event_loops(tmp_path: Path) -> None:
    app = wrapped(tmp_path, chunked_app([PAGE]))
    for _ in range(3):
        assert b"data-legal-notice" in run_asgi(app, http_scope("/story")).body

    async def many() -> list[bytes]:
        async def one() -> bytes:
            out: list[bytes] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b""}

            async def send(m: dict[str, Any]) -> None:
                if m["type"] == "http.response.body":
                    out.append(m["body"])

            await app(http_scope("/story"), receive, send)
            return b"".join(out)

        return await asyncio.gather(*(one() for _ in range(20)))

    assert all(b"data-legal-notice" in b for b in asyncio.run(many()))


def test_starlette_middleware_list_wraps_in_one_line(tmp_path: Path) -> None:
    from starlette.middleware import Middleware

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.decode())

    path = rule_file(tmp_path, RU_RULE)
    app = Starlette(routes=[Route("/story", page)], middleware=[Middleware(ComplianceMiddleware, rules=path)])
    assert "data-legal-notice" in fetch(app, "/story", client=(RU_IP, 1)).text


def test_the_jurisdiction_is_there_on_pages_no_rule_covers_too(tmp_path: Path) -> None:
    seen: list[Any] = []

    async def page(request: Request) -> Response:
        seen.append(request.state.jurisdiction)
        seen.append(request.scope["state"]["jurisdiction"])
        seen.append(request.scope["state"].get("jurisdiction"))
        return PlainTextResponse("ok")

    app = wrapped(tmp_path, Starlette(routes=[Route("/static/x", page)]))
    r = fetch(app, "/static/x", client=(RU_IP, 1))
    assert r.headers.get("cache-control") is None  # not covered: untouched
    assert seen == [Jurisdiction("RU", None, False, "embedded")] * 3
