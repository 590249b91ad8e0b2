"""A notice's form where it lands (`<aside>` or `<span>`), and the bytes it is written in."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance import ComplianceMiddleware
from compliance.respond.html import HtmlRewriter, Insertion
from compliance.rules.model import Place
from tests.conftest import fetch, rule_file


def placed(page: bytes, place: Place) -> bytes:
    rewriter = HtmlRewriter([Insertion("n", (place,), b"[block]", b"[inline]")])
    return rewriter.feed(page, last=True)


@pytest.mark.parametrize(
    ("place", "page", "expected"),
    [
        (Place("prepend", "p"), b"<body><p>a</p>", b"<body><p>[inline]a</p>"),
        (Place("append", "p"), b"<body><p>a</p>", b"<body><p>a[inline]</p>"),
        (Place("append", "p"), b"<body><p>a<p>b", b"<body><p>a[inline]<p>b"),
        (Place("after", "p b"), b"<body><p>a <b>b</b> c</p>", b"<body><p>a <b>b</b>[inline] c</p>"),
        (Place("before", "p a"), b"<body><p>a <a href=/>b</a></p>", b"<body><p>a [inline]<a href=/>b</a></p>"),
        (Place("prepend", "h1"), b"<body><h1>T</h1>", b"<body><h1>[inline]T</h1>"),
        (Place("before", "p"), b"<body><p>a</p>", b"<body>[block]<p>a</p>"),
        (Place("append", "article"), b"<body><article>a</article>", b"<body><article>a[block]</article>"),
        (Place("prepend", "li"), b"<body><ul><li>a</ul>", b"<body><ul><li>[block]a</ul>"),
        (Place("body-start"), b"<body><p>a</p>", b"<body>[block]<p>a</p>"),
    ],
)
def test_inside_phrasing_content_a_notice_takes_the_span_form(place: Place, page: bytes, expected: bytes) -> None:
    assert placed(page, place) == expected


RULE = """
rules:
  - id: r
    notice: warning
    jurisdictions: [RU]
    placement: {placement}
{form}"""


def page_app(body: bytes, content_type: str = "text/html; charset=utf-8") -> object:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type.encode())]}
        )  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    return app


@pytest.mark.parametrize(
    ("placement", "form", "element"),
    [
        ("{append: p}", "", b"<span"),
        ("{append: p}", "    form: block\n", b"<aside"),
        ("{before: article}", "    form: inline\n", b"<span"),
        ("body-end", "    form: inline\n", b"<span"),
        ("body-end", "", b"<aside"),
    ],
)
def test_the_rule_may_choose_the_form(tmp_path: Path, placement: str, form: str, element: bytes) -> None:
    rules = rule_file(tmp_path, RULE.format(placement=placement, form=form))
    app = ComplianceMiddleware(page_app(b"<body><article><p>a</p></article></body>"), rules=rules)
    body = fetch(app, "/").content
    assert body.count(b'data-legal-notice="warning"') == 1
    assert element + b' class="legal-notice"' in body


def test_a_form_that_is_not_inline_or_block_is_refused(tmp_path: Path) -> None:
    from compliance.errors import RuleFileError

    with pytest.raises(RuleFileError, match='"form"'):
        ComplianceMiddleware(
            page_app(b""), rules=rule_file(tmp_path, RULE.format(placement="body-end", form="    form: span\n"))
        )


PAGE = "<html><body><p>Привет</p></body></html>"


@pytest.mark.parametrize(
    ("body", "content_type", "notice_bytes"),
    [
        # a UTF-8 byte-order mark wins over the windows-1251 label: the notice is written in UTF-8
        (b"\xef\xbb\xbf" + PAGE.encode(), "text/html; charset=windows-1251", "Читатели".encode()),
        (PAGE.encode("cp1251"), "text/html; charset=windows-1251", "Читатели".encode("cp1251")),
        (PAGE.encode("cp1251"), "text/html; charset=x-cp1251", "Читатели".encode("cp1251")),
    ],
)
def test_the_notice_is_written_in_the_pages_charset(
    tmp_path: Path, body: bytes, content_type: str, notice_bytes: bytes
) -> None:
    rules = rule_file(tmp_path, RULE.format(placement="body-end", form=""))
    app = ComplianceMiddleware(page_app(body, content_type), rules=rules)
    got = fetch(app, "/", headers={"Accept-Language": "ru"}).content
    assert notice_bytes in got
    assert got.count(b"data-legal-notice") == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_page_is_left_untouched(tmp_path: Path, encoding: str, caplog: pytest.LogCaptureFixture) -> None:
    body = ("\ufeff" if encoding != "utf-16" else "") + PAGE
    raw = body.encode(encoding)
    rules = rule_file(tmp_path, RULE.format(placement="body-end", form=""))
    app = ComplianceMiddleware(page_app(raw, "text/html"), rules=rules)
    with caplog.at_level("INFO", logger="compliance.audit"):
        got = fetch(app, "/").content
    assert got == raw
    assert '"outcome": "missed"' in caplog.text or '"outcome":"missed"' in caplog.text
    assert "UTF-16" in caplog.text
