"""No element in the head is a place for a notice: `{before: script}` goes before the body's script.

A notice's `<aside>` in the head would end the head there, and a browser would move the rest of
the head (title, links, scripts) into the body. Through the middleware and a real app, read back
by html5lib: the head is what the site sent, whatever the chunking. A removal matches in the
body only (a selector naming `head` is refused at load for every action).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import html5lib
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware
from tests.conftest import AsReader, fetch, write_rules

PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Port</title>'
    '<script src="/static/analytics.js"></script><style class="x">p { margin: 0 }</style>'
    '<link rel="stylesheet" href="/site.css"></head>'
    '<body><main class="x"><h1>Port</h1><p>Ships.</p><script src="/static/player.js"></script></main></body></html>'
)
RULES = """\
notices:
  ru:
    title: Notice for Russia
    text:
      en: "Readers in Russia: this page is reviewed."
rules:
  - id: ru-rule
    notice: ru
    jurisdictions: [RU]
    placement: {placement}
{more}"""


def _site() -> Starlette:
    async def page(request: Request) -> Response:
        data = PAGE.encode()
        if "at" not in request.query_params:
            return Response(data, media_type="text/html; charset=utf-8")
        at = int(request.query_params["at"])

        async def chunks() -> Any:
            yield data[:at]
            yield data[at:]

        return StreamingResponse(chunks(), media_type="text/html; charset=utf-8")

    return Starlette(routes=[Route("/page", page)])


def _app(tmp_path: Path, placement: str, more: str = "") -> AsReader:
    rules = write_rules(tmp_path, RULES.format(placement=placement, more=more))
    return AsReader(ComplianceMiddleware(_site(), rules=rules), "RU")


def _get(caplog: pytest.LogCaptureFixture, app: AsReader, path: str = "/page") -> tuple[str, dict[str, Any]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(app, path).text
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    return text, events[-1]["rules"][0]


def _head(html: str) -> list[tuple[str, str]]:
    """The head as html5lib builds it: each element's tag and attributes."""
    root = html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False)
    head = root.find("head")
    assert head is not None
    return [(element.tag, json.dumps(sorted(element.attrib.items()))) for element in head.iter()]


def _body_tags(html: str) -> list[str]:
    root = html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False)
    body = root.find("body")
    assert body is not None
    return [f"{e.tag}{'.' + e.get('data-legal-notice', '') if e.get('data-legal-notice') else ''}" for e in body.iter()]


@pytest.mark.parametrize(
    ("placement", "before"),
    [
        ("{before: script}", '<script src="/static/player.js">'),
        ("{after: style}", "</body>"),  # no style in the body: body-end
        ('{before: ".x"}', '<main class="x">'),
        ("{before: '[src]'}", '<script src="/static/player.js">'),
        ("{after: noscript}", "</body>"),
    ],
)
def test_a_notice_never_goes_into_the_head(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, placement: str, before: str
) -> None:
    app = _app(tmp_path, placement)
    text, audited = _get(caplog, app)
    assert _head(text) == _head(PAGE)
    notice = text.index('data-legal-notice="ru"')
    assert text.index("</head>") < notice
    assert text[text.index("</aside>", notice) + len("</aside>") :].startswith(before)
    assert "ru" in "".join(_body_tags(text))
    assert audited["outcome"] in ("injected", "fallback")
    for at in range(len(PAGE.encode()) + 1):
        assert _get(caplog, app, f"/page?at={at}") == (text, audited), at


def test_before_script_goes_before_the_body_script(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text, audited = _get(caplog, _app(tmp_path, "{before: script}"))
    assert audited["outcome"] == "injected" and audited["place"] == "before: script"
    assert _body_tags(text) == ["body", "main", "h1", "p", "aside.ru", "p", "script"]


def test_a_removal_matches_in_the_body_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text, audited = _get(caplog, _app(tmp_path, "{before: script}", "    action: remove\n"))
    assert '<script src="/static/analytics.js">' in text and "/static/player.js" not in text
    assert _head(text) == _head(PAGE)
    assert audited["outcome"] == "removed"


@pytest.mark.parametrize(
    ("placement", "more", "says"),
    [
        ("{before: script}", "", "right before the first element matching script (elements in the head are never"),
        ('{after: ".x"}', "", "right after the first element matching .x (elements in the head are never places"),
        (
            "{before: script}",
            "    action: remove\n",
            "removes the first element matching script in the body (elements in the head are never places",
        ),
    ],
)
def test_explain_says_elements_in_the_head_are_never_places(
    tmp_path: Path, placement: str, more: str, says: str
) -> None:
    rules = write_rules(tmp_path, RULES.format(placement=placement, more=more))
    done = subprocess.run(
        [sys.executable, "-m", "compliance", "explain", "--rules", str(rules), "--country", "RU", "--path", "/a"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert says in done.stdout


def test_explain_says_nothing_of_the_head_for_elements_only_the_body_has(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, RULES.format(placement="{after: 'article h1'}", more=""))
    done = subprocess.run(
        [sys.executable, "-m", "compliance", "explain", "--rules", str(rules), "--country", "RU", "--path", "/a"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "right after the first element matching article h1\n" in done.stdout
    assert "head" not in done.stdout
