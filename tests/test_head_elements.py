"""`placement: head`: a notice's meta, link and script elements in the page's `<head>`, never raw HTML."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import html5lib
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware, RuleFileError
from compliance.cli.test import read_response
from compliance.rules.load import load_rules_text
from examples.news_site import app as site
from tests.conftest import RU_IP, fetch, fetch_audited, write_rules

ROOT = Path(__file__).resolve().parent.parent
NS = "{http://www.w3.org/1999/xhtml}"
INTEGRITY = "sha384-s2yJ8716OnZPn7ozht6kCPhiCt7gqf1bsk48ZsR/eghuKenvZ/iBJfBDenh3mCpS"
SCRIPT = "https://consent.example.net/v2/consent.js"
RULES = f"""\
notices:
  consent-manager:
    title: Consent manager (ePrivacy)
    text:
      en: The consent manager asks readers before any tracker is set.
    head:
      - script: {{src: "{SCRIPT}", integrity: {INTEGRITY}, async: true}}
      - meta: {{name: consent-policy, content: "opt-in"}}
      - link: {{rel: privacy-policy, href: /about/privacy}}
rules:
  - id: ru-consent
    notice: consent-manager
    jurisdictions: [RU]
    placement: head
"""
ELEMENTS = (
    f'<script src="{SCRIPT}" integrity="{INTEGRITY}" crossorigin="anonymous" async'
    ' data-legal-notice="consent-manager"></script>'
    '<meta name="consent-policy" content="opt-in" data-legal-notice="consent-manager">'
    '<link rel="privacy-policy" href="/about/privacy" data-legal-notice="consent-manager">'
)


def _tree(text: str) -> Any:
    return html5lib.parse(text)


def _without_notices(text: str) -> str:
    """The page as html5lib reads it, with every element a notice added taken out."""
    tree = _tree(text)
    for parent in tree.iter():
        for child in list(parent):
            if child.get("data-legal-notice"):
                parent.remove(child)
    return html5lib.serialize(tree, tree="etree")


def test_the_elements_land_in_the_head_and_nothing_else_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = ComplianceMiddleware(site, rules=write_rules(tmp_path, RULES))
    bare = fetch(site, "/news/river-port-reopens").text
    text, rules = fetch_audited(caplog, app, "/news/river-port-reopens")
    assert text == bare.replace("</head>", ELEMENTS + "</head>", 1)
    head = _tree(text).find(f"{NS}head")
    added = [e for e in head if e.get("data-legal-notice") == "consent-manager"]
    assert [e.tag.removeprefix(NS) for e in added] == ["script", "meta", "link"]
    assert added[0].get("integrity") == INTEGRITY and added[0].get("src") == SCRIPT
    assert _without_notices(text) == _without_notices(bare)
    assert rules == [
        {"rule": "ru-consent", "notice": "consent-manager", "mode": "enforce", "outcome": "injected", "place": "head"}
    ]
    # A reader elsewhere gets the page as the site sent it.
    assert fetch(app, "/news/river-port-reopens", client=("8.8.8.8", 1)).text == bare


PAGES = {
    "head": '<!DOCTYPE html><html lang="en"><head><title>t</title><!-- </head> --></head><body><p>a</p></body></html>',
    "no-head-end": '<!DOCTYPE html><html lang="en"><head><title>t</title><body class="x"><p>a</p></body></html>',
    "no-head-tag": '<!DOCTYPE html><html lang="en"><BODY><p>a</p></BODY></html>',
    "neither": "<!DOCTYPE html><title>t</title><p>a</p>",
}


def _app(page: str, size: int | None) -> Starlette:
    async def serve(request: Request) -> Response:
        if size is None:
            return HTMLResponse(page)
        data = page.encode()
        split = size

        async def chunks() -> Any:
            if split <= 0:  # one byte at a time
                for i in range(len(data)):
                    yield data[i : i + 1]
            else:  # two chunks, split here
                yield data[:split]
                yield data[split:]

        return StreamingResponse(chunks(), media_type="text/html")

    return Starlette(routes=[Route("/page", serve)])


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_chunking_gives_the_same_page(tmp_path: Path, name: str) -> None:
    page = PAGES[name]
    rules = write_rules(tmp_path, RULES)
    expected = fetch(ComplianceMiddleware(_app(page, None), rules=rules), "/page", client=(RU_IP, 1)).text
    for size in range(0, len(page.encode()) + 1):
        app = ComplianceMiddleware(_app(page, size), rules=rules)
        assert fetch(app, "/page", client=(RU_IP, 1)).text == expected, (name, size)
    if name == "neither":
        assert expected == page
        return
    head = _tree(expected).find(f"{NS}head")
    assert sum(1 for e in head if e.get("data-legal-notice")) == 3, name
    assert _without_notices(expected) == _without_notices(page), name


def test_a_page_without_head_end_or_body_gets_nothing_and_the_audit_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = ComplianceMiddleware(_app(PAGES["neither"], 5), rules=write_rules(tmp_path, RULES))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        assert fetch(app, "/page", client=(RU_IP, 1)).text == PAGES["neither"]
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert event["rules"][0]["outcome"] == "missed"
    assert event["rules"][0]["why"] == "the page has neither </head> nor <body>, so where its head ends is not known"


def test_head_elements_beside_a_notice_in_the_body(tmp_path: Path) -> None:
    rules = RULES + (
        "  - {id: label, notice: label, jurisdictions: [RU], placement: body-start}\n"
        "  - {id: styled, notice: styled, jurisdictions: [RU], placement: body-end}\n"
    )
    rules = rules.replace(
        "rules:\n",
        "  label:\n    title: Label\n    text: {en: A label.}\n"
        "  styled:\n    title: Styled\n    text: {en: Styled.}\n    css: '.legal-notice { color: red }'\nrules:\n",
        1,
    )
    app = ComplianceMiddleware(_app(PAGES["no-head-end"], 0), rules=write_rules(tmp_path, rules))
    text = fetch(app, "/page", client=(RU_IP, 1)).text
    tree = _tree(text)
    head, body = tree.find(f"{NS}head"), tree.find(f"{NS}body")
    assert [e.tag.removeprefix(NS) for e in head if e.get("data-legal-notice")] == ["script", "meta", "link"]
    assert head.find(f"{NS}style") is not None
    assert [e.get("data-legal-notice") for e in body if e.get("data-legal-notice")] == ["label", "styled"]


def test_an_attribute_value_cannot_break_out_of_its_element(tmp_path: Path) -> None:
    """The attack: a value with quotes, `>` and markup stays one attribute value of one element."""
    hostile = 'x" onload="alert(1)"><script>alert(2)</script><meta name=\'y'
    src = 'https://cdn.example.net/a.js?q="><script>alert(3)</script>'
    rules = f"""\
notices:
  hostile:
    title: Hostile values
    text: {{en: Head elements.}}
    head:
      - meta: {{name: consent, content: '{hostile.replace("'", "''")}'}}
      - link: {{rel: license, href: '/l?a="><img/src=x/onerror=alert(4)>', title: '</head><body>'}}
      - script: {{src: '{src}', integrity: {INTEGRITY}}}
rules:
  - {{id: h, notice: hostile, jurisdictions: [RU], placement: head}}
"""
    app = ComplianceMiddleware(_app(PAGES["head"], None), rules=write_rules(tmp_path, rules))
    text = fetch(app, "/page", client=(RU_IP, 1)).text
    tree = _tree(text)
    head = tree.find(f"{NS}head")
    meta, link, script = [e for e in head if e.get("data-legal-notice") == "hostile"]
    assert meta.get("content") == hostile and set(meta.keys()) == {"name", "content", "data-legal-notice"}
    assert link.get("href") == '/l?a="><img/src=x/onerror=alert(4)>' and link.get("title") == "</head><body>"
    assert script.get("src") == src and (script.text or "") == ""
    assert len(list(tree.iter(f"{NS}script"))) == 1
    assert not list(tree.iter(f"{NS}img"))
    assert _without_notices(text) == _without_notices(PAGES["head"])


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (
            "script: {src: 'http://cdn.example.net/a.js', integrity: " + INTEGRITY + "}",
            "would load over http, where anyone on the way can change it",
        ),
        ("script: {src: 'https://cdn.example.net/a.js'}", 'The script element has no "integrity"'),
        ("script: {src: 'https://cdn.example.net/a.js', integrity: sha384-abc}", "is not a well-formed sha384 hash"),
        ("script: {src: 'https://cdn.example.net/a.js', integrity: md5-abc}", "starts with sha256-, sha384- or"),
        ("script: {src: 'javascript:alert(1)', integrity: " + INTEGRITY + "}", "is not a script address"),
        ("link: {rel: license, href: 'javascript:alert(1)'}", "is not a link address"),
        ("link: {rel: license, href: '//evil.example/x'}", "would lead a browser elsewhere"),
        ("link: {rel: stylesheet, href: 'https://cdn.example.net/a.css'}", 'A link with rel "stylesheet" loads'),
        ("meta: {http-equiv: refresh, content: '0;url=https://evil.example'}", '"http-equiv" is not a field'),
        ("iframe: {src: 'https://evil.example'}", '"iframe" is not an element a notice can add'),
        ("raw: '<script>alert(1)</script>'", '"raw" is not an element a notice can add'),
    ],
)
def test_a_head_element_that_is_not_safe_is_refused_at_its_line(element: str, message: str) -> None:
    rules = RULES.replace('      - meta: {name: consent-policy, content: "opt-in"}', f"      - {element}")
    with pytest.raises(RuleFileError) as raised:
        load_rules_text(rules)
    problem = raised.value.problems[0]
    assert message in problem.message, problem
    assert (problem.line, problem.severity) == (8, "error")


def test_head_placement_and_head_elements_go_together() -> None:
    plain = "  plain:\n    title: Plain\n    text: {en: Plain.}\n"
    cases = [
        ("  - {id: a, notice: plain, jurisdictions: [RU], placement: head}\n", 'the notice "plain" has none'),
        ("  - {id: b, notice: consent-manager, jurisdictions: [RU]}\n", "carries head elements, which go in"),
        (
            "  - {id: c, notice: consent-manager, jurisdictions: [RU], placement: [head, body-end]}\n",
            'A "head" placement stands alone',
        ),
        (
            "  - {id: d, notice: consent-manager, jurisdictions: [RU], placement: head, form: inline}\n",
            '"form" chooses how a notice is shown in the body',
        ),
        (
            "  - {id: e, notice: consent-manager, jurisdictions: [RU], placement: head, fallback: none}\n",
            'a "head" placement has no fallback',
        ),
    ]
    for rule, message in cases:
        text = RULES.replace("rules:\n", plain + "rules:\n") + rule
        with pytest.raises(RuleFileError) as raised:
            load_rules_text(text)
        (problem,) = [p for p in raised.value.problems if p.severity == "error"]
        assert message in problem.message, (rule, problem)
        assert problem.line == text.count("\n"), (rule, problem)


def test_markup_in_a_notices_text_is_warned_about_with_what_to_write() -> None:
    ruleset = load_rules_text(
        RULES.replace(
            "      en: The consent manager asks readers before any tracker is set.",
            '      en: \'Readers see <script src="https://x.example/a.js"></script> and <a href="/x">this</a>\'',
        )
    )
    (warning,) = [w for w in ruleset.warnings if w.code == "markup-in-text"]
    assert (warning.line, warning.column) == (5, 11)
    assert "readers see it as literal text" in warning.message and '"head" list' in warning.message


def test_explain_lists_the_elements(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, RULES)
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "explain", "--rules", str(rules), "--country", "RU", "--path", "/"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert "  goes      its head elements, in the page's <head>: right before </head> (else right before <body>)" in (
        result.stdout
    )
    assert f'  element   <script src="{SCRIPT}" integrity="{INTEGRITY}" crossorigin="anonymous" async></script>' in (
        result.stdout
    )
    assert "  language" not in result.stdout


def test_the_test_command_counts_a_head_element_only_in_the_head() -> None:
    ruleset = load_rules_text(RULES)
    meta = '<meta name="consent-policy" content="opt-in" data-legal-notice="consent-manager">'
    for page, shown in (
        (f"<html><head><title>t</title>{meta}</head><body><p>a</p></body></html>", True),
        (f"<html><head><title>t</title></head><body><p>a</p>{meta}</body></html>", False),
        (f"<html><head><title>t</title><p>a</p>{meta}</head></html>", False),
    ):
        response = httpx.Response(200, headers={"content-type": "text/html"}, text=page)
        assert ("consent-manager" in read_response(response, ruleset).notices) is shown, page


def test_the_report_lists_the_elements_escaped(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, RULES.replace('content: "opt-in"', "content: '</code><script>alert(1)</script>'"))
    run = [sys.executable, "-m", "compliance", "report", "--rules", str(rules), "-o", "-"]
    page = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path).stdout
    assert "In the page&#x27;s head" in page or "In the page's head" in page
    assert f"&lt;script src=&quot;{SCRIPT}&quot; integrity=&quot;{INTEGRITY}&quot;" in page
    assert "<script" not in page and "&lt;/code&gt;&lt;script&gt;alert(1)" in page
    assert "its head elements, in the page&#x27;s &lt;head&gt;" in page or "its head elements, in the page" in page
    markdown = subprocess.run(
        [*run, "--format", "markdown"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    ).stdout
    assert f'- In the page\'s head: `<script src="{SCRIPT}" integrity="{INTEGRITY}"' in markdown
