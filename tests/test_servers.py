"""The example site, wrapped, under each ASGI server as a real process on loopback.

The reader's country comes from `X-Forwarded-For`, believed because the peer is
loopback, a trusted proxy here; each server's own proxy-header handling is off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RU_IP, US_IP
from tests.served import PAUSE, TRICKLE_PAUSE
from tests.server import SERVERS, serve_process

NOTICE = 'data-legal-notice="undesirable-organization"'
RU = {"X-Forwarded-For": RU_IP}
US = {"X-Forwarded-For": US_IP}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def site(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve_process(request.param, "tests.served:app") as url:
        yield url


def test_a_reader_in_russia_gets_the_notice_and_a_reader_in_the_us_does_not(site: str) -> None:
    with httpx.Client(base_url=site) as client:
        ru = client.get("/news/river-port-reopens", headers=RU)
        us = client.get("/news/river-port-reopens", headers=US)
    assert ru.status_code == us.status_code == 200
    assert ru.text.count(NOTICE) == 1
    assert "<!-- legal-notice -->" not in ru.text
    assert int(ru.headers["content-length"]) == len(ru.content)
    assert NOTICE not in us.text
    assert "private" in us.headers["cache-control"]


def test_head_answers_with_the_headers_get_does(site: str) -> None:
    with httpx.Client(base_url=site) as client:
        for headers in (RU, US):
            get = client.get("/news/river-port-reopens", headers=headers)
            head = client.head("/news/river-port-reopens", headers=headers)
            assert head.status_code == get.status_code == 200
            assert head.content == b""
            for name in ("content-type", "cache-control", "etag"):
                assert head.headers.get(name) == get.headers.get(name), name
            # HEAD cannot see the page's language, so it may vary on Accept-Language where GET need not.
            assert set(_fields(get.headers.get("vary"))) <= set(_fields(head.headers.get("vary")))
            length = head.headers.get("content-length")
            assert length is None or int(length) == len(get.content)


def _fields(vary: str | None) -> list[str]:
    return [field.strip().lower() for field in (vary or "").split(",") if field.strip()]


def test_a_streamed_page_keeps_streaming_with_its_notice(site: str) -> None:
    with httpx.Client(base_url=site, timeout=30) as client:
        began = time.monotonic()
        with client.stream("GET", "/live/river-port", headers=RU) as r:
            parts = [(time.monotonic() - began, part) for part in r.iter_raw()]
    early = b"".join(part for at, part in parts if at < PAUSE / 2)
    body = b"".join(part for _, part in parts).decode()
    # The reader sees the first update, with its notice, before the app sends the rest.
    assert b"First update" in early and NOTICE.encode() in early
    assert parts[-1][0] >= PAUSE * 0.8
    assert body.count(NOTICE) == 1
    assert body.index(NOTICE) < body.index("First update") < body.index("Second update")
    assert "content-length" not in r.headers


def test_a_page_without_its_charset_streamed_in_small_pieces_reaches_the_reader_at_once(site: str) -> None:
    with httpx.Client(base_url=site, timeout=30) as client:
        whole = client.get("/live/trickle?whole=1", headers=RU).content
        began = time.monotonic()
        with client.stream("GET", "/live/trickle", headers=RU) as r:
            parts = [(time.monotonic() - began, part) for part in r.iter_raw() if part]
    # The first 16 bytes go out within the 50 ms the middleware waits for more, not with the app's next piece.
    assert parts[0][0] < TRICKLE_PAUSE, parts[:2]
    assert parts[0][1].startswith(b"<html")  # the rewriter may hold a few bytes back (a marker's look-behind)
    body = b"".join(part for _, part in parts)
    assert body == whole and body.count(NOTICE.encode()) == 1


@pytest.mark.parametrize("path", ["/files/article", "/pages/article.html"])
def test_a_page_served_from_a_file_gets_the_notice(site: str, path: str) -> None:
    with httpx.Client(base_url=site) as client:
        ru = client.get(path, headers=RU)
        us = client.get(path, headers=US)
    assert ru.status_code == us.status_code == 200
    assert ru.text.count(NOTICE) == 1
    assert "A story served from a file" in ru.text
    assert int(ru.headers["content-length"]) == len(ru.content)
    assert NOTICE not in us.text
    assert "A story served from a file" in us.text
