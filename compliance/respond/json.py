"""The `{json: FIELD}` placement: a top-level field added to a JSON object response, streaming.

The field goes first in the object: right after the opening brace (and whatever
whitespace follows it), so the rewriter reads only the body's first few bytes
and passes the rest through as it comes, without scanning it. The body is
checked only as far as that: a leading UTF-8 byte order mark and whitespace,
then `{`. Any other body (an array, a scalar, an empty body, another encoding)
passes through untouched, and `reason` says why nothing was placed.

If the app's object already has FIELD at top level, the object ends up with the
key twice. Finding out would mean parsing the whole body, so it is not checked:
since the added field comes first, parsers that keep the last duplicate (Python's
`json`, JavaScript's `JSON.parse`, Go's `encoding/json`) see the app's own value.

The value is written with every non-ASCII character escaped (`\\u0420`), so it is
correct whatever ASCII-compatible charset the response declares, and carries no
raw U+2028 or U+2029.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, Final

from compliance.respond.render import _safe_href, link_text, render_text
from compliance.rules.model import Notice

__all__ = ["JsonInserter", "notice_item", "notices_json"]

_WHITESPACE: Final = frozenset(b" \t\n\r")
_BOM: Final = b"\xef\xbb\xbf"
#: First bytes of JSON in UTF-16 or UTF-32 (a byte-order mark, or the NUL half of a character).
_WIDE: Final = frozenset(b"\x00\xfe\xff")
_NOT_UTF8: Final = "the JSON is in UTF-16 or UTF-32, not UTF-8: a field in UTF-8 would corrupt it"
_OPEN: Final = ord("{")
_CLOSE: Final = ord("}")

# Where the inserter is in the body.
_AT_START = 0  # nothing but (part of) a byte order mark so far
_BEFORE = 1  # before the opening brace, in whitespace
_AFTER = 2  # after the opening brace, in whitespace
_PASSING = 3  # placed, or given up: the rest goes through as it is


def notice_item(notice: Notice, language: str) -> dict[str, Any]:
    """One notice as a JSON value: `{"id", "language", "text", "link"}`.

    `text` is the paragraphs joined by a blank line; `link` is `{"href", "text"}`, or null
    where the notice has none or its href uses a script-capable scheme (as in the HTML markup).
    """
    link: dict[str, str] | None = None
    if notice.link is not None and _safe_href(notice.link.href):
        link = {"href": notice.link.href, "text": link_text(notice, language) or notice.link.href}
    return {
        "id": notice.id,
        "language": language,
        "text": "\n\n".join(render_text(notice, language)),
        "link": link,
    }


def notices_json(items: Sequence[tuple[Notice, str]]) -> bytes:
    """The JSON list (compact, ASCII-only) of `(notice, language)` pairs, in the order given."""
    return _dumps([notice_item(notice, language) for notice, language in items])


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


@functools.lru_cache(maxsize=256)
def _member_key(field: str) -> bytes:
    return _dumps(field) + b":"


class JsonInserter:
    """Adds `"FIELD": VALUE` at the top of a JSON object body fed chunk by chunk.

    `value` is the already serialised JSON value (see `notices_json`). `feed`
    returns the bytes to send for each chunk and `close` what is left at the end
    (always empty: nothing is held back). The output does not depend on how the
    body is split into chunks. After the insertion each chunk is returned as it
    came, at no cost.
    """

    __slots__ = ("_member", "_state", "_bom", "placed", "reason")

    def __init__(self, field: str, value: bytes) -> None:
        self._member = _member_key(field) + value
        self._state = _AT_START
        self._bom = 0  # bytes of the byte order mark seen
        self.placed = False
        #: Why the field was not placed (None while undecided, and once placed).
        self.reason: str | None = None

    def feed(self, data: bytes) -> bytes:
        state = self._state
        if state == _PASSING:
            return data
        for i, byte in enumerate(data):
            if state == _AT_START:
                if byte == _BOM[self._bom]:
                    self._bom += 1
                    if self._bom == len(_BOM):
                        state = _BEFORE
                    continue
                if self._bom:
                    return self._give_up(data, "not a JSON object (not UTF-8)")
                state = _BEFORE
            if state == _BEFORE:
                if byte in _WHITESPACE:
                    continue
                if byte != _OPEN:
                    if byte in _WIDE:
                        return self._give_up(data, _NOT_UTF8)
                    return self._give_up(data, "not a JSON object")
                state = _AFTER
                continue
            if byte in _WHITESPACE:
                continue
            if byte == 0:  # `{` then NUL: UTF-16LE or UTF-32LE
                return self._give_up(data, _NOT_UTF8)
            self._state = _PASSING
            self.placed = True
            view = memoryview(data)  # slices without copies: the join is the one copy
            if byte == _CLOSE:
                return b"".join((view[:i], self._member, view[i:]))
            return b"".join((view[:i], self._member, b",", view[i:]))
        self._state = state
        return data

    def close(self) -> bytes:
        if self._state != _PASSING:
            if self._state == _AFTER:
                self.reason = "the JSON object is cut short"
            elif self._bom:
                self.reason = "not a JSON object (not UTF-8)"
            else:
                self.reason = "empty body"
            self._state = _PASSING
        return b""

    def _give_up(self, data: bytes, reason: str) -> bytes:
        self._state = _PASSING
        self.reason = reason
        return data
