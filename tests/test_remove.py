"""`action: remove` and `action: replace`: sanctioned embeds left out of the page for EU readers.

From the rule file to what a reader gets, through the middleware and a real ASGI app; the
selector's attribute operators; the element's end as the tokenizer finds it, in any chunking.
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
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware, RuleFileError
from compliance.respond.html import HtmlRewriter, Insertion
from compliance.rules.load import load_rules, load_rules_text
from compliance.rules.model import Place
from compliance.rules.selectors import parse_selector
from tests.conftest import AsReader, fetch, write_rules

RT = '<iframe src="https://www.rt.com/embed/walkout" width="560" title="As broadcast">No video here.</iframe>'
OTHER = '<iframe src="https://video.example.net/embed/press" title="Press"></iframe>'
PAGE = (
    '<!DOCTYPE html><html lang="en"><head><title>Talks</title></head><body><article><h1>Talks stall</h1>'
    f"<p>The walkout.</p><figure>{RT}<figcaption>The walkout</figcaption></figure>"
    f"<figure>{OTHER}</figure><p>After it.</p></article></body></html>"
)
# The same address where no element is: in a script's string, a comment, an attribute, text.
DECOY = (
    "<!DOCTYPE html><html><head><title>t</title></head><body>"
    '<script>var embed = "<iframe src=\\"https://www.rt.com/embed/x\\"></iframe>";</script>'
    '<!-- <iframe src="https://www.rt.com/embed/y"></iframe> -->'
    "<div title='<iframe src=\"https://www.rt.com/embed/z\">'>"
    "&lt;iframe src=&quot;https://www.rt.com/&quot;&gt;</div>"
    '<textarea><iframe src="https://www.rt.com/embed/t"></iframe></textarea></body></html>'
)

RULES = """\
notices:
  sanctioned-embed:
    title: Embedded broadcast withheld (EU sanctions)
    text:
      en: "This video is from a broadcaster under EU sanctions."
  gdpr:
    title: Not here
    text:
      en: "Not available."
rules:
"""
REMOVE = """
  - id: eu-rt
    notice: sanctioned-embed
    jurisdictions: ["@EU"]
    placement: {before: 'iframe[src^="https://www.rt.com/"]'}
    action: remove
    match: all
"""
REPLACE = REMOVE.replace("action: remove", "action: replace")


def _site() -> Starlette:
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def decoy(request: Request) -> Response:
        return HTMLResponse(DECOY)

    async def split(request: Request) -> Response:
        """The page in two pieces, cut at `at`, or in pieces of `size` bytes."""
        data = PAGE.encode()
        at = int(request.query_params.get("at", "0"))
        size = int(request.query_params.get("size", "0"))
        pieces = [data[i : i + size] for i in range(0, len(data), size)] if size else [data[:at], data[at:]]

        async def chunks() -> Any:
            for piece in pieces:
                yield piece

        return StreamingResponse(chunks(), media_type="text/html; charset=utf-8")

    return Starlette(routes=[Route("/page", page), Route("/decoy", decoy), Route("/split", split)])


def _mw(tmp_path: Path, rules: str) -> ComplianceMiddleware:
    # A folder per rule set: middlewares of one process share the rules read from one path.
    folder = tmp_path / f"rules-{len(list(tmp_path.glob('rules-*')))}"
    folder.mkdir()
    return ComplianceMiddleware(_site(), rules=write_rules(folder, RULES + rules))


def _get(caplog: pytest.LogCaptureFixture, app: ComplianceMiddleware, path: str, country: str) -> tuple[str, list[Any]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(AsReader(app, country), path).text
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    return text, events[-1]["rules"] if events else []


def _dom(html: str) -> list[tuple[str, ...]]:
    """The page as html5lib builds it, element by element (tag, attributes, text, tail)."""
    out: list[tuple[str, ...]] = []
    for element in html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False).iter():
        tag = element.tag if isinstance(element.tag, str) else "#comment"
        attributes = sorted(f"{k}={v}" for k, v in element.attrib.items())
        out.append((tag, *attributes, element.text or "", element.tail or ""))
    return out


# -- end to end ------------------------------------------------------------------------------------


def test_an_eu_reader_gets_the_page_without_the_rt_embed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = _mw(tmp_path, REMOVE)
    text, rules = _get(caplog, app, "/page", "DE")
    assert "www.rt.com" not in text and "No video here." not in text
    assert text == PAGE.replace(RT, "")
    assert OTHER in text and "<figcaption>The walkout</figcaption>" in text
    assert rules == [
        {
            "rule": "eu-rt",
            "notice": "sanctioned-embed",
            "mode": "enforce",
            "outcome": "removed",
            "place": 'before: iframe[src^="https://www.rt.com/"]',
            "count": 1,
        }
    ]


def test_nothing_else_in_the_dom_changes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text, _ = _get(caplog, _mw(tmp_path, REMOVE), "/page", "FR")
    before, after = _dom(PAGE), _dom(text)
    removed = [node for node in before if node not in after]
    assert [node[0] for node in removed] == ["iframe"] and "src=https://www.rt.com/embed/walkout" in removed[0]
    assert [node for node in before if node[0] != "iframe" or node in after] == after


def test_a_us_reader_gets_the_page_as_the_site_sent_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text, rules = _get(caplog, _mw(tmp_path, REMOVE), "/page", "US")
    assert text == PAGE
    assert rules == []


def test_replace_puts_the_notice_where_the_embed_was(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text, rules = _get(caplog, _mw(tmp_path, REPLACE), "/page", "DE")
    assert "www.rt.com" not in text
    notice_at = text.index('data-legal-notice="sanctioned-embed"')
    assert text.index("<figure>") < notice_at < text.index("<figcaption>The walkout")
    assert "This video is from a broadcaster under EU sanctions." in text
    assert rules[0]["outcome"] == "replaced" and rules[0]["count"] == 1
    assert [n for n in _dom(text) if n[0] in ("iframe", "span", "aside")][0][0] in ("span", "aside")


def test_every_chunking_gives_the_same_page(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for rules in (REMOVE, REPLACE):
        app = _mw(tmp_path, rules)
        whole, _ = _get(caplog, app, "/page", "DE")
        assert "www.rt.com" not in whole
        for at in range(len(PAGE.encode()) + 1):
            text, audited = _get(caplog, app, f"/split?at={at}", "DE")
            assert text == whole, at
            assert audited[0]["outcome"] in ("removed", "replaced"), at
        for size in (1, 2, 3, 7):
            assert _get(caplog, app, f"/split?size={size}", "DE")[0] == whole, size


def test_the_address_in_a_script_string_a_comment_or_text_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text, rules = _get(caplog, _mw(tmp_path, REPLACE), "/decoy", "DE")
    assert text == DECOY
    assert rules[0]["outcome"] == "not-applicable"
    assert rules[0]["why"] == "no element on the page matches the rule's selector"


def test_a_block_wins_over_removal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    block = '\n  - {id: eea, notice: gdpr, jurisdictions: ["@EEA"], action: block}\n'
    app = _mw(tmp_path, REMOVE + block)
    response = fetch(AsReader(app, "DE"), "/page")
    assert response.status_code == 451 and "www.rt.com" not in response.text


def test_a_removal_rule_and_a_notice_rule_of_one_notice_both_apply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notice = '\n  - {id: eu-note, notice: sanctioned-embed, jurisdictions: ["@EU"]}\n'
    text, rules = _get(caplog, _mw(tmp_path, REMOVE + notice), "/page", "DE")
    assert "www.rt.com" not in text
    assert text.index('data-legal-notice="sanctioned-embed"') < text.index("</body>")
    assert sorted(r["outcome"] for r in rules) == ["injected", "removed"]


def test_a_remove_rule_may_name_no_notice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bare = (
        REMOVE.replace("    notice: sanctioned-embed\n", "") + "    legal_basis: Council Regulation (EU) No 833/2014\n"
    )
    text, rules = _get(caplog, _mw(tmp_path, bare), "/page", "DE")
    assert text == PAGE.replace(RT, "")
    assert rules == [
        {
            "rule": "eu-rt",
            "mode": "enforce",
            "legal_basis": "Council Regulation (EU) No 833/2014",
            "outcome": "removed",
            "place": 'before: iframe[src^="https://www.rt.com/"]',
            "count": 1,
        }
    ]


def test_a_replace_rule_needs_its_notice() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(RULES + REPLACE.replace("    notice: sanctioned-embed\n", ""), "rules.yaml")
    assert 'rules.yaml:12:5: error[missing-field]: The rule "eu-rt" has no "notice"' in str(caught.value)


# -- the rewriter ----------------------------------------------------------------------------------


def _rewrite(page: bytes, insertion: Insertion, size: int, holdback: int = 256 * 1024) -> tuple[bytes, int]:
    rewriter = HtmlRewriter([insertion], b"", holdback)
    out = []
    held = 0
    for i in range(0, len(page), size):
        out.append(rewriter.feed(page[i : i + size]))
        held = max(held, rewriter.held)
    out.append(rewriter.close())
    return b"".join(out), held


@pytest.mark.parametrize(
    ("selector", "page", "expected"),
    [
        ("iframe", "<body><p>a<iframe src=x><p>not a p</p></iframe>b</p></body>", "<body><p>ab</p></body>"),
        ("script[src$='.js']", "<body><script src=a.js>'</script>x</body>", "<body>x</body>"),
        (
            "script[src$='.js']",
            '<body><script src=a.js>s="<!--<script>x</script>-->"</script>x</body>',
            "<body>x</body>",
        ),
        ("embed[src*=rt]", '<body><embed src="//rt.com/a">x<embed src=b></body>', "<body>x<embed src=b></body>"),
        ("li[class~=ad]", "<body><ul><li class='x ad'>a<li>b</ul></body>", "<body><ul><li>b</ul></body>"),
        ("[lang|=ru]", "<body><p lang=ru-RU>a</p><p lang=rus>b</p></body>", "<body><p lang=rus>b</p></body>"),
        ("div.e", "<body><div class=e><div>x</div>y</div>z</body>", "<body>z</body>"),
        ("p", "<body><div><p>a<div>b</div></div></body>", "<body><div><div>b</div></div></body>"),
        ("svg", "<body><svg><path/><script>x</svg></script></svg>z</body>", "<body>z</body>"),
        ("[class~=page]", '<body class="page"><p class=page>a</p>b</body>', '<body class="page">b</body>'),
        ("iframe", "<body><!-- <iframe> --><p>x</p></body>", "<body><!-- <iframe> --><p>x</p></body>"),
        ("div", "<body><div>never closed", "<body>"),
    ],
)
@pytest.mark.parametrize("size", [1, 2, 5, 64, 10_000])
def test_the_element_ends_where_the_tokenizer_says(selector: str, page: str, expected: str, size: int) -> None:
    insertion = Insertion("rule:x", (Place("before", selector),), b"", fallback=False, every=True, action="remove")
    assert _rewrite(page.encode(), insertion, size)[0].decode() == expected


def test_an_element_longer_than_the_holdback_is_cut_as_it_streams() -> None:
    inner = b"<p>" + b"x" * 200 + b"</p>"
    page = b"<body><p>keep</p><div class=big>" + inner * 2000 + b"</div><p>after</p></body>"
    for action, markup in (("remove", b""), ("replace", b"[N]")):
        insertion = Insertion("rule:x", (Place("before", "div.big"),), markup, fallback=False, action=action)
        out, held = _rewrite(page, insertion, 4096, holdback=16 * 1024)
        assert out == b"<body><p>keep</p>" + markup + b"<p>after</p></body>"
        assert held < 32 * 1024  # never the whole element (over 400 KB)
        assert _rewrite(page, insertion, 4096)[0] == out  # held whole, the same page


def test_at_most_fifty_elements_are_removed() -> None:
    page = b"<body>" + b"<iframe src=r></iframe>" * 60 + b"</body>"
    insertion = Insertion("rule:x", (Place("before", "iframe"),), b"", fallback=False, every=True, action="remove")
    out, _ = _rewrite(page, insertion, 100)
    assert out.count(b"<iframe") == 10


# -- the rule file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "column", "message"),
    [
        ("{id: a, notice: gdpr, jurisdictions: [DE], action: remove}", 56, "must be one selector place"),
        (
            "{id: a, notice: gdpr, jurisdictions: [DE], action: remove, placement: [{before: iframe}, body-end]}",
            75,
            "must be one selector place",
        ),
        ("{id: a, notice: gdpr, jurisdictions: [DE], action: replace, placement: {before: body}}", 76, "whole page"),
        ("{id: a, notice: gdpr, jurisdictions: [DE], action: remove, placement: {after: head}}", 83, "<head>"),
        (
            "{id: a, notice: gdpr, jurisdictions: [DE], action: remove, placement: {before: 'iframe[src^=https://x]'}}",
            84,
            "without quotes",
        ),
        ("{id: a, notice: gdpr, jurisdictions: [DE], action: delete}", 56, '"delete" is not a valid "action"'),
    ],
)
def test_a_wrong_removal_is_an_error_at_its_line(rule: str, column: int, message: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(RULES + "  - " + rule + "\n", "rules.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"rules.yaml:11:{column}: error")


def test_a_fallback_on_a_removal_is_a_warning(tmp_path: Path) -> None:
    ruleset = load_rules(write_rules(tmp_path, RULES + REMOVE + "    fallback: none\n"))
    assert [w.code for w in ruleset.warnings] == ["fallback-ignored"]


def test_every_operator_reads_quoted_and_bare_values() -> None:
    for text in ('iframe[src^="https://www.rt.com/"]', "a[href$='.pdf']", "[data-x*=rt]", '[class~="ad"]'):
        assert parse_selector(text) is not None, text


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, text=True, check=False)


def test_explain_and_the_report_say_what_becomes_of_the_element(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, RULES + REMOVE + REPLACE.replace("eu-rt", "eu-rt-2"))
    done = _cli("explain", "--rules", str(rules), "--country", "DE", "--path", "/a")
    assert 'removes every element matching iframe[src^="https://www.rt.com/"] (at most 50 in a page)' in done.stdout
    assert "replaces every element matching" in done.stdout and "by the notice" in done.stdout
    report = _cli("report", "--rules", str(rules), "-o", "-")
    assert "removes elements" in report.stdout and "replaces elements" in report.stdout


def test_a_case_that_expects_the_embed_gone_fails_where_it_is_there(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, RULES + REMOVE)
    (tmp_path / "tests").mkdir()
    cases = write_rules(
        tmp_path / "tests",
        """\
cases:
  - name: gone for DE
    request: {path: /news/gas-talks-stall, country: DE}
    expect: {notices: [], lacks: ["https://www.rt.com/"]}
  - name: gone for US too (wrong)
    request: {path: /news/gas-talks-stall, country: US}
    expect: {notices: [], lacks: ["https://www.rt.com/"]}
""",
        "cases.yaml",
    )
    done = subprocess.run(
        [sys.executable, "-m", "compliance", "test", str(cases), "--rules", str(rules), "--app", "examples.app:app"],
        capture_output=True,
        text=True,
        check=False,
        env={**__import__("os").environ, "COMPLIANCE_RULES": str(rules)},
    )
    assert "PASS  gone for DE" in done.stdout
    assert "FAIL  gone for US too (wrong)" in done.stdout
    assert 'the page lacks "https://www.rt.com/"' in done.stdout
    assert done.returncode == 1


# -- the awkward-page corpus, read back by html5lib ------------------------------------------------

#: Elements the matcher knowingly finds where html5lib does not: inside `<template>`, which it
#: matches as if not inert (see compliance/respond/matcher.py).
KNOWN_CORPUS = frozenset(
    {
        ("p", "template"),
        ("li", "template"),
        # an element that holds a <plaintext> runs to the end of the document: it is not removed
        ("article", "plaintext before the end of the body"),
    }
)


def _in_no_place(element: Any, parents: dict[Any, Any]) -> bool:
    """Whether the element lies inside SVG or MathML, or inside a <noscript> (text, as browsers read it)."""
    parent = parents.get(element)
    while parent is not None:
        if isinstance(parent.tag, str) and ("}" in parent.tag or parent.tag == "noscript"):
            return True
        parent = parents.get(parent)
    return False


def _drop_first(tree: Any, tag: str) -> bool:
    """Take the first `tag` element of the body out of an html5lib tree, keeping the text after it."""
    body = tree.find(".//body")
    if body is None:  # a frameset
        return False
    parents = {child: parent for parent in tree.iter() for child in parent}
    for element in body.iter():
        if (
            element is not body
            and isinstance(element.tag, str)
            and element.tag.rpartition("}")[2] == tag
            and not _in_no_place(element, parents)
        ):
            parent = parents[element]
            index = list(parent).index(element)
            if element.tail:
                if index:
                    parent[index - 1].tail = (parent[index - 1].tail or "") + element.tail
                else:
                    parent.text = (parent.text or "") + element.tail
            parent.remove(element)
            return True
    return False


def _without_empty_tbody(tree: Any) -> Any:
    """html5lib implies a `tbody` for a `tr`: with the only `tr` gone, an empty one is no change."""
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag == "tbody" and len(child) == 0 and not (child.text or "").strip():
                parent.remove(child)
    return tree


def test_the_corpus_loses_the_element_and_nothing_else(tmp_path: Path) -> None:
    import asyncio

    from bench.corpus import CORPUS, READER, _app, _call, _events, _parse
    from compliance.reader.databases import StaticResolver

    loop = asyncio.new_event_loop()
    changed = []
    try:
        for index, tag in enumerate(("iframe", "p", "li", "td", "tr", "table", "h1", "svg", "article", "b", "a", "ul")):
            rules = tmp_path / f"rules-{index}.yaml"
            rules.write_text(
                RULES + f"  - {{id: r, jurisdictions: [RU], placement: {{before: {tag}}}, action: remove}}\n"
            )
            for name, page, content_type in CORPUS:
                app = ComplianceMiddleware(
                    _app(page, content_type),
                    rules=rules,
                    resolver=StaticResolver({READER: "RU"}),
                    reload_interval=None,
                    metrics=False,
                )
                body = loop.run_until_complete(_call(app))
                if name.startswith("utf-16"):
                    assert body == page  # a UTF-16 page is never rewritten (audited missed)
                    continue
                expected, got = _parse(page, content_type), _parse(body, content_type)
                _drop_first(expected, tag)
                want: list[tuple[str, ...]] = []
                have: list[tuple[str, ...]] = []
                _events(_without_empty_tbody(expected), want)
                _events(_without_empty_tbody(got), have)
                if want != have and (tag, name) not in KNOWN_CORPUS:
                    changed.append((tag, name))
    finally:
        loop.close()
    assert changed == []


def test_an_element_nested_too_deep_to_find_its_end_is_audited_missed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = "<body><div class=embed>" + "<div>" * 300 + "x" + "</div>" * 301 + "<p>after</p></body>"

    async def deep(request: Request) -> Response:
        return HTMLResponse(page)

    folder = tmp_path / "deep"
    folder.mkdir()
    rule = "  - {id: r, jurisdictions: [DE], placement: {before: div.embed}, action: remove}\n"
    app = ComplianceMiddleware(Starlette(routes=[Route("/deep", deep)]), rules=write_rules(folder, RULES + rule))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(AsReader(app, "DE"), "/deep").text
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert text == page  # left as it was, never half removed
    assert event["rules"][0]["outcome"] == "missed"
    assert "nested too deep" in event["rules"][0]["why"]


def test_a_form_on_a_removal_is_a_warning(tmp_path: Path) -> None:
    ruleset = load_rules(write_rules(tmp_path, RULES + REMOVE + "    form: inline\n"))
    assert [(w.code, w.line) for w in ruleset.warnings] == [("form-ignored", 18)]


def test_against_the_rules_alone_a_replace_rule_shows_its_notice(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path, RULES + REPLACE + REMOVE.replace("eu-rt", "eu-rt-2").replace("sanctioned-embed", "gdpr")
    )
    cases = write_rules(
        tmp_path,
        "cases:\n  - name: DE\n    request: {path: /a, country: DE}\n    expect: {notices: [sanctioned-embed]}\n",
        "cases.yaml",
    )
    done = _cli("test", str(cases), "--rules", str(rules))
    assert "PASS  DE" in done.stdout, done.stdout
