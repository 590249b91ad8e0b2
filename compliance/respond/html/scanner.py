"""The HTML rewriter's forward scanner: comments, `<body`, `</head`, markers and the tags selector places want.

How it reads a page, and what it takes for a tag, is told in anchors.py (Places) and
tokenizer.py; the selector matchers it reports tags to are in `compliance.respond.matcher`.
"""

from __future__ import annotations

import re
from typing import Final

from compliance.respond.attributes import parse_attributes
from compliance.respond.elements import phrasing_before
from compliance.respond.html import tokenizer
from compliance.respond.html.anchors import _BODY_START
from compliance.respond.html.foreign import BREAKOUT, INSIDE, ROOTS, Foreign
from compliance.respond.html.headend import SIMPLE_HEAD_NAMES, HeadReader, simple_head
from compliance.respond.html.search import PlaceSearch
from compliance.respond.html.tokenizer import (
    _EVERY_TAG,
    _PLAINTEXT,
    _START,
    _TEXT,
    _WAIT,
    _WS,
    FRAMESET_REASON,
    MAX_BODY_TAG,
    MAX_TAG,
    PLAINTEXT_REASON,
    STOPS,
    _construct,
    _construct_before,
    _enclosed,
    _lower_bytes,
    close_raw,
)
from compliance.respond.matcher import DONE, UNCHANGED, SelectorMatcher

__all__ = ["MAX_MARKER_COMMENT", "ForwardScanner"]

# Bound by assignment, not imported by name: CPython 3.11 compiles a method call on a name that an
# import binds (`_TAG_REST.match(...)`) to an attribute load that builds a bound method on every call.
_CLOSERS: Final = tokenizer._CLOSERS
_COMMENT_END: Final = tokenizer._COMMENT_END
_NAME_END: Final = tokenizer._NAME_END
_TAG_REST: Final = tokenizer._TAG_REST

#: The longest comment that counts as a marker (held back whole while it may be one).
MAX_MARKER_COMMENT: Final = 1024


_NO_MATCHERS: Final[frozenset[SelectorMatcher]] = frozenset()
# Whether a simple head is jumped over (tests compare with reading it token by token).
_jump_head = True


def _open_past(buf: bytes | bytearray, at: int, i: int, n: int) -> bool:
    """Whether the construct at `at` is not complete in buf[:n], or holds a `<` from i on."""
    kind, _, end = _construct(buf, at, n, False)
    return kind == _WAIT or buf.find(b"<", i, end) >= 0


class ForwardScanner(PlaceSearch):
    """The forward scanner of `HtmlRewriter`, and what it reports to the selector matchers."""

    # The selector matchers, none of which an element in the head may match (headend.py), where
    # the body begins, and the reader that finds it.
    _gated: frozenset[SelectorMatcher] = _NO_MATCHERS
    _head_reader: HeadReader | None = None
    _body_at = -1

    def _head_gate(self, pos: int) -> frozenset[SelectorMatcher]:
        """The matchers that must not see a tag at `pos` (absolute): the gated ones, while `pos` is in the head."""
        if self._gated and (self._body_at < 0 or pos < self._body_at):
            return self._gated
        return _NO_MATCHERS

    def _jumpable(self) -> bool:
        """Whether a simple head may be jumped over (`simple_head`): nothing wanted may lie in it."""
        return (
            self._fwd is not _EVERY_TAG
            and self._needles is None
            and self._raw_name is None
            and not self._head_open
            and not self._in_foreign
            and not self._sel_starts & SIMPLE_HEAD_NAMES
            and not self._sel_ends & SIMPLE_HEAD_NAMES
        )

    def _read_head(self, buf: bytes | bytearray, n: int, final: bool) -> None:
        reader = self._head_reader
        if reader is not None:
            reader.read(buf, self._base, n, final)
            if reader.body_at >= 0:
                self._body_at = reader.body_at
                self._head_reader = None

    def _marker_enclosed(self, buf: bytes | bytearray, before: int, q: int, n: int, final: bool) -> int:
        """`_enclosed` for the `<!--` of a marker at q, looking back into what was already sent."""
        if before >= 0 or q >= MAX_TAG or not self._recent:
            return _enclosed(buf, max(before, q - MAX_TAG, 0), q, n, final)
        shift = len(self._recent)
        joined = self._recent + bytes(buf[:n])
        return _enclosed(joined, max(before + shift, q + shift - MAX_TAG, 0), q + shift, n + shift, final)

    def _marker_phrasing(self, buf: bytes | bytearray, q: int) -> bool:
        """Whether the marker comment at q lies inside phrasing content (see `phrasing_before`)."""
        before = bytes(buf[max(0, q - MAX_TAG) : q])
        if q < MAX_TAG and self._recent:
            before = self._recent + before
        return phrasing_before(before)

    def _scan(self, buf: bytes | bytearray, end: int, final: bool) -> None:
        """Run the forward scanner over buf up to `end`.

        Which tokens it reads never depends on what is still wanted, only on the bytes: after a
        tag it reports, it goes on right after the tag's name as after any other (a token that
        then turns up inside the tag's attributes is not reported: see `_enclosed`), so that
        settling a notice early, which chunking can make happen sooner or later, changes
        nothing else.
        """
        base = self._base
        n = end - base
        i = max(self._fp - base, 0)
        safe = self._safe - base  # where the last token ended, or the `<` of the tag it is in
        floor = self._floor - base  # needles before this lie in a tag already reported
        closer = self._closer
        pattern = self._fwd
        needle_pattern: re.Pattern[bytes] | None = None
        needle_at = -1
        tag_at = tag_end = -1  # the last tag read whole here: where it begins and ends
        lower = bytes.lower if type(buf) is bytes else _lower_bytes
        if (
            i == 0
            and base == 0
            and closer is None
            and pattern is not None
            and _jump_head
            and self._jumpable()
            and (head := simple_head(buf, n, self._wanted_markers)) is not None
        ):
            i, safe = head  # as the scanner would have read the head: only comments and raw text
            if self._head_reader is not None:
                self._body_at = i  # (where `HeadReader` would have found the body)
                self._head_reader = None
        if self._head_reader is not None:
            self._read_head(buf, n, final)
        while pattern is not None:
            if closer is not None:
                q, k_end, awaited = close_raw(closer, buf, i, n, final)
                if q < 0:
                    i, closer = k_end, awaited
                    break
                raw = self._raw_name
                if raw is not None:  # the end of a raw-text element that a selector place follows
                    tag = _TAG_REST.match(buf, k_end, n)
                    if tag is None and not final and n - q < MAX_TAG:
                        i = q  # the end tag is not complete yet
                        break
                    e = tag.end() if tag is not None and tag.end() - q <= MAX_TAG else k_end
                    self._raw_name = None
                    self._tag_end(raw, q + base, e + base)
                    pattern = self._fwd
                i = k_end
                safe = i if closer is _COMMENT_END else q
                closer = None
                continue
            m = pattern.search(buf, i, n)
            needles = self._needles
            if needles is not None:
                if needles is not needle_pattern or needle_at < max(i, floor):  # the next needle
                    needle_pattern = needles
                    k = needles.search(buf, max(i, floor), n)
                    needle_at = n if k is None else k.start()
                if needle_at < n and (m is None or needle_at < m.start()):
                    p = needle_at
                    if m is None and not final and p >= n - self._lb:
                        i = max(i, n - self._lb)  # a token may start before it and end in the next chunk
                        break
                    self._safe = safe + base
                    at, wait = self._needle(buf, max(safe, p - MAX_TAG, 0), p, n, final)
                    if wait:
                        i = at
                        break
                    floor = max(floor, at)  # the end of the tag it reported, if any
                    i = p + 1
                    pattern = self._fwd
                    continue
            if m is None:
                i = n if final else max(i, n - self._lb)
                break
            q = m.start()
            second = buf[q + 1]
            if second == 0x21:  # `<!--`
                k = _COMMENT_END.search(buf, q + 2, n)
                if k is None:
                    if self._wanted_markers and not final and n - q < MAX_MARKER_COMMENT:
                        i = q  # may be a marker: keep it whole until its end arrives
                        break
                    closer = _COMMENT_END
                    i = q + 2
                    safe = q
                    continue
                before, closed = safe, k.end()
                name = b""
                if self._wanted_markers and closed - q <= MAX_MARKER_COMMENT:
                    name = bytes(buf[q + 4 : max(q + 4, closed - 3)]).strip(_WS)
                    if name in self._wanted_markers:
                        # A marker is a comment only in the data state: inside a tag or an
                        # attribute value (`<div title="<!-- NAME -->">`) it is text.
                        inside = self._marker_enclosed(buf, before, q, n, final)
                        if inside < 0:
                            i = q  # what may hold it is not complete yet
                            break
                        if inside:
                            name = b""
                i = safe = closed
                if name and name in self._wanted_markers:
                    self._markers_found = self._markers_found | {name}
                    if self._marker_phrasing(buf, q):
                        self._phrasing_markers = self._phrasing_markers | {name}
                    self._found(name, q + base, i + base)
                    pattern = self._fwd
                continue
            name_end = resume = m.end()
            if pattern is _EVERY_TAG:  # the name is read here
                name_end = resume = _NAME_END.match(buf, name_end, n).end()  # type: ignore[union-attr]
                if name_end >= n and not final and n - q < MAX_TAG:
                    i = q  # the name may go on in the next chunk
                    break
                lt = buf.find(b"<", q + 1, name_end)
                if lt >= 0:  # `<h<!--`: what follows the `<` is read as the other patterns read it
                    resume = lt
            if second == 0x2F:  # an end tag: `</head` before any `<body`, or one a selector follows
                name = lower(buf[q + 2 : name_end])  # type: ignore[arg-type]
                if name == b"head" and self._head_open:
                    self._head_open = False
                    self._head_pos = q + base
                    self._refresh()
                    pattern = self._fwd
                inside = 0
                if self._active and (name in self._sel_ends or self._sel_every):
                    tag = _TAG_REST.match(buf, name_end, n)
                    if tag is None and not final and n - q < MAX_TAG:
                        i = q  # the tag is not complete yet
                        break
                    if tag is not None and tag.end() - q <= MAX_TAG:
                        lt = buf.rfind(b"<", max(safe, q - MAX_TAG, 0), q)  # `_enclosed`, its usual cases first
                        if lt < 0:
                            inside = 0
                        elif lt == tag_at:
                            inside = 1 if tag_end > q else 0
                        else:
                            inside = _enclosed(buf, max(safe, q - MAX_TAG, 0), q, n, final, safe >= q - MAX_TAG)
                            if inside < 0:
                                i = q  # what may hold it is not complete yet
                                break
                        if not inside:  # (else the tag around it stays the last one read)
                            tag_at, tag_end = q, tag.end()
                            code = UNCHANGED
                            if self._in_foreign:
                                foreign = self._foreign_end(name)
                                pattern = self._fwd
                            else:
                                foreign = False
                            gate = self._head_gate(q + base)
                            for matcher in () if foreign else self._active:
                                if (matcher.every_tag or name in matcher.ends) and matcher not in gate:
                                    code |= matcher.end(name, q + base, tag_end + base)
                            if code:
                                self._matched(code)
                                pattern = self._fwd
                i = resume
                if not inside:
                    safe = q
                continue
            name = lower(buf[q + 1 : name_end])  # type: ignore[arg-type]
            selected = bool(self._active) and (self._sel_wide or name in self._sel_starts)
            body = name == b"body" and self._want_body
            if not (selected or body):  # the usual token: a raw-text element to skip
                if name in STOPS:
                    stop = self._stop(buf, q, name, name_end, n, final, safe)
                    if stop < 0:
                        i = q  # the tag is not complete yet
                        break
                    if stop:
                        i = n
                        break
                    if name == _PLAINTEXT:  # text inside another tag, or no tag at all
                        i = resume
                        continue
                i = resume
                safe = q
                raw_closer = _CLOSERS.get(name)
                if raw_closer is not None:
                    at, k_end, awaited = close_raw(raw_closer, buf, i, n, final)
                    if at < 0:
                        i, closer = k_end, awaited
                        break
                    i = k_end
                    safe = at
                continue
            reported = False
            inside = 0
            tag = _TAG_REST.match(buf, name_end, n)
            if tag is None and not final and n - q < (MAX_TAG if selected else MAX_BODY_TAG):
                i = q  # the tag is not complete yet
                break
            e = tag.end() if tag is not None else n + MAX_TAG + MAX_BODY_TAG  # never a tag
            body = body and e - q <= MAX_BODY_TAG
            if selected and e - q <= MAX_TAG:
                lt = buf.rfind(b"<", max(safe, q - MAX_TAG, 0), q)  # `_enclosed`, its usual cases first
                if lt < 0:
                    inside = 0
                elif lt == tag_at:
                    inside = 1 if tag_end > q else 0
                else:
                    inside = _enclosed(buf, max(safe, q - MAX_TAG, 0), q, n, final, safe >= q - MAX_TAG)
                    if inside < 0:
                        i = q  # what may hold it is not complete yet
                        break
                if not inside:  # (else the tag around it stays the last one read)
                    tag_at, tag_end = q, e
                    floor = max(floor, e)
                    reported = True
                    code = UNCHANGED
                    closed = buf[e - 2] == 0x2F
                    if self._in_foreign or name in ROOTS:  # SVG and MathML: see foreign.py
                        reported = self._foreign_start(name, q + base, buf, name_end, e, closed)
                        pattern = self._fwd
                    gate = self._head_gate(q + base)
                    for matcher in self._active if reported else ():
                        if (matcher.every_tag or matcher.needles or name in matcher.starts) and matcher not in gate:
                            code |= matcher.start(name, q + base, e + base, buf, name_end, e, closed)
                    if code:
                        if code & DONE or self._all:
                            self._matched(code)
                        else:
                            self._set_pattern()
                        pattern = self._fwd
            if body:  # (its own attributes are skipped, as before selectors)
                self._body_found = True
                if self._head_open and self._heads_pending:  # no `</head>`: the head ends at `<body>`
                    self._body_tag_pos = q + base
                self._head_open = False
                self._found(_BODY_START, e + base, e + base)
                pattern = self._fwd
                i = safe = e
                continue
            i = resume
            if not inside:  # (inside another tag, the scan is still in that one)
                safe = q
            if name in STOPS:
                if not inside and self._stop(buf, q, name, name_end, n, True, q) > 0:
                    i = n
                    break
                if name == _PLAINTEXT:  # text inside another tag, or no tag at all
                    continue
            raw_closer = _CLOSERS.get(name)
            if raw_closer is not None:  # raw text: skip to its end tag
                if reported and self._active and (name in self._sel_ends or self._sel_every):
                    self._raw_name = name
                    closer = raw_closer
                    continue
                at, k_end, awaited = close_raw(raw_closer, buf, i, n, final)
                if at < 0:
                    i, closer = k_end, awaited
                    break
                i = k_end
                safe = at
        if final and self._active:
            code = UNCHANGED
            for matcher in self._active:
                code |= matcher.finish(end)
            if code:
                self._matched(code)
        self._fp = i + base
        self._safe = safe + base
        self._floor = floor + base
        keep = i
        if not final and self._fwd is not None:
            # A tag (or a needle's tag) found from i on is checked against the nearest `<` that
            # opens a construct before it, and that one against the one before it: keep both. So
            # is a `<plaintext>` or `<frameset>` (`_stop`), whatever is wanted: where that construct
            # is not complete yet, or holds a `<` from i on, it is kept too.
            last = _construct_before(buf, max(safe, i - MAX_TAG, 0), i, n)
            if last < i and (self._active or _open_past(buf, last, i, n)):
                keep = min(last, _construct_before(buf, max(safe, last - MAX_TAG, 0), last, n))
        self._keep = keep + base
        if self._head_reader is not None and self._head_reader.pos < self._keep:
            self._keep = self._head_reader.pos  # what the head's reader has yet to read
        self._closer = closer
        if self._open:
            self._settle_far()

    def _stop(self, buf: bytes | bytearray, q: int, name: bytes, name_end: int, n: int, final: bool, safe: int) -> int:
        """A `<plaintext>` or `<frameset>` start tag at q: 1 if no later place renders, 0 if none changes, -1: wait.

        After `<plaintext>` every byte is text; a `<frameset>` that the tree builder takes replaces
        the body (told by `end_state` over the page up to it, as far as it is remembered). Either
        way the forward places not yet found are given up, and a `</body>` after it is not the body's end.
        """
        if self._in_foreign:
            return 0  # an SVG or MathML element of that name: the tokenizer's state stays
        tag = _TAG_REST.match(buf, name_end, n)
        if tag is None:
            return -1 if not final and n - q < MAX_TAG else 0
        if tag.end() - q > MAX_TAG:
            return 0
        inside = _enclosed(buf, max(safe, q - MAX_TAG, 0), q, n, final, safe >= q - MAX_TAG)
        if inside:
            return -1 if inside < 0 else 0  # not complete yet, or text inside another tag
        if name == _PLAINTEXT:
            reason: str | None = PLAINTEXT_REASON
        else:
            reason = self._end_reason(buf, tag.end())
            if reason != FRAMESET_REASON:
                return 0
        self._stop_at = q + self._base
        self._stop_reason = reason
        for matcher in self._active:
            matcher.give_up()
        self._head_open = self._want_body = False
        self._refresh()
        return 1

    def _foreign_start(
        self, name: bytes, pos: int, buf: bytes | bytearray, name_end: int, e: int, closed: bool
    ) -> bool:
        """A start tag at `pos` where foreign content is open or begins: whether to report it to the matchers."""
        foreign = self._foreign
        if foreign is None:
            foreign = self._foreign = Foreign()
        attributes = parse_attributes(buf, name_end, e) if name == b"font" or name == b"annotation-xml" else None
        where = foreign.start(name, closed, attributes)
        if where == INSIDE:
            return False
        if where == BREAKOUT:  # the root ends right before this tag, where markup would still be foreign
            self._foreign_edge = pos
            self._in_foreign = False
            self._set_pattern()
            self._tag_end(foreign.breakout(), pos, pos)
        elif foreign.open and not self._in_foreign:  # a root opens
            self._in_foreign = True
            self._set_pattern()
        return True

    def _foreign_end(self, name: bytes) -> bool:
        """An end tag while foreign content is open: True if it lies inside it (not reported)."""
        assert self._foreign is not None
        if self._foreign.end(name):
            return True
        self._in_foreign = False  # the root's own end tag, reported as an HTML element's
        self._set_pattern()
        return False

    def _end_reason(self, buf: bytes | bytearray, upto: int | None = None) -> str | None:
        """Why markup at buf[upto] (the end of what was fed: None) would not render, or None (see `end_state`)."""
        raise NotImplementedError

    def _needle(self, buf: bytes | bytearray, lo: int, p: int, n: int, final: bool) -> tuple[int, bool]:
        """A needle at `p`: report the start tag it lies in, if any, looking back no further than `lo`.

        The tag is the nearest `<` before `p` that opens one (see `_enclosed`). Returns where
        that tag begins (-1 if none), and whether to wait for more of the page (then the first
        value is where to resume).
        """
        q = buf.rfind(b"<", lo, p)
        while q >= 0:
            kind, name_end, e = _construct(buf, q, n, final)
            if kind == _WAIT:
                return q, True
            if kind != _TEXT:
                break
            q = buf.rfind(b"<", lo, q)
        else:
            return -1, False
        if e <= p:
            return -1, False  # the needle is in text after it
        outer = _construct_before(buf, max(self._safe - self._base, q - MAX_TAG, 0), q, n, final)
        if outer < q:  # is the `<` at q inside the one before it (`<a<h class=x>`, `<a title="<b x">`)?
            kind0, name_end0, e0 = _construct(buf, outer, n, final)
            if kind0 == _WAIT:
                return outer, True
            if e0 > q:
                q, kind, name_end, e = outer, kind0, name_end0, e0
                if e <= p:
                    return -1, False
        if kind != _START:
            return -1, False  # the needle is in an end tag or a comment
        name = bytes(buf[q + 1 : name_end]).lower()
        self._tag_start(name, q, name_end, e, buf, self._base)
        return e, False

    def _tag_start(self, name: bytes, q: int, name_end: int, e: int, buf: bytes | bytearray, base: int) -> None:
        closed = buf[e - 2] == 0x2F
        if (self._in_foreign or name in ROOTS) and not self._foreign_start(name, q + base, buf, name_end, e, closed):
            return
        code = UNCHANGED
        gate = self._head_gate(q + base)
        for matcher in self._active:
            if (matcher.every_tag or matcher.needles or name in matcher.starts) and matcher not in gate:
                code |= matcher.start(name, q + base, e + base, buf, name_end, e, closed)
        if code:
            self._matched(code)

    def _tag_end(self, name: bytes, pos: int, end: int) -> None:
        code = UNCHANGED
        gate = self._head_gate(pos)
        for matcher in self._active:
            if (matcher.every_tag or name in matcher.ends) and matcher not in gate:
                code |= matcher.end(name, pos, end)
        if code:
            self._matched(code)

    def _matched(self, code: int) -> None:
        """Selector matchers changed: record the places found, and rebuild the scanner's regex."""
        if self._all:
            for matcher in self._active:
                if matcher.hits:
                    self._take_hits(matcher)
        if code & DONE:
            found = False
            for matcher in self._active:
                if matcher.done and not matcher.every:
                    if matcher.result == self._foreign_edge and not matcher.whole:  # still foreign: no place
                        matcher.give_up()
                        continue
                    found = True
                    if matcher.whole:
                        self._found_whole(matcher)
                    else:
                        self._found(matcher, matcher.result, matcher.result)
            if not found:
                self._refresh()
        else:
            self._set_pattern()
