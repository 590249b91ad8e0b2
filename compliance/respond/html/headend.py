"""Where a page's body begins, as the HTML tree builder tells: elements before it are in the head.

A notice's `<aside>` (or `<span>`) in the head would end the head there and move what follows
into the body, so no element in the head is a place for a notice (`before: script` never
matches a head `<script>`). The forward scanner asks `HeadReader` while selector places are
wanted and the body has not begun; once it has, the reader is no longer run.

Read as the tree builder reads the modes before the body ("initial" to "after head"): comments,
a doctype and whitespace change nothing; `<html>` and `<head>` start tags, the head's own
elements (`title`, `meta`, `link`, `base`, `script`, `style`, `noscript`, `template`, ...,
whose raw text is skipped) and end tags other than `</body>`, `</html>` and `</br>` keep the
head going, even after `</head>` (HTML puts a `<script>` between `</head>` and `<body>` back into
the head). The body begins at any other start tag (`<body>` itself, `<div>`, `<frameset>`...),
at non-whitespace text, and at those three end tags. Knowingly simplified: `<noscript>` is read as
raw text (scripting on), and a start tag longer than `MAX_TAG` bytes begins the body.
"""

from __future__ import annotations

import re
from typing import Final

import re2

from compliance.respond.elements import _HEAD_CONTENT
from compliance.respond.html.tokenizer import (
    _CLOSERS,
    _COMMENT_END,
    _END_SCAN,
    _NAME_END,
    _NOT_SPACE,
    _TAG_NAME_END,
    _TAG_REST,
    MAX_BODY_TAG,
    MAX_TAG,
    SCRIPT_DATA,
    STOPS,
    _any_case,
    _forward_pattern,
    close_raw,
    script_end,
)

__all__ = ["BODY_FIRST", "HEAD_UNREAD", "NOT_FOUND", "SIMPLE_HEAD_NAMES", "HeadReader", "head_end", "simple_head"]

_TAG_END_BYTES: Final = _TAG_NAME_END
_KEEP_HEAD: Final = _HEAD_CONTENT | frozenset({b"html"})
_BODY_END_TAGS: Final = frozenset({b"body", b"html", b"br"})


def _names(*names: bytes) -> bytes:
    return b"(?:" + b"|".join(_any_case(name) for name in names) + rb")(?=[\t\n\x0c\r />])"


def _raw(name: bytes, also: bytes = b"") -> bytes:
    """A whole raw-text element `name` whose text holds no `</name` (nor `also`), as an unrolled loop."""
    end = b"</" + _any_case(name)
    return (
        b"<" + _names(name) + _TAG_REST.pattern
        + rb"[^<]*+(?:<(?!/" + _any_case(name) + also + rb")[^<]*+)*+"
        + end + rb"(?=[\t\n\x0c\r />])" + _TAG_REST.pattern
    )  # fmt: skip


# What keeps the head going, read in one match where it is simple (several times faster than a
# token at a time on a news page's head): whitespace, a doctype, whole comments, the head's void
# elements and `<html>`, `<head>`, whole `<title>`, `<style>` and `<script>` elements (a script
# without `<!--` in it), and end tags but `</body>`, `</html>`, `</br>`. The rest (what is not
# complete yet, what begins the body, a script with `<!--`) is read a token at a time.
_SKIP: Final = re.compile(
    rb"(?:[\t\n\x0c\r ]++"
    rb"|<!" + _any_case(b"doctype") + rb"[^>]*+>"
    rb"|<!--(?:-?>|[^-]*+(?:-(?!->)[^-]*+)*+-->)"
    rb"|<" + _names(b"meta", b"link", b"basefont", b"base", b"bgsound", b"html", b"head") + _TAG_REST.pattern
    + rb"|</(?!" + _names(b"body", b"html", b"br") + rb")[A-Za-z][^\t\n\x0c\r />]*+" + _TAG_REST.pattern
    + b"|" + _raw(b"title") + b"|" + _raw(b"style") + b"|" + _raw(b"script", b"|!--")
    + rb")*+"
)  # fmt: skip


class HeadReader:
    """Reads a page from its start, chunk by chunk, until the body begins (`body_at`, absolute)."""

    __slots__ = ("body_at", "pos", "closer")

    def __init__(self) -> None:
        self.body_at = -1  # where the body begins, once known
        self.pos = 0  # where reading goes on (absolute); bytes from here on are still needed
        self.closer: re.Pattern[bytes] | None = None  # the end of the comment or raw text being read

    def read(self, buf: bytes | bytearray, base: int, n: int, final: bool) -> None:
        """Read buf[pos - base:n] (buf starts at the absolute offset `base`); at the end of the page if `final`."""
        i = max(self.pos - base, 0)
        if i == 0 and base == 0 and buf.startswith(b"\xef\xbb\xbf"):
            i = 3
        closer = self.closer
        while True:
            if closer is not None:
                at, resume, awaited = close_raw(closer, buf, i, n, final)
                if at < 0:
                    i, closer = resume, awaited
                    break
                i = resume
                if buf[resume - 1] != 0x3E:  # the rest of a raw-text end tag (`-->` ends with its `>`)
                    tag = _TAG_REST.match(buf, resume, n)
                    if tag is None and not final:
                        i, closer = at, _raw_closer_at(buf, at)  # read from its end tag again
                        break
                    i = n if tag is None else tag.end()
                closer = None
                continue
            i = _SKIP.match(buf, i, n).end()  # type: ignore[union-attr]
            m = _END_SCAN.search(buf, i, n)
            stop = n if m is None else m.start()
            if m is None and not final:
                lt = buf.find(b"<", max(i, n - 2), n)
                if lt >= 0:
                    stop = lt  # `<` or `</` at the end: what it opens is not known yet
            text = _NOT_SPACE.search(buf, i, stop)
            if text is not None:
                self.body_at = text.start() + base
                return
            if m is None:
                i = stop
                break
            q = m.start()
            if q + 1 >= n or m.end() >= n and buf[q + 1] == 0x21:
                i = q  # `<` or `<!-` at the end: not known yet
                break
            second = buf[q + 1]
            if buf.startswith(b"<!--", q):
                i, closer = q + 4, _COMMENT_END
                if buf.startswith(b">", q + 4) or buf.startswith(b"->", q + 4):  # `<!-->`, `<!--->`
                    i, closer = (q + 5 if buf[q + 4] == 0x3E else q + 6), None
                continue
            if second in (0x21, 0x3F) or (second == 0x2F and not (0x41 <= (buf[q + 2] | 0x20) - 0x20 <= 0x5A)):
                close = buf.find(b">", q + 2, n)  # a doctype or a bogus comment
                if close < 0:
                    i = q
                    break
                i = close + 1
                continue
            name_at = q + 2 if second == 0x2F else q + 1
            name_end = _NAME_END.match(buf, name_at, n).end()  # type: ignore[union-attr]
            tag = _TAG_REST.match(buf, name_end, n)
            if tag is None:
                if not final and n - q < MAX_TAG:
                    i = q  # the tag is not complete yet
                    break
                self.body_at = q + base
                return
            name = bytes(buf[name_at:name_end]).lower()
            i = tag.end()
            if second == 0x2F:
                if name in _BODY_END_TAGS:
                    self.body_at = q + base
                    return
                continue
            if name not in _KEEP_HEAD:
                self.body_at = q + base
                return
            raw = _CLOSERS.get(name)
            if raw is not None:
                closer = raw
        self.pos = i + base
        self.closer = closer


def _raw_closer_at(buf: bytes | bytearray, at: int) -> re.Pattern[bytes] | None:
    """The closer that finds the raw-text end tag at buf[at] (`</name`)."""
    name = bytes(buf[at + 2 : _NAME_END.match(buf, at + 2).end()]).lower()  # type: ignore[union-attr]
    return _CLOSERS.get(name)


#: What `head_end` says where it finds no `</head`: a `<body>` came first (the forward scanner
#: stops there), nothing was found up to the end of the page (it never stops), or a `<plaintext>`
#: or `<frameset>` came first (the forward scanner's own reading decides what that means).
BODY_FIRST: Final = -1
NOT_FOUND: Final = -2
HEAD_UNREAD: Final = -3
# The forward scanner's regex while it looks for `</head` and `<body`, and nothing else.
_HEAD_TOKENS: Final = _forward_pattern(True, True)[0]


def head_end(page: bytes) -> int:
    """Where the forward scanner of a whole page (in one piece) finds its `</head`, when it looks for
    nothing else (a style for the head, body-end notices): the same answer, at a fraction of the cost.

    Read as `ForwardScanner._scan` reads it: from one comment, raw-text element or `<body` tag to
    the next, with the same regex and closers, only without what the scanner does for other places.
    """
    search = _HEAD_TOKENS.search
    find = page.find
    n = len(page)
    i = 0
    while True:
        m = search(page, i, n)
        if m is None:
            return NOT_FOUND
        q = m.start()
        second = page[q + 1]
        if second == 0x21:  # `<!--`, up to its `-->` (`_COMMENT_END`)
            i = find(b"-->", q + 2, n)
            if i < 0:
                return NOT_FOUND
            i += 3
            continue
        if second == 0x2F:  # the pattern's only end tag: `</head`
            return q
        name_end = m.end()
        name = page[q + 1 : name_end].lower()
        if name == b"script":
            at, i, _ = script_end(page, name_end, n, SCRIPT_DATA, True)
        elif name == b"body":
            tag = _TAG_REST.match(page, name_end, n)
            if tag is not None and tag.end() - q <= MAX_BODY_TAG:
                return BODY_FIRST
            i = name_end
            continue
        elif name in STOPS:
            return HEAD_UNREAD
        else:  # what `close_raw` does for a raw-text element other than a script
            k = _CLOSERS[name].search(page, name_end, n)
            if k is None:
                return NOT_FOUND
            i = k.end()
            continue
        if at < 0:
            return NOT_FOUND


# --- a simple head, jumped over ------------------------------------------------------------------

_WS_CLASS: Final = rb"[\t\n\x0c\r ]"
# An attribute whose name, value and quotes leave no doubt (no `<`, no quote outside a quoted value):
# `_TAG_REST` ends its tag at the same `>`, and the forward scanner finds no token inside it.
_ATTRIBUTE: Final = _WS_CLASS + rb"""+[^\t\n\x0c\r /<>"'=]+(?:=(?:"[^"<]*"|'[^'<]*'|[^\t\n\x0c\r <>"'=`]+))?"""


def _opened(names: bytes) -> bytes:
    return rb"<(?i:" + names + rb")(?:" + _ATTRIBUTE + rb")*" + _WS_CLASS + rb"*"


# A simple head, whole: whitespace, a doctype, comments without `-`, `<` or `>` inside, the head's void
# elements, `<html>`, `<head>` and `</head>`, and `<title>`, `<style>` and `<script>` elements whose text
# holds no `<` (a script's may, but for `<!`, `<<` and `</s`). `HeadReader` and the forward scanner
# read each of these whole, from the same `<` to the same end, and nothing in it begins the body.
# RE2's DFA, in Latin-1 (any byte), tells whether buf[:at] is one without a capture (about 2 ns a byte).
_SIMPLE_ITEM: Final = (
    _WS_CLASS + rb"+|<!(?i:doctype)[^<>]*>|<!--[^<>-]*-->"
    + rb"|" + _opened(rb"meta|link|base|basefont|bgsound|html|head") + rb"/?>"
    + rb"|</(?i:head)" + _WS_CLASS + rb"*>"
    + rb"|" + _opened(rb"title") + rb">[^<]*</(?i:title)" + _WS_CLASS + rb"*>"
    + rb"|" + _opened(rb"style") + rb">[^<]*</(?i:style)" + _WS_CLASS + rb"*>"
    + rb"|" + _opened(rb"script") + rb">(?:[^<]|<[^!/<]|</[^<sS])*</(?i:script)" + _WS_CLASS + rb"*>"
)  # fmt: skip


def _simple_set() -> re2._re2.Set:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    simple = re2._re2.Set(re2._Anchor.ANCHOR_BOTH, options)
    simple.Add(rb"(?:" + _SIMPLE_ITEM + rb")*")
    simple.Compile()
    return simple


_SIMPLE: Final = _simple_set().Match
#: The tags a simple head may hold (and `body`): a selector place that wants one reads the head as before.
SIMPLE_HEAD_NAMES: Final = frozenset(
    {b"meta", b"link", b"base", b"basefont", b"bgsound", b"html", b"head", b"title", b"style", b"script", b"body"}
)
_RAW_IN_HEAD: Final = frozenset({b"title", b"style", b"script"})


def simple_head(buf: bytes | bytearray, n: int, markers: frozenset[bytes]) -> tuple[int, int] | None:
    """Where the body of buf[:n] begins (its first `<body` tag, whole) when all before it is a simple head.

    Then `HeadReader` would find the body there, and the forward scanner, looking for no name a
    simple head holds (`SIMPLE_HEAD_NAMES`), for no `</head` and for none of `markers` there, would
    read only comments and raw text up to it and report nothing. Returns (where, the scanner's
    `safe` there: where the last comment ends or the last raw-text end tag begins, else 0), or None.
    """
    at = buf.find(b"<body", 0, n)
    if at < 0 or at + 5 >= n or buf[at + 5] not in _TAG_END_BYTES or _TAG_REST.match(buf, at + 5, n) is None:
        return None
    start = 3 if buf.startswith(b"\xef\xbb\xbf") else 0
    if not _SIMPLE(bytes(buf[start:at])):
        return None
    for name in markers:
        if buf.find(name, start, at) >= 0:
            return None  # a comment of the head may be a marker: the scanner reads it
    p = at
    while True:  # back over what follows the last comment or raw-text element (tags without a `<` inside)
        p = buf.rfind(b"<", start, p)
        if p < 0:
            return at, 0
        if buf.startswith(b"<!--", p):
            return at, buf.find(b"-->", p) + 3
        if buf[p + 1] == 0x2F and bytes(buf[p + 2 : _NAME_END.match(buf, p + 2).end()]).lower() in _RAW_IN_HEAD:  # type: ignore[union-attr]
            return at, p
