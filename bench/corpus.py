"""The awkward-page corpus: pages that test where a notice may land, read back by a spec parser.

Each page goes through the real middleware in-process, once per placement in `PLACEMENTS`,
for a reader in Russia; the output and the page as the app sent it are parsed by html5lib
(the HTML parsing algorithm of the WHATWG spec) and compared. These counts are the targets
of the benchmark's correctness section (and of tests/test_differential.py), each 0:

- `inside`: a notice's text read as the content of a script, style, title, textarea, comment,
  or an attribute value (anything but a rendered notice element);
- `changed`: the rest of the page's DOM (everything but the notice elements and the notices'
  `<style>`) differs from the page's own;
- `unrendered`: the audit says `injected` (or `fallback`) where the parser finds no notice
  element in the page's body;
- `misplaced`: the first notice element is not where the audit says it went (first or last in
  `body`; next to, first or last in an element of the selector's type);
- `overmissed`: the audit says `missed` because the page's end would not render a notice
  (inside a comment, a script, a tag; after `<plaintext>`; a frameset), where the parser does
  render a notice added at the very end of the page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import html5lib

from compliance import ComplianceMiddleware
from compliance.reader.databases import StaticResolver
from compliance.respond.html.tokenizer import FRAMESET_REASON, PLAINTEXT_REASON

__all__ = ["CORPUS", "PLACEMENTS", "Finding", "run_corpus"]

TEXT = "NOTICE7F3 readers in Russia"
CSS = ".legal-notice { border: 1px solid }"
READER = "95.173.136.70"

#: Placements tried on every page (as YAML flow values).
PLACEMENTS = (
    "body-end",
    "body-start",
    "{before: p}",
    "{prepend: p}",
    "{append: p}",
    '{after: "p b"}',
    '{before: "p a"}',
    "{before: li}",
    "{append: li}",
    "{prepend: td}",
    '{after: "main > article"}',
    "{before: h1}",
    "{after: h1}",
    "{append: article}",
    "{before: table}",
    '[{marker: legal}, {after: "article h1"}, body-end]',
)

AD = b"<script><!-- document.write('<script src=a.js></script><p>ad</p><body>') //--></script>"
HEAD = b"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>T</title></head>"


def _page(body: bytes, head: bytes = HEAD) -> bytes:
    return head + b"<body>" + body + b"</body></html>"


ARTICLE = b"<main><article><h1>Title</h1><p>One <b>bold</b> and <a href=/x>a link</a>.</p><p>Two</p></article></main>"

#: (name, page, Content-Type)
CORPUS: list[tuple[str, bytes, str]] = [
    ("plain article", _page(ARTICLE), "text/html; charset=utf-8"),
    ("old ad script before the article", _page(AD + ARTICLE), "text/html; charset=utf-8"),
    (
        "old ad script in the head",
        HEAD.replace(b"</head>", AD + b"</head>") + b"<body>" + ARTICLE + b"</body>",
        "text/html",
    ),
    ("script double escaped then back", _page(b"<script><!--<script>--></script><p>x</p>" + ARTICLE), "text/html"),
    ("ends inside an unclosed script", HEAD + b"<body>" + ARTICLE + b"<script>var a = '<p>'", "text/html"),
    ("ends inside an escaped script", HEAD + b"<body>" + ARTICLE + AD[:-9], "text/html"),
    ("ends inside a comment", HEAD + b"<body>" + ARTICLE + b"<!-- a comment <p>", "text/html"),
    ("ends inside a tag", HEAD + b"<body>" + ARTICLE + b"<p><a href=/x class=", "text/html"),
    ("ends inside an attribute", HEAD + b"<body>" + ARTICLE + b"<p><a title='x", "text/html"),
    ("ends inside a textarea", HEAD + b"<body>" + ARTICLE + b"<textarea><p>", "text/html"),
    (
        "frameset",
        b"<html><head><title>F</title></head><frameset cols=50%,50%><frame src=a><frame src=b></frameset></html>",
        "text/html",
    ),
    (
        "frameset with noframes",
        b"<html><frameset><frame src=a><noframes><body><p>x</p></body></noframes></frameset></html>",
        "text/html",
    ),
    ("plaintext", HEAD + b"<body><p>x</p><plaintext><p>y</p>", "text/html"),
    # `<plaintext>` before the page's `</body>`: that `</body>` and every later tag are text
    (
        "plaintext before the end of the body",
        _page(b"<main><article><PlainText><h1>T</h1><p>x</p></article></main>"),
        "text/html",
    ),
    ("plaintext inside an attribute", _page(b"<a title='<plaintext>'>a</a>" + ARTICLE), "text/html"),
    (
        "frameset then a body",
        b"<html><head><title>F</title></head><frameset><frame src=a></frameset><body>" + ARTICLE + b"</body></html>",
        "text/html",
    ),
    ("frameset after body text", _page(b"text<frameset><frame src=a></frameset>" + ARTICLE), "text/html"),
    (
        "frameset after an element with no text",
        b"<html><head></head><div></div><frameset><frame src=a></frameset><noframes><p>x</p></noframes></html>",
        "text/html",
    ),
    (
        "raw text elements holding markup",
        _page(
            b"<xmp><p>x</p></xmp><iframe><p>y</p></iframe><noembed><p>z</p></noembed>"
            b"<noframes><p>w</p></noframes><noscript><h1>n</h1></noscript>" + ARTICLE
        ),
        "text/html",
    ),
    ("ends inside an unclosed xmp", HEAD + b"<body>" + ARTICLE + b"<xmp><p>", "text/html"),
    ("ends inside an unclosed title", HEAD + b"<body>" + ARTICLE + b"<title><p>", "text/html"),
    (
        "svg with foreignObject",
        _page(
            b"<svg><foreignObject><main><article><h1>i</h1><p>in svg</p></article></main></foreignObject></svg>"
            + ARTICLE
        ),
        "text/html",
    ),
    (
        "mathml html integration point",
        _page(b"<math><annotation-xml encoding='text/html'><p>in math</p><li>l</li></annotation-xml></math>" + ARTICLE),
        "text/html",
    ),
    (
        "mathml text integration point",
        _page(b"<math><mi><b>x</b></mi><mtext><p>t</p></mtext></math>" + ARTICLE),
        "text/html",
    ),
    ("svg element named plaintext", _page(b"<svg><plaintext>a</plaintext></svg>" + ARTICLE), "text/html"),
    ("svg breakout", _page(b"<p>a<svg><path/><b>out</b></svg> tail</p>" + ARTICLE), "text/html"),
    (
        "svg cdata holding markup",
        _page(b"<svg><![CDATA[ <i>not a tag</i> ]]><desc>d</desc></svg>" + ARTICLE),
        "text/html",
    ),
    (
        "inline svg icons",
        _page(
            b"<main><article><h1><svg class=icon><use href=#i /></svg>T</h1><p>x<svg><g/></svg></p></article></main>"
        ),
        "text/html",
    ),
    (
        "attributes holding markup",
        _page(b"<p title='<p>x</p><h1>'>a <b data-x=\"</p><b>\">b</b></p>" + ARTICLE),
        "text/html",
    ),
    (
        "svg and mathml with scripts and cdata",
        _page(
            b"<svg><script><![CDATA[ if (a < b) {} ]]></script><path d=M0/><title>t</title></svg>"
            b"<math><mi>x</mi><annotation-xml><p>y</p></annotation-xml></math>" + ARTICLE
        ),
        "text/html",
    ),
    ("template", _page(b"<template><p>in template</p><li>x</li></template>" + ARTICLE), "text/html"),
    ("table with implied tbody", _page(b"<table><tr><td>a<td>b</table>" + ARTICLE), "text/html"),
    (
        "omitted end tags",
        _page(b"<ul><li>one<li>two</ul><p>para one<p>para two<table><tr><td>c<td>d</table>"),
        "text/html",
    ),
    (
        "uppercase and odd whitespace",
        _page(b"<MAIN\n><ARTICLE\tclass=x><H1 >T</H1\n><P\n>text <B>b</B></P></ARTICLE></MAIN>"),
        "text/html",
    ),
    ("o:p, fb:like, h", _page(b"<main><o:p/><fb:like/><h/><article><p>x</p></article></main>"), "text/html"),
    ("utf-8 bom", b"\xef\xbb\xbf" + _page(ARTICLE), "text/html"),
    ("utf-8 bom and a windows-1251 label", b"\xef\xbb\xbf" + _page(ARTICLE), "text/html; charset=windows-1251"),
    (
        "windows-1251",
        _page("<p>Привет</p>".encode("cp1251") + ARTICLE).replace(b"utf-8", b"windows-1251"),
        "text/html; charset=windows-1251",
    ),
    (
        "x-cp1251 label",
        _page("<p>Привет</p>".encode("cp1251") + ARTICLE).replace(b"utf-8", b"x-cp1251"),
        "text/html; charset=x-cp1251",
    ),
    (
        "utf-16 with bom",
        b"\xff\xfe" + _page(ARTICLE).replace(b"<meta charset=utf-8>", b"").decode().encode("utf-16-le"),
        "text/html",
    ),
    (
        "utf-16 big endian with bom",
        b"\xfe\xff" + _page(ARTICLE).replace(b"<meta charset=utf-8>", b"").decode().encode("utf-16-be"),
        "text/html",
    ),
    ("marker comment", _page(b"<main><article><h1>T</h1><!-- legal --><p>x</p></article></main>"), "text/html"),
    ("marker inside a script", _page(b"<script>/* <!-- legal --> */</script>" + ARTICLE), "text/html"),
    ("paragraph with inline elements only", _page(b"<p>Read <i>this</i> <span>now</span></p>"), "text/html"),
    ("nested inline", _page(b"<div><p><em><b>deep</b></em> text</p></div>"), "text/html"),
    ("no body tags", b"<!DOCTYPE html><title>x</title><p>one<p>two", "text/html"),
    ("body text only", b"just text", "text/html"),
    ("heading inside paragraph text", _page(b"<p>a<span>b</span></p><h1>h</h1>"), "text/html"),
    ("list items with paragraphs", _page(b"<ol><li><p>x</p><li>y</ol>"), "text/html"),
]


@dataclass
class Finding:
    """What went wrong for one page and one placement."""

    page: str
    placement: str
    what: str  # "inside", "changed" or "unrendered"
    detail: str


@dataclass
class Result:
    runs: int = 0
    findings: list[Finding] = field(default_factory=list)

    def count(self, what: str) -> int:
        return sum(1 for f in self.findings if f.what == what)


def _rules(placement: str) -> str:
    return (
        "notices:\n  n:\n    title: N\n"
        f"    css: {json.dumps(CSS)}\n"
        f"    text: {{en: {json.dumps(TEXT)}}}\n"
        f"rules:\n  - {{id: r, notice: n, jurisdictions: [RU], placement: {placement}}}\n"
    )


def _app(page: bytes, content_type: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type.encode())]}
        )
        await send({"type": "http.response.body", "body": page})

    return app


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(json.loads(record.getMessage()))


async def _call(app: Any) -> bytes:
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/news/a",
        "raw_path": b"/news/a",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example.org"), (b"accept", b"text/html")],
        "client": (READER, 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return b"".join(chunks)


def _parse(body: bytes, content_type: str) -> Any:
    charset = None
    if "charset=" in content_type:
        charset = content_type.split("charset=", 1)[1].strip()
    return html5lib.parse(body, treebuilder="etree", namespaceHTMLElements=False, transport_encoding=charset)


def _is_notice(element: Any) -> bool:
    return isinstance(element.tag, str) and "data-legal-notice" in element.attrib


def _events(element: Any, out: list[tuple[str, ...]]) -> None:
    """The element's subtree as events, leaving out notices and the notices' style (adjacent texts merged)."""
    tag = element.tag
    if not isinstance(tag, str):  # a comment
        if str(element.text).strip() != "legal":  # the marker comment, which its notice replaces
            out.append(("comment", str(element.text)))
    elif _is_notice(element) or (tag == "style" and CSS in (element.text or "")):
        pass
    else:
        out.append(("start", tag, *sorted(f"{k}={v}" for k, v in element.attrib.items())))
        _text(element.text, out)
        for child in element:
            _events(child, out)
            _text(child.tail, out)
        out.append(("end", tag))
        return
    return


def _text(text: str | None, out: list[tuple[str, ...]]) -> None:
    if not text:
        return
    if out and out[-1][0] == "text":
        out[-1] = ("text", out[-1][1] + text)
    else:
        out.append(("text", text))


def _walk(element: Any, ancestors: tuple[str, ...] = ()) -> Iterator[tuple[Any, tuple[str, ...]]]:
    yield element, ancestors
    tag = element.tag if isinstance(element.tag, str) else "#comment"
    for child in element:
        yield from _walk(child, (*ancestors, tag))


_TEXT_ONLY = ("script", "style", "title", "textarea", "xmp", "noscript", "plaintext", "iframe")


#: The rewriter's reasons for leaving a notice out because the page's end would not render it.
_END_REASONS = ("the document ends inside", PLAINTEXT_REASON, FRAMESET_REASON)
_PROBE = b'<aside class="legal-notice" data-legal-notice="probe">NOTICE7F3</aside>'


def _would_render(page: bytes, content_type: str) -> bool:
    """Whether a notice added at the very end of the page would be rendered (what a missed notice is judged by)."""
    encoding = "utf-16-le" if page.startswith(b"\xff\xfe") else "utf-16-be" if page.startswith(b"\xfe\xff") else ""
    probe = _PROBE.decode().encode(encoding) if encoding else _PROBE
    return any(
        element.tag == "aside"
        and element.get("data-legal-notice") == "probe"
        and "body" in ancestors
        and "template" not in ancestors
        for element, ancestors in _walk(_parse(page + probe, content_type))
    )


_SUBJECT = re.compile(r"([a-z][a-z0-9-]*)[^ >]*$")


def _misplaced(root: Any, place: str) -> str | None:
    """Where the first notice element is not at `place` (the audit's words for it), or None.

    `before`/`after` an element whose start or end tag HTML lets authors leave out may put the
    notice last inside an element of the subject's type (compliance/respond/elements.py says when).
    """
    parents = {child: parent for parent in root.iter() for child in parent}
    notice = next((e for e in root.iter() if isinstance(e.tag, str) and _is_notice(e)), None)
    if notice is None or notice not in parents:
        return None
    parent = parents[notice]
    siblings = [  # elements, but the notices' style (which goes before the first notice where the head has ended)
        child
        for child in parent
        if isinstance(child.tag, str) and not (child.tag == "style" and CSS in (child.text or ""))
    ]
    at = siblings.index(notice)
    before = siblings[at - 1] if at else None
    after = siblings[at + 1] if at + 1 < len(siblings) else None
    # no text between the notice and what it is next to
    text_before = not ((before.tail if before is not None else parent.text) or "").strip()
    text_after = not (notice.tail or "").strip()
    first, last = before is None and text_before, after is None and text_after
    kind, _, selector = place.partition(": ")
    if kind == "body-start":
        ok = parent.tag == "body" and first
    elif kind == "body-end":
        ok = parent.tag == "body" and last
    elif kind in ("before", "after", "prepend", "append"):
        found = _SUBJECT.search(selector)
        subject = found.group(1) if found else ""
        last_inside = parent.tag == subject and last
        if kind == "before":
            ok = (after is not None and after.tag == subject and text_after) or last_inside
        elif kind == "after":
            ok = (before is not None and before.tag == subject and text_before) or last_inside
        elif kind == "prepend":
            ok = parent.tag == subject and first
        else:
            ok = last_inside
    else:
        return None  # a marker: where the site's template put it
    if ok:
        return None
    near = f"after <{before.tag}>" if before is not None else "first"
    return f"audited {place!r}, found in <{parent.tag}> {near}"


def _check(
    name: str,
    placement: str,
    page: bytes,
    body: bytes,
    content_type: str,
    outcome: str,
    why: str = "",
    place: str = "",
) -> list[Finding]:
    found: list[Finding] = []
    before, after = _parse(page, content_type), _parse(body, content_type)
    rendered = 0
    for element, ancestors in _walk(after):
        if not isinstance(element.tag, str):
            if "NOTICE7F3" in str(element.text):
                found.append(Finding(name, placement, "inside", "in a comment"))
            continue
        if _is_notice(element):
            if "body" in ancestors and "template" not in ancestors:
                rendered += 1
            continue
        raw = element.text or ""
        if element.tag in _TEXT_ONLY and ("NOTICE7F3" in raw or "data-legal-notice" in raw):
            found.append(Finding(name, placement, "inside", f"in a <{element.tag}>"))
        for key, value in element.attrib.items():
            if "NOTICE7F3" in value or "legal-notice" in value or "legal-notice" in key:
                found.append(Finding(name, placement, "inside", f"in an attribute of <{element.tag}>"))
    old: list[tuple[str, ...]] = []
    new: list[tuple[str, ...]] = []
    _events(before, old)
    _events(after, new)
    if old != new:
        at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        found.append(
            Finding(name, placement, "changed", f"at event {at}: {old[at : at + 2]} became {new[at : at + 2]}")
        )
    if outcome in ("injected", "fallback") and rendered:
        wrong = _misplaced(after, place)
        if wrong is not None:
            found.append(Finding(name, placement, "misplaced", wrong))
    if outcome in ("injected", "fallback") and rendered == 0:
        found.append(Finding(name, placement, "unrendered", f"audited {outcome}, no notice element in the body"))
    if outcome == "missed" and why.startswith(_END_REASONS) and _would_render(page, content_type):
        found.append(Finding(name, placement, "overmissed", f"audited missed ({why}), but the end of the page renders"))
    return found


def run_corpus() -> Result:
    """Every page of the corpus through every placement: the findings."""
    result = Result()
    keep = _Keep()
    audit = logging.getLogger("compliance.audit")
    level = audit.level
    audit.addHandler(keep)
    audit.setLevel(logging.INFO)
    loop = asyncio.new_event_loop()
    try:
        with tempfile.TemporaryDirectory(prefix="compliance-corpus-") as tmp:
            for index, placement in enumerate(PLACEMENTS):
                rules = Path(tmp) / f"rules-{index}.yaml"
                rules.write_text(_rules(placement), encoding="utf-8")
                for name, page, content_type in CORPUS:
                    app = ComplianceMiddleware(
                        _app(page, content_type),
                        rules=rules,
                        resolver=StaticResolver({READER: "RU"}),
                        reload_interval=None,
                        metrics=False,
                    )
                    keep.events.clear()
                    body = loop.run_until_complete(_call(app))
                    outcomes = [r.get("outcome", "") for e in keep.events for r in e.get("rules", ())]
                    whys = [r.get("why", "") for e in keep.events for r in e.get("rules", ())]
                    places = [r.get("place") or "" for e in keep.events for r in e.get("rules", ())]
                    result.runs += 1
                    result.findings += _check(
                        name,
                        placement,
                        page,
                        body,
                        content_type,
                        outcomes[0] if outcomes else "",
                        whys[0] if whys else "",
                        places[0] if places else "",
                    )
    finally:
        loop.close()
        audit.removeHandler(keep)
        audit.setLevel(level)
    return result


if __name__ == "__main__":
    done = run_corpus()
    for finding in done.findings:
        print(f"{finding.what:10} {finding.page} | {finding.placement} | {finding.detail}")
    print(
        f"{done.runs} runs: inside {done.count('inside')}, changed {done.count('changed')}, "
        f"unrendered {done.count('unrendered')}, overmissed {done.count('overmissed')}, "
        f"misplaced {done.count('misplaced')}"
    )
