"""An annotation inside the sentence: a notice at a marker the templates write after a mention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import html5lib
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware
from examples.news_site import app as site
from tests.conftest import RU_IP, fetch, fetch_audited, write_rules

NS = "{http://www.w3.org/1999/xhtml}"
RULES = """\
notices:
  banned-organization:
    title: Banned-organization annotation (Russia)
    text:
      en: "(an organization banned in Russia)"
rules:
  - id: ru-banned-organization
    notice: banned-organization
    jurisdictions: [RU]
    paths: ["/news/**"]
    placement: {marker: banned-organization}
    fallback: none
"""
SENTENCE = (
    "Lawyers for the Eastwind Foundation told the appeal court on Thursday that the freezing of its "
    "accounts had left forty staff unpaid since January."
)


def _paragraph_with(text: str, words: str) -> Any:
    tree = html5lib.parse(text)
    (found,) = [p for p in tree.iter(f"{NS}p") if words in "".join(p.itertext())]
    return found


@pytest.mark.parametrize("form", ["", "    form: inline\n"])
def test_the_annotation_goes_inside_the_sentence_right_after_the_mention(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    app = ComplianceMiddleware(site, rules=write_rules(tmp_path, RULES + form))
    text, rules = fetch_audited(caplog, app, "/news/charity-appeal-hearing")
    assert '<span class="legal-notice" data-legal-notice="banned-organization"' in text
    assert "<aside" not in text
    paragraph = _paragraph_with(text, "Eastwind Foundation")
    (span,) = paragraph.findall(f"{NS}span")
    assert span.get("data-legal-notice") == "banned-organization"
    # The sentence stays whole, in the same paragraph: the mention, the annotation, the rest.
    assert "".join(paragraph.itertext()) == SENTENCE.replace(
        "Eastwind Foundation", "Eastwind Foundation(an organization banned in Russia)"
    )
    assert paragraph.text == "Lawyers for the Eastwind Foundation"
    assert span.tail.startswith(" told the appeal court")
    assert rules == [
        {
            "rule": "ru-banned-organization",
            "notice": "banned-organization",
            "mode": "enforce",
            "language": "en",
            "outcome": "injected",
            "place": "marker: banned-organization",
        }
    ]


def test_without_the_marker_the_page_gets_nothing_and_the_audit_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = ComplianceMiddleware(site, rules=write_rules(tmp_path, RULES))
    bare = fetch(site, "/news/river-port-reopens").text
    text, rules = fetch_audited(caplog, app, "/news/river-port-reopens")
    assert text == bare
    assert rules[0]["outcome"] == "missed"
    assert rules[0]["why"] == "none of the rule's places is on the page, and its fallback is none"


def test_a_marker_between_paragraphs_keeps_the_block_form(tmp_path: Path) -> None:
    rules = RULES.replace("banned-organization}", "legal-notice}")
    app = ComplianceMiddleware(site, rules=write_rules(tmp_path, rules))
    text = fetch(app, "/news/charity-appeal-hearing", client=(RU_IP, 1)).text
    assert '<aside class="legal-notice" data-legal-notice="banned-organization"' in text
    tree = html5lib.parse(text)
    (aside,) = tree.iter(f"{NS}aside")
    assert aside.get("data-legal-notice") == "banned-organization"


PAGE = (
    '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main><div><!-- banned-organization -->'
    "<h2>On <em>Eastwind</em><!-- banned-organization --> today</h2>"
    "<p>The <a href='/e'>Eastwind Foundation</a><!-- banned-organization -->, which funds libraries, appealed."
    "</p></div></main></body></html>"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 10_000])
def test_the_form_follows_the_place_in_any_chunking(tmp_path: Path, size: int) -> None:
    """Only the first marker takes the notice; which form it takes never depends on the chunks."""
    for where, page, form in (
        ("div", PAGE, "aside"),
        ("heading", PAGE.replace("<div><!-- banned-organization -->", "<div>"), "span"),
        ("link", PAGE.replace("<!-- banned-organization -->", "", 2), "span"),
    ):

        async def chunks(page: str = page) -> Any:
            data = page.encode()
            for i in range(0, len(data), size):
                yield data[i : i + size]

        async def streamed(request: Request) -> Response:
            return StreamingResponse(chunks(), media_type="text/html")

        app = ComplianceMiddleware(Starlette(routes=[Route("/news/x", streamed)]), rules=write_rules(tmp_path, RULES))
        text = fetch(app, "/news/x", client=(RU_IP, 1)).text
        tag = f'<{form} class="legal-notice" data-legal-notice="banned-organization"'
        assert text.count("data-legal-notice") == 1, (where, text)
        assert tag in text, (where, text)
        assert text.replace(text[text.index(tag) : text.index(f"</{form}>") + len(form) + 3], "", 1) == page.replace(
            "<!-- banned-organization -->", "", 1
        ), where
