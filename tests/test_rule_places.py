"""Issue 12's actions and places: `fallback: none` and `match: all`, from the rule file to what a reader gets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware, RuleFileError
from compliance.respond.html import HtmlRewriter, Insertion
from compliance.rules.load import load_rules_text
from compliance.rules.model import Place
from tests.conftest import RU_IP, fetch, fetch_audited, write_rules

WITH_COMMENTS = (
    '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><h1>Story</h1>'
    '<section id="comments"><p>First!</p></section></body></html>'
)
WITHOUT_COMMENTS = '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><h1>Story</h1></body></html>'

NOTICES = """\
notices:
  comments-law:
    title: Comments moderation
    text:
      en: "Comments are moderated under the law."
  imprint:
    title: Imprint
    text:
      en: "Published by Northwind News."
"""


def _app() -> Starlette:
    async def with_comments(request: Request) -> Response:
        return HTMLResponse(WITH_COMMENTS)

    async def without_comments(request: Request) -> Response:
        return HTMLResponse(WITHOUT_COMMENTS)

    async def streamed(request: Request) -> Response:
        async def chunks() -> Any:
            for i in range(0, len(WITHOUT_COMMENTS), 7):
                yield WITHOUT_COMMENTS[i : i + 7].encode()

        return StreamingResponse(chunks(), media_type="text/html")

    return Starlette(
        routes=[Route("/with", with_comments), Route("/without", without_comments), Route("/streamed", streamed)]
    )


def _mw(tmp_path: Path, rules: str) -> ComplianceMiddleware:
    return ComplianceMiddleware(_app(), rules=write_rules(tmp_path, NOTICES + rules))


# -- 4: fallback: none -------------------------------------------------------------------------

STRICT = """
rules:
  - id: comments
    notice: comments-law
    jurisdictions: [RU]
    placement: {before: "#comments"}
    fallback: none
  - id: imprint
    notice: imprint
    jurisdictions: [RU]
    placement: {before: "#comments"}
"""


def test_a_notice_without_fallback_is_shown_only_where_its_place_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _mw(tmp_path, STRICT)
    text, rules = fetch_audited(caplog, app, "/with")
    assert text.index('data-legal-notice="comments-law"') < text.index('id="comments"')
    assert [r["outcome"] for r in rules] == ["injected", "injected"]
    for path in ("/without", "/streamed"):
        text, rules = fetch_audited(caplog, app, path)
        assert 'data-legal-notice="comments-law"' not in text, path
        assert text.index('data-legal-notice="imprint"') < text.index("</body>"), path  # the default: body-end
        by_rule = {r["rule"]: r for r in rules}
        assert by_rule["comments"]["outcome"] == "missed"
        assert by_rule["comments"]["why"] == "none of the rule's places is on the page, and its fallback is none"
        assert by_rule["imprint"]["outcome"] == "fallback"


def test_a_marker_without_fallback_is_missed_on_a_page_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _mw(
        tmp_path,
        "\nrules:\n  - {id: m, notice: comments-law, jurisdictions: [RU], placement: {marker: mention},"
        " fallback: none}\n",
    )
    text, rules = fetch_audited(caplog, app, "/without")
    assert text == WITHOUT_COMMENTS
    assert rules[0]["outcome"] == "missed"


@pytest.mark.parametrize("size", [1, 3, 8, 64, 10_000])
def test_the_rewriter_places_or_misses_in_any_chunking(size: int) -> None:
    strict = Insertion("s", (Place("after", "h1"), Place("marker", "x")), b"[s]", fallback=False)
    normal = Insertion("n", (Place("after", "h2"),), b"[n]")
    for page, expected, missed in (
        (WITHOUT_COMMENTS, WITHOUT_COMMENTS.replace("</h1>", "</h1>[s]").replace("</body>", "[n]</body>"), False),
        ("<body><p>no heading</p><!-- y --></body>", "<body><p>no heading</p><!-- y -->[n]</body>", True),
        ("<body><p>a</p><!-- x --></body>", "<body><p>a</p>[s][n]</body>", False),
        ("<p>no body at all", "<p>no body at all[n]", True),
    ):
        rewriter = HtmlRewriter([strict, normal])
        data = page.encode()
        out = b"".join(rewriter.feed(data[i : i + size]) for i in range(0, len(data), size)) + rewriter.close()
        assert out.decode() == expected, (page, size)
        placed = {p.key: p for p in rewriter.placed}
        assert placed["s"].missed is missed and (placed["s"].place is None) is missed
        assert not placed["n"].missed


def test_only_notices_without_fallback_leave_the_page_as_it_was() -> None:
    strict = Insertion("s", (Place("before", "#comments"),), b"[s]", fallback=False)
    for last in (False, True):
        rewriter = HtmlRewriter([strict])
        out = rewriter.feed(WITHOUT_COMMENTS.encode(), last=last) + rewriter.close()
        assert out == WITHOUT_COMMENTS.encode()
        assert [p.missed for p in rewriter.placed] == [True]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{id: a, notice: imprint, jurisdictions: [RU], fallback: none}", "needs a placement that a page may not have"),
        (
            "{id: a, notice: imprint, jurisdictions: [RU], placement: body-end, fallback: none}",
            "needs a placement that a page may not have",
        ),
        (
            "{id: a, notice: imprint, jurisdictions: [RU], placement: {header: X-Legal}, fallback: none}",
            'a "header" placement has no fallback',
        ),
        (
            "{id: a, notice: imprint, jurisdictions: [RU], placement: body-start, fallback: nowhere}",
            '"nowhere" is not a valid "fallback"',
        ),
    ],
)
def test_a_fallback_that_cannot_apply_is_an_error_at_its_line(rule: str, message: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(NOTICES + "rules:\n  - " + rule + "\n", "rules.yaml")
    assert message in str(caught.value)
    assert "rules.yaml:11:" in str(caught.value)


def test_fallback_none_beside_body_end_is_a_warning() -> None:
    ruleset = load_rules_text(
        NOTICES
        + "rules:\n  - {id: a, notice: imprint, jurisdictions: [RU], placement: [body-start, body-end],"
        + " fallback: none}\n"
    )
    assert [w.code for w in ruleset.warnings] == ["fallback-ignored"]
    assert ruleset.rules[0].fallback == "none"


def test_explain_says_the_notice_goes_nowhere_else(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, NOTICES + STRICT)
    done = subprocess.run(
        [sys.executable, "-m", "compliance", "explain", "--rules", str(rules), "--country", "RU", "--path", "/a"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "else not shown, where the page has none of these places (fallback: none)" in done.stdout
    assert "(always the last resort)" in done.stdout  # the imprint keeps its fallback


# -- 2: match: all -----------------------------------------------------------------------------

FORMS = (
    "<!DOCTYPE html><html><head><title>t</title></head><body><main>"
    '<form id="a"><input name="x"></form><p>Text <a href="/x">link</a>.</p>'
    '<div><form id="b"><fieldset><input name="y"></fieldset></form></div>'
    '<form id="c"><p>Tell us <b>more</b></p><textarea>&lt;form&gt;</textarea></form>'
    "<!-- <form> in a comment --></main></body></html>"
)


def _rewrite(insertions: list[Insertion], page: str, size: int) -> tuple[str, HtmlRewriter]:
    rewriter = HtmlRewriter(insertions)
    data = page.encode()
    out = b"".join(rewriter.feed(data[i : i + size]) for i in range(0, len(data), size)) + rewriter.close()
    return out.decode(), rewriter


@pytest.mark.parametrize("size", [1, 5, 17, 100_000])
@pytest.mark.parametrize(
    ("place", "expected"),
    [
        (Place("before", "form"), FORMS.replace("<form", "[n]<form").replace("<!-- [n]<form>", "<!-- <form>")),
        (Place("after", "form"), FORMS.replace("</form>", "</form>[n]")),
        (Place("prepend", "form"), re.sub(r'(<form id="\w">)', r"\1[n]", FORMS)),
        (Place("append", "form"), FORMS.replace("</form>", "[n]</form>")),
        (Place("after", "main form input"), FORMS.replace('name="x">', 'name="x">[n]').replace('"y">', '"y">[n]')),
    ],
)
def test_match_all_places_a_notice_at_each_element_in_any_chunking(place: Place, expected: str, size: int) -> None:
    out, rewriter = _rewrite([Insertion("n", (place,), b"[n]", every=True)], FORMS, size)
    assert out == expected
    (placed,) = rewriter.placed
    assert (placed.place, placed.fallback, placed.count) == (place, False, expected.count("[n]"))


@pytest.mark.parametrize("size", [3, 100_000])
def test_match_all_beside_match_first_on_the_same_selector(size: int) -> None:
    every = Insertion("all", (Place("before", "form"),), b"[all]", every=True)
    first = Insertion("first", (Place("before", "form"),), b"[first]")
    out, rewriter = _rewrite([every, first], FORMS, size)
    assert out.count("[all]") == 3 and out.count("[first]") == 1
    assert out.index("[all][first]<form") < out.index('id="a"')
    assert [(p.key, p.count) for p in rewriter.placed] == [("all", 3), ("first", 0)]


def test_match_all_uses_the_inline_form_inside_a_paragraph() -> None:
    every = Insertion("n", (Place("after", "a"),), b"<aside>", inline=b"<span>", every=True)
    out, _ = _rewrite([every], "<body><p><a>x</a> and <a>y</a></p><div><a>z</a></div></body>", 4)
    assert out == "<body><p><a>x</a><span> and <a>y</a><span></p><div><a>z</a><span></div></body>"


def test_match_all_stops_at_fifty_per_page() -> None:
    page = "<body>" + "<form></form>" * 60 + "</body>"
    out, rewriter = _rewrite([Insertion("n", (Place("before", "form"),), b"[n]", every=True)], page, 64)
    assert out.count("[n]") == 50 and out.endswith("[n]<form></form>" + "<form></form>" * 10 + "</body>")
    assert rewriter.placed[0].count == 50


@pytest.mark.parametrize("fallback", [True, False])
def test_match_all_on_a_page_without_the_element_falls_back_as_told(fallback: bool) -> None:
    every = Insertion("n", (Place("before", "form"),), b"[n]", fallback=fallback, every=True)
    out, rewriter = _rewrite([every], WITHOUT_COMMENTS, 9)
    assert out == (WITHOUT_COMMENTS.replace("</body>", "[n]</body>") if fallback else WITHOUT_COMMENTS)
    assert rewriter.placed[0].missed is not fallback


COPPA = """
rules:
  - id: coppa
    notice: comments-law
    jurisdictions: [RU]
    placement: {before: form}
    match: all
"""


def test_match_all_end_to_end_with_the_count_in_the_audit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def forms(request: Request) -> Response:
        return HTMLResponse(FORMS)

    app = ComplianceMiddleware(Starlette(routes=[Route("/forms", forms)]), rules=write_rules(tmp_path, NOTICES + COPPA))
    text, rules = fetch_audited(caplog, app, "/forms")
    assert text.count('data-legal-notice="comments-law"') == 3
    assert rules[0]["outcome"] == "injected" and rules[0]["count"] == 3


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{id: a, notice: imprint, jurisdictions: [RU], match: all}", "must be one selector place"),
        (
            "{id: a, notice: imprint, jurisdictions: [RU], placement: [{before: form}, body-start], match: all}",
            "must be one selector place",
        ),
        ("{id: a, notice: imprint, jurisdictions: [RU], placement: {before: form}, match: every}", '"every" is not'),
    ],
)
def test_match_all_needs_one_selector_place(rule: str, message: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(NOTICES + "rules:\n  - " + rule + "\n", "rules.yaml")
    assert message in str(caught.value) and "rules.yaml:11:" in str(caught.value)


def test_explain_says_each_element(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, NOTICES + COPPA)
    done = subprocess.run(
        [sys.executable, "-m", "compliance", "explain", "--rules", str(rules), "--country", "RU", "--path", "/a"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "right before each element matching form (at most 50 in a page)" in done.stdout


def test_the_example_sites_childrens_page_gets_the_notice_before_each_form(tmp_path: Path) -> None:
    from examples.news_site import app as site

    app = ComplianceMiddleware(site, rules=write_rules(tmp_path, NOTICES + COPPA))
    text = fetch(app, "/kids", client=(RU_IP, 1)).text
    assert text.count('data-legal-notice="comments-law"') == 2
    assert text.count('<aside class="legal-notice" data-legal-notice="comments-law"') == 2
    assert text.index("comments-law") < text.index('<form action="/kids/quiz"')
