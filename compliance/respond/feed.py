"""The `{feed: items}` and `{feed: channel}` placements: notices in RSS 2.0, Atom and JSON Feed responses.

A feed is buffered whole, up to `MAX_FEED` bytes (decoded), then rewritten in one
piece: a feed is a document of bounded size that readers fetch whole, and where
each item is depends on what comes before it. A larger body passes on untouched
from the point the limit is reached, and the audit says why nothing was placed.

Which kind of feed a response is comes from its media type (`application/rss+xml`,
`application/atom+xml`, `application/feed+json`) or, for `application/xml`,
`text/xml` and `application/json`, from the body: the root element `<rss>` or an
Atom `<feed>`, or a JSON object whose `version` is a JSON Feed version. Any other
body passes on untouched, and the rule does not apply to it.

RSS and Atom are read by `feed_xml` (a byte-level scan that never expands an
entity). A JSON Feed is parsed with the standard library (JSON has no entities)
and written back compact, with every non-ASCII character escaped.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Final

from compliance.respond.feed_xml import MAX_ITEMS, FeedText, feed_root, rewrite_xml_feed
from compliance.respond.render import _safe_href, link_text, render_notice_html, render_text
from compliance.rules.model import Notice, Place

__all__ = ["FEED_TYPES", "MAX_FEED", "FeedPlaced", "FeedText", "FeedTransform", "feed_text"]

#: Media types a feed may be served as; the last three are feeds only where the body says so.
FEED_TYPES: Final = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/xml",
        "text/xml",
        "application/json",
    }
)
#: Bytes of a feed (after decoding gzip, br or zstd) buffered to place notices; past them it passes untouched.
MAX_FEED: Final = 8 * 1024 * 1024
_JSON_FEED_VERSION: Final = "https://jsonfeed.org/version/1"
_MAYBE_FEED: Final = frozenset({"application/xml", "text/xml", "application/json"})
#: How far a body that may or may not be a feed is read before the first bytes decide.
_DECIDE_AT: Final = 4096


def feed_text(items: list[tuple[Notice, str]]) -> FeedText:
    """The notices, each in its languages, as HTML (`<aside>` each) and as plain text (paragraphs)."""
    markup = "".join(render_notice_html(notice, language, "utf-8").decode("utf-8") for notice, language in items)
    texts: list[str] = []
    for notice, language in items:
        paragraphs = list(render_text(notice, language))
        words = link_text(notice, language)
        if notice.link is not None and words is not None and _safe_href(notice.link.href):
            paragraphs.append(notice.link.href if words == notice.link.href else f"{words}: {notice.link.href}")
        texts.append("\n\n".join(paragraphs))
    return FeedText(markup, "\n\n".join(texts))


@dataclass(frozen=True, slots=True)
class FeedPlaced:
    key: str
    place: Place
    count: int = 0
    fallback: bool = False
    #: Why the rule does not apply to this body (not a feed), or None.
    inapplicable: str | None = None


class FeedTransform:
    """Buffers a feed body, then places the notices in it at the end (see the module's description).

    `places` are `(where, notices, ids)`: "items" or "channel", the notices' text, the ids they carry.
    """

    __slots__ = ("places", "media", "_buf", "_size", "_passing", "_counts", "reason", "_not_feed", "_decided")

    def __init__(self, places: list[tuple[str, FeedText, list[str]]], media: str) -> None:
        self.places = places
        self.media = media
        self._buf: list[bytes] = []
        self._size = 0
        self._passing = False
        self._counts: dict[str, int] = {}
        self._not_feed: str | None = None
        #: Whether the first bytes were read for what the body is (only types that may not be feeds need it).
        self._decided = media not in _MAYBE_FEED
        #: Why a notice was not placed, or None.
        self.reason: str | None = None

    def feed(self, data: bytes, last: bool = False) -> bytes:
        if self._passing:
            return data
        if data:
            self._buf.append(data)
            self._size += len(data)
        if self._size > MAX_FEED:
            return self._pass(f"the feed is larger than {MAX_FEED // (1024 * 1024)} MiB")
        if not self._decided and (self._size >= _DECIDE_AT or last):
            self._decided = True
            why = self._not_a_feed(b"".join(self._buf))
            if why is not None:
                self._not_feed = why
                return self._pass(why)
        return self.close() if last else b""

    def close(self) -> bytes:
        if self._passing:
            return b""
        body = b"".join(self._buf)
        self._buf = []
        self._passing = True
        if self.media.endswith("json"):
            for where, text, _ in self.places:
                body, count, reason = _rewrite_json_feed(body, where, text, self.media)
                self._note(where, count, reason)
                if reason is not None and self.media == "application/json" and reason.startswith("not"):
                    self._not_feed = reason
            return body
        kind, why = feed_root(body)
        expected = {"application/rss+xml": "rss", "application/atom+xml": "atom"}.get(self.media)
        if kind is None or (expected is not None and kind != expected):
            self.reason = why or f"a {self.media} response whose root element is not that of its kind of feed"
            if expected is None:
                self._not_feed = self.reason
            return body
        for where, text, _ in self.places:
            result = rewrite_xml_feed(body, kind, where, text)
            body = result.body
            self._note(where, result.count, result.reason)
        return body

    def _note(self, where: str, count: int, reason: str | None) -> None:
        self._counts[where] = count
        if reason is not None:
            self.reason = reason

    def _pass(self, reason: str) -> bytes:
        self._passing = True
        self.reason = reason
        held, self._buf = b"".join(self._buf), []
        return held

    def _not_a_feed(self, head: bytes) -> str | None:
        """Why a body of a type that may or may not be a feed is not one, from its first bytes; else None."""
        if self.media == "application/json":
            start = head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
            return None if start == b"{" else "not a JSON Feed (not a JSON object)"
        kind, why = feed_root(head)
        if kind is None and why is not None and why.startswith("the root element"):
            return why
        return None

    @property
    def placed(self) -> list[FeedPlaced]:
        found: list[FeedPlaced] = []
        for where, _, ids in self.places:
            place = Place("feed", where)
            count = self._counts.get(where, 0)
            if self._not_feed is not None:
                found.extend(FeedPlaced(i, place, inapplicable=self._not_feed) for i in ids)
            elif count:
                found.extend(FeedPlaced(i, place, count if where == "items" else 0) for i in ids)
        return found


def _rewrite_json_feed(body: bytes, where: str, notice: FeedText, media: str) -> tuple[bytes, int, str | None]:
    """(the body, items that got the notice, why nothing was placed) for a JSON Feed."""
    bom = body.startswith(codecs.BOM_UTF8)
    try:
        document = json.loads(body[3:] if bom else body)
    except RecursionError:
        return body, 0, "the JSON Feed nests too deeply"
    except ValueError:
        return body, 0, "not a JSON Feed (not JSON in UTF-8)"
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(_JSON_FEED_VERSION):
        if media == "application/feed+json":
            return body, 0, "the JSON Feed has no JSON Feed version"
        return body, 0, "not a JSON Feed (no JSON Feed version)"
    count = 0
    if where == "channel":
        description = document.get("description")
        if description is not None and not isinstance(description, str):
            return body, 0, "the JSON Feed's description is not text"
        document["description"] = notice.text + ("\n\n" + description if description else "")
        count = 1
    else:
        items = document.get("items")
        if not isinstance(items, list):
            return body, 0, "the feed has no item"
        for item in items[:MAX_ITEMS]:
            if not isinstance(item, dict):
                continue
            count += 1
            placed = False
            for key, value in (("content_html", notice.html), ("content_text", notice.text), ("summary", notice.text)):
                if isinstance(item.get(key), str):
                    separator = "" if key == "content_html" else "\n\n"
                    item[key] = value + (separator + item[key] if item[key] else "")
                    placed = True
            if not placed:
                item["content_html"] = notice.html
        if not count:
            return body, 0, "the feed has no item"
    out = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return (codecs.BOM_UTF8 + out if bom else out), count, None
