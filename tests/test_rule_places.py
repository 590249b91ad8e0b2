"""Issue 12's actions and places: `fallback: none` and `match: all`, from the rule file to what a reader gets."""

from __future__ import annotations

import json
import logging
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
from tests.conftest import RU_IP, fetch, write_rules

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


def _audited(caplog: pytest.LogCaptureFixture, app: ComplianceMiddleware, path: str) -> tuple[str, list[Any]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(app, path, client=(RU_IP, 1)).text
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    return text, event["rules"]


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
    text, rules = _audited(caplog, app, "/with")
    assert text.index('data-legal-notice="comments-law"') < text.index('id="comments"')
    assert [r["outcome"] for r in rules] == ["injected", "injected"]
    for path in ("/without", "/streamed"):
        text, rules = _audited(caplog, app, path)
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
    text, rules = _audited(caplog, app, "/without")
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
    assert "nowhere else: where the page has none of these places, the notice is not shown" in done.stdout
    assert "(always the last resort)" in done.stdout  # the imprint keeps its fallback
