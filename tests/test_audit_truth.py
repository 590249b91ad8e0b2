"""What a reader's browser shows, and what the audit says: body-end before a `<plaintext>` or a frameset.

A page with only a `body-end` notice is searched from its end; a `<plaintext>` element or a
`<frameset>` the tree builder takes before that `</body>` means a notice there would be text, or
not shown at all. Through the middleware and a real app: the page is then left as it is and the
audit says `missed` with the reason; the same words inside a script's string or a comment change
nothing; every chunking gives the same page and the same audit.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import html5lib
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware
from compliance.respond.html.tokenizer import FRAMESET_REASON, PLAINTEXT_REASON
from tests.conftest import AsReader, fetch, write_rules

HEAD = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Port</title></head>'
PAGES = {
    # `<plaintext>` mid-body: its `</body>` and every later tag are text
    "plaintext": HEAD + "<body><main><article><h1>Port</h1><PlainText><p>Ships.</p></article></main></body></html>",
    # the same word where it is no element: in a script's string, a comment, an attribute
    "decoy": HEAD + "<body><main><article><h1>Port</h1><script>var s = '<plaintext>';</script>"
    "<!-- <PLAINTEXT> <frameset> --><a title='<frameset>'>a</a><p>Ships.</p></article></main></body></html>",
    # a frameset the tree builder takes: the body after it is not shown
    "frameset": '<html lang="en"><head><title>F</title></head><frameset><frame src=a></frameset>'
    "<body><p>Ships.</p></body></html>",
    # a frameset after text in the body is ignored
    "late-frameset": HEAD + "<body><p>Ships.</p><frameset><frame src=a></frameset><p>Tugs.</p></body></html>",
    # an SVG element named plaintext holds markup
    "svg": HEAD + "<body><svg><plaintext>a</plaintext></svg><p>Ships.</p></body></html>",
}
WHY = {"plaintext": PLAINTEXT_REASON, "frameset": FRAMESET_REASON}
STYLE = "<style>.legal-notice { border: 1px solid }</style>"
TEXT = "Readers in Russia: this page is reviewed."
RULES = """\
notices:
  ru:
    title: Notice for Russia
{css}    text:
      en: "{text}"
rules:
  - id: ru-end
    notice: ru
    jurisdictions: [RU]
    placement: body-end
"""


def _site() -> Starlette:
    async def page(request: Request) -> Response:
        """The page whole, or in two pieces cut at `at`, or in pieces of `size` bytes."""
        data = PAGES[request.path_params["name"]].encode()
        if "at" not in request.query_params and "size" not in request.query_params:
            return Response(data, media_type="text/html; charset=utf-8")
        at = int(request.query_params.get("at", "0"))
        size = int(request.query_params.get("size", "0"))
        pieces = [data[i : i + size] for i in range(0, len(data), size)] if size else [data[:at], data[at:]]

        async def chunks() -> Any:
            for piece in pieces:
                yield piece

        return StreamingResponse(chunks(), media_type="text/html; charset=utf-8")

    return Starlette(routes=[Route("/{name}", page)])


@pytest.fixture(params=["plain", "styled"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsReader:
    """The site behind the middleware, for a reader in Russia; with and without the notice's `<style>` in the head."""
    css = "    css: '.legal-notice { border: 1px solid }'\n" if request.param == "styled" else ""
    rules = write_rules(tmp_path, RULES.format(css=css, text=TEXT))
    return AsReader(ComplianceMiddleware(_site(), rules=rules), "RU")


def _get(caplog: pytest.LogCaptureFixture, app: AsReader, path: str) -> tuple[str, dict[str, Any]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(app, path).text
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    return text, events[-1]["rules"][0]


def _shown(html: str) -> bool:
    """Whether a browser shows the notice as an element (html5lib builds the page)."""
    root = html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False)
    return any(element.get("data-legal-notice") == "ru" for element in root.iter())


@pytest.mark.parametrize("name", ["plaintext", "frameset"])
def test_a_notice_a_browser_would_not_show_is_left_out_and_audited_missed(
    app: AsReader, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    text, audited = _get(caplog, app, f"/{name}")
    # (the notices' `<style>` went into the head before the body was read: it shows nothing)
    assert text.replace(STYLE, "") == PAGES[name]
    assert not _shown(text) and TEXT not in text
    assert audited["outcome"] == "missed"
    assert audited["why"] == WHY[name]


@pytest.mark.parametrize("name", ["decoy", "late-frameset", "svg"])
def test_the_words_where_they_are_no_such_element_change_nothing(
    app: AsReader, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    text, audited = _get(caplog, app, f"/{name}")
    assert TEXT in text and _shown(text)
    assert text.index(TEXT) < text.rindex("</body>")
    assert audited["outcome"] == "injected" and audited["place"] == "body-end"


@pytest.mark.parametrize("name", ["plaintext", "frameset", "decoy"])
def test_every_chunking_gives_the_same_page_and_audit(
    app: AsReader, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    whole = _get(caplog, app, f"/{name}")
    for at in range(len(PAGES[name].encode()) + 1):
        assert _get(caplog, app, f"/{name}?at={at}") == whole, at
    for size in (1, 2, 3, 9, 10):
        assert _get(caplog, app, f"/{name}?size={size}") == whole, size
