"""The 451 response of a `block` rule (compliance.respond.block)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from compliance.respond.block import block_response, header_href, prefers_json
from compliance.rules.model import Link, Notice

BLOCKED = Notice(
    id="court-order",
    title="Court order (Russia)",
    text={
        "en": "This page is not available in your country.\n\nA court ordered it.",
        "ru": "Эта страница недоступна в вашей стране.",
    },
    default_language="en",
    link=Link("https://example.org/why", {"en": "Why?", "ru": "Почему?"}),
)
NO_LINK = Notice(id="plain", title="Plain", text={"en": "Blocked."}, default_language="en")


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    values = [value for key, value in headers if key == name]
    assert len(values) <= 1, f"{name!r} given {len(values)} times"
    return values[0] if values else None


class Tags(HTMLParser):
    """Every start tag of a document, with its attributes, and the text inside <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse(body: bytes) -> Tags:
    parser = Tags()
    parser.feed(body.decode("utf-8"))
    parser.close()
    return parser


def test_status_and_headers_of_the_html_page() -> None:
    status, headers, body = block_response(BLOCKED, "ru", prefers_json=False)
    assert status == 451
    assert header(headers, b"content-type") == b"text/html; charset=utf-8"
    assert header(headers, b"content-length") == str(len(body)).encode()
    assert header(headers, b"content-language") == b"ru"
    assert header(headers, b"cache-control") == b"private, no-cache"
    assert header(headers, b"link") == b'<https://example.org/why>; rel="blocked-by"'
    assert all(name == name.lower() for name, _ in headers)


def test_the_page_is_a_complete_accessible_document_that_loads_nothing() -> None:
    _, _, body = block_response(BLOCKED, "ru", prefers_json=False)
    assert body.startswith(b"<!doctype html>")
    tags = parse(body)
    names = [name for name, _ in tags.tags]
    assert names[:2] == ["html", "head"]
    assert dict(tags.tags)["html"]["lang"] == "ru"
    assert "451" in tags.title
    assert {"main", "h1", "aside"} <= set(names)
    assert names.index("main") < names.index("aside")
    for name, attrs in tags.tags:
        assert name not in ("script", "link", "img", "iframe", "object", "embed")
        assert "src" not in attrs
    assert b'data-legal-notice="court-order"' in body
    assert "Эта страница недоступна в вашей стране.".encode() in body


def test_the_page_carries_the_notice_markup_of_render() -> None:
    from compliance.respond.render import render_notice_html

    _, _, body = block_response(BLOCKED, "en", prefers_json=False)
    assert render_notice_html(BLOCKED, "en", "utf-8") in body
    assert b'<a href="https://example.org/why">Why?</a>' in body


def test_a_right_to_left_page_keeps_its_english_heading_left_to_right() -> None:
    notice = Notice(id="ar", title="Arabic", text={"ar": "هذه الصفحة غير متاحة."}, default_language="ar")
    _, headers, body = block_response(notice, "ar", prefers_json=False)
    tags = dict(parse(body).tags)
    assert tags["html"] == {"lang": "ar", "dir": "rtl"}
    assert tags["h1"] == {"lang": "en", "dir": "ltr"}
    assert header(headers, b"content-language") == b"ar"


def test_the_json_body_lists_the_notice() -> None:
    status, headers, body = block_response(BLOCKED, "en", prefers_json=True)
    assert status == 451
    assert header(headers, b"content-type") == b"application/json; charset=utf-8"
    assert header(headers, b"content-length") == str(len(body)).encode()
    assert header(headers, b"content-language") == b"en"
    assert json.loads(body) == {
        "error": "unavailable-for-legal-reasons",
        "status": 451,
        "notices": [
            {
                "id": "court-order",
                "language": "en",
                "text": "This page is not available in your country.\n\nA court ordered it.",
                "link": {"href": "https://example.org/why", "text": "Why?"},
            }
        ],
    }


def test_no_link_header_without_a_link() -> None:
    for wants_json in (False, True):
        _, headers, _ = block_response(NO_LINK, "en", prefers_json=wants_json)
        assert header(headers, b"link") is None


def test_extra_headers_are_added_and_replace_those_of_the_same_name() -> None:
    _, headers, _ = block_response(
        BLOCKED,
        "en",
        prefers_json=False,
        headers_extra=[(b"Vary", b"CF-IPCountry"), (b"cache-control", b"private, no-store")],
    )
    assert header(headers, b"vary") == b"CF-IPCountry"
    assert header(headers, b"cache-control") == b"private, no-store"


HOSTILE_TEXT = '</p></aside><script>alert("x")</script><img src=x onerror=alert(1)> & "quotes" \'too\''


def test_hostile_notice_text_is_escaped_everywhere() -> None:
    hostile = Notice(
        id="hostile",
        title="</title><script>alert(1)</script>",
        text={"en": HOSTILE_TEXT},
        default_language="en",
        link=Link('https://example.org/"><script>alert(1)</script>', {"en": "<b>why</b>"}),
        css="aside{color:red}</style><script>alert(1)</script>",
    )
    _, headers, body = block_response(hostile, "en", prefers_json=False)
    tags = parse(body)
    assert all(name not in ("script", "img", "b") for name, _ in tags.tags)
    assert b"&lt;script&gt;" in body
    assert b"</style><script>" not in body
    link = header(headers, b"link")
    assert link is not None and link.count(b"<") == 1 and link.count(b">") == 1
    _, _, body = block_response(hostile, "en", prefers_json=True)
    assert json.loads(body)["notices"][0]["text"] == HOSTILE_TEXT


def test_a_hostile_language_tag_cannot_break_out() -> None:
    notice = Notice(id="x", title="X", text={'en"><script>': "Text"}, default_language='en"><script>')
    _, headers, body = block_response(notice, 'en"><script>', prefers_json=False)
    assert b"<script" not in body
    assert header(headers, b"content-language") == b"enscript"


def test_a_script_link_gives_no_link_header() -> None:
    notice = Notice(
        id="x", title="X", text={"en": "Text"}, default_language="en", link=Link("javascript:alert(1)", {"en": "Go"})
    )
    _, headers, body = block_response(notice, "en", prefers_json=False)
    assert header(headers, b"link") is None
    assert b"javascript:" not in body


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("https://example.org/why", "https://example.org/why"),
        ("/legal/why?x=1&y=2#part", "/legal/why?x=1&y=2#part"),
        ("https://example.org/a b", "https://example.org/a%20b"),
        ("https://example.org/already%20escaped", "https://example.org/already%20escaped"),
        ("https://example.org/x\r\nSet-Cookie: a=b", "https://example.org/x%0D%0ASet-Cookie:%20a=b"),
        ("https://example.org/<x>\"'", "https://example.org/%3Cx%3E%22'"),
        ("https://example.org/путь", "https://example.org/%D0%BF%D1%83%D1%82%D1%8C"),
        ("https://пример.рф/", "https://xn--e1afmkfd.xn--p1ai/"),
        ("https://user@Пример.рф:8443/п", "https://user@xn--e1afmkfd.xn--p1ai:8443/%D0%BF"),
        ("  https://example.org/  ", "https://example.org/"),
    ],
)
def test_header_href_is_safe_ascii(href: str, expected: str) -> None:
    assert header_href(href) == expected


def test_link_header_never_carries_a_line_break() -> None:
    notice = Notice(
        id="x", title="X", text={"en": "T"}, default_language="en", link=Link("https://e.org/\r\nX-Evil: 1", {})
    )
    _, headers, _ = block_response(notice, "en", prefers_json=False)
    link = header(headers, b"link")
    assert link is not None
    assert b"\r" not in link and b"\n" not in link
    assert all(value.isascii() and b"\n" not in value for _, value in headers)


@pytest.mark.parametrize(
    ("accept", "wants_json"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", True),
        ("application/problem+json", True),
        ("application/json, text/html", False),
        ("text/html, application/json", False),
        ("application/json, text/html;q=0.9", True),
        ("text/html;q=0.5, application/json;q=0.6", True),
        ("text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8", False),
        ("application/json;q=0.9, */*;q=0.8", True),
        ("application/json;q=0.8, */*;q=0.9", False),
        ("application/*", True),
        ("text/*, application/json;q=0.5", False),
        ("text/html;q=0, */*", True),
        ("application/json;q=0, text/html;q=0", False),
        ("application/json;q=abc, text/html;q=0.1", False),
        ("APPLICATION/JSON", True),
        ("application/json; charset=utf-8; q=1, text/html; q=0.2", True),
        ("nonsense, application/json", True),
    ],
)
def test_prefers_json_by_quality(accept: str | None, wants_json: bool) -> None:
    assert prefers_json(accept) is wants_json
