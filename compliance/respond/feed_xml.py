"""Notices in RSS 2.0 and Atom feeds, by a byte-level scan of the whole (bounded) feed.

The scan finds tags, comments, CDATA sections and processing instructions and
nothing more: it never expands an entity, never reads a DTD and never fetches
anything, so an entity bomb or an external entity is just bytes passed on. A
feed that declares a document type with an internal subset (where entities are
declared) is passed on untouched. Only the elements a placement needs are
tracked by their path from the root:

- RSS: `rss > channel > item > description` and `content:encoded` (HTML, escaped
  as text or in CDATA), `rss > channel > description` (plain text).
- Atom: `feed > entry > content` and `summary`, `feed > subtitle`: text constructs
  whose `type` is `text` (the default), `html` or `xhtml`; content of another
  media type, or out of line (`src`), is left alone.

The notice goes first in each element. HTML is written as escaped text, or as a
CDATA section of its own where the element's content begins with one; a `]]>`
in it is split so that it can never end the section early. Plain text is
escaped; in `xhtml` content the notice is XHTML in the XHTML namespace, first
inside the content's `<div>`. An item or entry with none of these elements gets
one (`description` in RSS, `summary type="html"` in Atom).
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["MAX_ITEMS", "FeedText", "XmlFeedResult", "feed_root", "rewrite_xml_feed"]

#: At most this many items (entries) of one feed get the notice; the rest pass as they are.
MAX_ITEMS: Final = 200
#: Elements nested deeper than this: the feed is passed on untouched.
MAX_DEPTH: Final = 256
ATOM_NS: Final = b"http://www.w3.org/2005/Atom"
_XHTML_NS: Final = "http://www.w3.org/1999/xhtml"

_TAG: Final = re.compile(rb"<([^\s/>!?]+)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR: Final = re.compile(rb"([^\s=/]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_XML_DECL: Final = re.compile(rb"<\?xml\s(?:[^?]|\?(?!>))*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_SPACE: Final = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class FeedText:
    """What the notices are in a feed: as HTML (asides, one per notice and language) and as plain text."""

    html: str
    text: str


@dataclass(slots=True)
class XmlFeedResult:
    body: bytes
    #: Items (entries) that got the notice, for `{feed: items}`; 1 where the channel got it.
    count: int = 0
    #: Why nothing was placed, or None.
    reason: str | None = None
    edits: list[tuple[int, int, bytes]] = field(default_factory=list)


def _attrs(raw: bytes) -> dict[bytes, bytes]:
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR.finditer(raw)}


def _codec(body: bytes) -> str | None:
    """The feed's codec where it is ASCII-compatible (UTF-8 without a declaration), else None."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:2] in (b"<\x00", b"\x00<"):
        return None
    m = _XML_DECL.match(body, 3 if body.startswith(codecs.BOM_UTF8) else 0)
    name = m.group(1).decode("ascii") if m else "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    try:
        if "<?>&;]".encode(codec) != b"<?>&;]" or codec.startswith(("utf-16", "utf-32", "utf-7")):
            return None
    except (UnicodeError, LookupError):
        return None
    return codec


def _skip(body: bytes, at: int) -> int | str:
    """Past the comment, CDATA section, processing instruction or declaration at `at`, or why not."""
    for opener, closer in ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>")):
        if body.startswith(opener, at):
            end = body.find(closer, at + len(opener))
            return "the feed ends inside a comment, CDATA section or instruction" if end < 0 else end + len(closer)
    end = body.find(b">", at)
    if end < 0:
        return "the feed ends inside a declaration"
    if b"[" in body[at:end]:
        return "the feed declares a document type with entities, which are never read"
    return end + 1


def feed_root(body: bytes) -> tuple[str | None, str | None]:
    """("rss" | "atom" | None, why not a feed) from the first start tag of an XML body."""
    at = 0
    while True:
        at = body.find(b"<", at)
        if at < 0:
            return None, "no root element"
        if body.startswith(b"<!", at) or body.startswith(b"<?", at):
            skipped = _skip(body, at)
            if isinstance(skipped, str):
                return None, skipped
            at = skipped
            continue
        m = _TAG.match(body, at)
        if m is None:
            return None, "no root element"
        name = m.group(1)
        if name == b"rss":
            return "rss", None
        if name == b"feed" and _attrs(m.group(2)).get(b"xmlns") == ATOM_NS:
            return "atom", None
        return None, f"the root element is <{name.decode('latin-1')}>, not <rss> or an Atom <feed>"


class _Element:
    """An element a notice may go into: where its content starts and how that content is written."""

    __slots__ = ("name", "kind", "start", "cdata", "div_end", "empty", "tag")

    def __init__(self, name: bytes, kind: str | None, start: int, tag: bytes, empty: bool) -> None:
        self.name = name
        self.kind = kind  # "html", "text", "xhtml", or None where a notice cannot go into it
        self.start = start  # right after the start tag
        self.cdata = False
        self.div_end = -1  # xhtml: right after the content's <div ...>
        self.empty = empty
        self.tag = tag  # the start tag as written (for an empty element)

    @property
    def usable(self) -> bool:
        if self.kind == "xhtml":
            return self.div_end >= 0
        return self.kind is not None


def _construct_kind(attrs: dict[bytes, bytes]) -> str | None:
    """The kind of an Atom text construct, or None where a notice cannot go into it."""
    if b"src" in attrs:
        return None
    kind = attrs.get(b"type", b"text").strip().lower()
    if kind in (b"text", b"text/plain"):
        return "text"
    if kind in (b"html", b"text/html"):
        return "html"
    if kind == b"xhtml":
        return "xhtml"
    return None


def _escape(text: str, codec: str) -> bytes:
    return html.escape(text, quote=False).encode(codec, "xmlcharrefreplace")


def _cdata(markup: str, codec: str) -> bytes:
    return b"<![CDATA[" + markup.replace("]]>", "]]]]><![CDATA[>").encode(codec, "xmlcharrefreplace") + b"]]>"


def _into(element: _Element, notice: FeedText, codec: str) -> tuple[int, int, bytes]:
    """The edit that puts the notice first in `element`."""
    if element.kind == "xhtml":
        markup = notice.html.replace("<aside ", f'<aside xmlns="{_XHTML_NS}" ', -1)
        return element.div_end, element.div_end, markup.encode(codec, "xmlcharrefreplace")
    if element.kind == "text":
        text = _escape(notice.text + ("" if element.empty else "\n\n"), codec)
    elif element.cdata:
        text = _cdata(notice.html, codec)
    else:
        text = _escape(notice.html, codec)
    if element.empty:  # <description/> becomes <description>NOTICE</description>
        tag = element.tag[:-2].rstrip() + b">"
        name = tag[1:].split(None, 1)[0].rstrip(b">")
        return element.start - len(element.tag), element.start, tag + text + b"</" + name + b">"
    return element.start, element.start, text


def rewrite_xml_feed(body: bytes, kind: str, where: str, notice: FeedText) -> XmlFeedResult:
    """The feed with the notice in each item (`where` "items") or in its description ("channel")."""
    codec = _codec(body)
    if codec is None:
        return XmlFeedResult(body, reason="the feed is not in an ASCII-compatible encoding such as UTF-8")
    rss = kind == "rss"
    items_depth = 3 if rss else 2  # rss > channel > item; feed > entry
    item_name = b"item" if rss else b"entry"
    item_parts = (b"description", b"content:encoded") if rss else (b"content", b"summary")
    result = XmlFeedResult(body)
    stack: list[bytes] = []
    found: list[_Element] = []  # the content elements of the current item
    description: _Element | None = None  # the channel's description (RSS) or subtitle (Atom)
    xhtml: _Element | None = None  # xhtml content whose <div> comes next
    channel_at = -1  # right after <channel> (RSS) or <feed> (Atom)
    rooted = False
    at = 0
    while True:
        lt = body.find(b"<", at)
        if lt < 0:
            break
        nxt = body[lt + 1 : lt + 2]
        if nxt in (b"!", b"?"):
            skipped = _skip(body, lt)
            if isinstance(skipped, str):
                return XmlFeedResult(body, reason=skipped)
            at = skipped
            continue
        if nxt == b"/":
            end = body.find(b">", lt)
            if end < 0:
                return XmlFeedResult(body, reason="the feed ends inside a tag")
            name = body[lt + 2 : end].strip()
            if not stack or stack[-1] != name:
                return XmlFeedResult(body, reason="the feed is not well-formed XML")
            at = end + 1
            if len(stack) == items_depth and name == item_name and where == "items":
                if result.count < MAX_ITEMS:
                    result.count += 1
                    usable = [e for e in found if e.usable]
                    result.edits.extend(_into(e, notice, codec) for e in usable)
                    if not usable and not any(e.name == item_parts[-1] for e in found):
                        added = b"<description>" if rss else b'<summary type="html">'
                        closing = b"</description>" if rss else b"</summary>"
                        result.edits.append((lt, lt, added + _escape(notice.html, codec) + closing))
                found = []
            stack.pop()
            continue
        m = _TAG.match(body, lt)
        if m is None:
            return XmlFeedResult(body, reason="the feed is not well-formed XML")
        name, raw, tag = m.group(1), m.group(2), m.group(0)
        empty = raw.endswith(b"/")
        at = m.end()
        if xhtml is not None:
            if name.split(b":")[-1] == b"div" and not empty:
                xhtml.div_end = at
            xhtml = None
        depth = len(stack)
        element: _Element | None = None
        if depth == 0:
            if rooted:
                return XmlFeedResult(body, reason="the feed is not well-formed XML")
            rooted = True
            if not rss:
                channel_at = at
        elif rss and depth == 1 and name == b"channel" and channel_at < 0:
            channel_at = at
        elif where == "channel" and description is None and depth == (2 if rss else 1):
            if rss and name == b"description" and stack[1] == b"channel":
                element = description = _Element(name, "text", at, tag, empty)
            elif not rss and name == b"subtitle":
                element = description = _Element(name, _construct_kind(_attrs(raw)), at, tag, empty)
        elif where == "items" and depth == items_depth and stack[-1] == item_name and name in item_parts:
            kind_of = "html" if rss else _construct_kind(_attrs(raw))
            element = _Element(name, kind_of, at, tag, empty)
            found.append(element)
        if element is not None and not empty:
            if element.kind == "xhtml":
                xhtml = element
            else:
                _mark_cdata(body, at, element)
        if not empty:
            stack.append(name)
            if len(stack) > MAX_DEPTH:
                return XmlFeedResult(body, reason=f"the feed nests elements deeper than {MAX_DEPTH}")
    if stack or not rooted:
        return XmlFeedResult(body, reason="the feed is cut short")
    if where == "channel":
        if description is not None and description.usable:
            result.edits.append(_into(description, notice, codec))
            result.count = 1
        elif description is None and channel_at >= 0:
            name = b"description" if rss else b"subtitle"
            result.edits.append((channel_at, channel_at, b"<%s>%s</%s>" % (name, _escape(notice.text, codec), name)))
            result.count = 1
    if not result.count:
        result.reason = "the feed has no item" if where == "items" else "the feed's description cannot take text"
        return result
    result.body = _apply(body, result.edits)
    return result


def _mark_cdata(body: bytes, at: int, element: _Element) -> None:
    """Whether the element's content begins (after white space) with a CDATA section."""
    i = at
    while i < len(body) and body[i] in _SPACE:
        i += 1
    element.cdata = body.startswith(b"<![CDATA[", i)


def _apply(body: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    pieces: list[bytes] = []
    at = 0
    for start, stop, text in sorted(edits, key=lambda e: (e[0], e[1])):
        pieces.append(body[at:start])
        pieces.append(text)
        at = stop
    pieces.append(body[at:])
    return b"".join(pieces)
