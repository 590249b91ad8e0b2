"""AMP pages: the notices' CSS in the page's one `<style amp-custom>`, never a second `<style>`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import html5lib
import pytest

from compliance import ComplianceMiddleware
from examples.news_site import app as site
from tests.conftest import chunked_app, fetch, http_scope, rule_file, run_asgi

CSS_NOTICE = """\
notices:
  warning:
    title: Test warning
    text: {en: "Readers here: take care."}
    css: ".legal-notice{border:1px solid #c00 !important;padding:.5em}"
"""
RULES = """
rules:
  - {id: label, notice: warning, jurisdictions: [RU], placement: [{marker: legal-notice}, body-end]}
"""
NS = "{http://www.w3.org/1999/xhtml}"
MERGED = ".legal-notice{border:1px solid #c00 ;padding:.5em}"


def wrapped(tmp_path: Path, app: Any) -> ComplianceMiddleware:
    return ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES, CSS_NOTICE), reload_interval=None, metrics=False)


def styles(page: bytes) -> tuple[list[Any], list[Any]]:
    """The page's `<style>` elements as a browser parses it: those in `<head>`, and all of them."""
    document = html5lib.parse(page, namespaceHTMLElements=True)
    head = document.find(f"{NS}head")
    assert head is not None
    return list(head.iter(f"{NS}style")), list(document.iter(f"{NS}style"))


def test_the_notice_css_goes_into_the_amp_pages_own_style(tmp_path: Path) -> None:
    page = fetch(wrapped(tmp_path, site), "/amp/news/river-port-reopens").content
    in_head, everywhere = styles(page)
    custom = [s for s in in_head if "amp-custom" in s.attrib]
    assert len(custom) == 1
    assert custom[0].text == "article{max-width:40em;margin:auto}\n" + MERGED
    # Besides it, only AMP's own boilerplate styles (one in head, one in <noscript>).
    assert all("amp-boilerplate" in s.attrib for s in everywhere if s is not custom[0])
    assert b"!important" not in page
    assert b'data-legal-notice="warning"' in page


def test_an_amp_page_without_a_custom_style_gets_one_in_its_head(tmp_path: Path) -> None:
    page = (
        b'<!doctype html><html amp lang="en"><head><meta charset="utf-8">'
        b'<script>var fake = "<style amp-custom></style>";</script><title>T</title></head>'
        b"<body><p>Story</p></body></html>"
    )
    out = run_asgi(wrapped(tmp_path, chunked_app([page])), http_scope("/amp")).body
    in_head, everywhere = styles(out)
    assert [s.attrib for s in everywhere] == [{"amp-custom": ""}]
    assert in_head[0].text == MERGED
    assert b'var fake = "<style amp-custom></style>";' in out  # a script's text is not the page's style


def test_the_output_does_not_depend_on_the_chunking(tmp_path: Path) -> None:
    page = fetch(site, "/amp/news/river-port-reopens").content
    whole = run_asgi(wrapped(tmp_path, chunked_app([page])), http_scope("/a")).body
    pieces = [page[i : i + 5] for i in range(0, len(page), 5)]
    assert run_asgi(wrapped(tmp_path, chunked_app(pieces)), http_scope("/a")).body == whole


@pytest.mark.parametrize(
    "html_tag", [b'<html lang="amp">', b'<html data-x="a amp b">', b"<html>"], ids=["lang", "value", "plain"]
)
def test_a_page_that_is_not_amp_gets_the_style_of_its_own(tmp_path: Path, html_tag: bytes) -> None:
    page = html_tag + b"<head><style amp-custom>p{}</style></head><body><p>Story</p></body></html>"
    out = run_asgi(wrapped(tmp_path, chunked_app([page])), http_scope("/p")).body
    in_head, _ = styles(out)
    assert [s.text for s in in_head] == ["p{}", ".legal-notice{border:1px solid #c00 !important;padding:.5em}"]


def test_an_amp_page_whose_head_never_ends_within_the_holdback_gets_no_css(tmp_path: Path) -> None:
    app = ComplianceMiddleware(
        chunked_app([b"<html \xe2\x9a\xa1><head><title>T</title>" + b"<meta name=x>" * 200, b"<body><p>S</p></body>"]),
        rules=rule_file(tmp_path, RULES, CSS_NOTICE),
        reload_interval=None,
        metrics=False,
        holdback=1024,
    )
    out = run_asgi(app, http_scope("/amp")).body
    _, everywhere = styles(out)
    assert everywhere == [] and b'data-legal-notice="warning"' in out


def test_validate_warns_of_css_that_amp_forbids(tmp_path: Path) -> None:
    rule_file(tmp_path, RULES, CSS_NOTICE)
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "validate", "rules.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.stdout.startswith('rules.yaml:5:10: warning[css-not-amp]: The CSS uses "!important"')
