"""The HTML rewriter's streaming splice: feeding chunks, holding back, and sending on with the notices."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

import re2

from compliance.respond.html import tokenizer
from compliance.respond.html.anchors import (
    HEAD_PLACE,
    MISSED,
    NO_HEAD,
    TAIL_WINDOW,
    Insertion,
    Placed,
    _last_candidate,
    _make_placed,
    _Slot,
)
from compliance.respond.html.headend import BODY_FIRST, HEAD_UNREAD, NOT_FOUND, HeadReader, head_end
from compliance.respond.html.scanner import ForwardScanner
from compliance.respond.html.tokenizer import _LOOKBEHIND, _TAG_NAME_END, MAX_TAG, end_state
from compliance.respond.matcher import SelectorMatcher

__all__ = ["DEFAULT_HOLDBACK", "HtmlRewriter"]

# Bound by assignment, not imported by name: CPython 3.11 compiles a method call on a name that an
# import binds (`_TAIL_NOTABLE.search(...)`) to an attribute load that builds a bound method on every call.
_COMMENT_END: Final = tokenizer._COMMENT_END
_TAIL_NOTABLE: Final = tokenizer._TAIL_NOTABLE

DEFAULT_HOLDBACK: Final = 256 * 1024
_NOTHING: Final = b""
#: How much of the last chunks a document's end is read from, at least (see `HtmlRewriter.reason`).
END_WINDOW: Final = 64 * 1024
# A `<plaintext` or `<frameset` in a chunk that the forward scanner does not read: only then is the
# page read exactly up to its body-end place (`_end_reason`). RE2's search (a DFA behind a memchr
# for `<`) reads a 100 KB news page in about 12 us, a quarter of what Python's `re` takes for the
# same pattern, and less than `lower()` and two finds.
_SUSPECT: Final = re2.compile(rb"<(?i:plaintext|frameset)").search
# How many bytes of a chunk's end are kept to find a suspect split between two chunks.
_SUSPECT_EDGE: Final = len(b"<plaintext") - 1
#: A search for any of a set of marker names (`_rule_out_markers`), per set.
_NAMES_SEARCH: dict[frozenset[bytes], Callable[[bytes], object]] = {}
_NAMES_SEARCH_SIZE: Final = 256


class HtmlRewriter(ForwardScanner):
    """Places notice markup into an HTML body as it streams.

    `insertions` come sorted in the order they must appear where they share a
    place. `head_markup` (the notices' `<style>`) goes once right before
    `</head>`, or, where no `</head>` comes before `<body` or before the first
    notice, right before the first notice. `heads` (each notice's id and head elements,
    `placement: head`) go right before `</head>`, or right before `<body` where no
    `</head>` comes first; on a page with neither they are left out, and `placed` says
    they were missed and why. `feed` each chunk and send on what it
    returns; `close` returns the rest. `placed` lists where each notice went as
    each is placed; after `close` it is complete and in the order given.
    `feed(data, last=True)` is `feed(data) + close()` in one piece, which saves a
    copy when the whole body comes in one message. Where a notice would go at the end
    of a document that ends in a state where it would not render (inside a comment, a
    script or a tag; a frameset; after `<plaintext>`), it is left out and `reason` says why.
    """

    reason: str | None = None
    # The last chunks fed (at least `END_WINDOW` bytes of them, where there were so many), and
    # where the first of them starts: how a document's end is read.
    _prev: bytes | bytearray | memoryview = _NOTHING
    _prev_at = -1
    _more: list[bytes | bytearray | memoryview] | None = None
    _strict = False  # some notice has no fallback (`fallback: none`)
    # A `<plaintext` or `<frameset` was seen where the forward scanner did not read (`_SUSPECT`),
    # and the last bytes of the chunk before, for one split between chunks.
    _suspect = False
    _edge: bytes | bytearray | memoryview = _NOTHING
    # The style goes before `</head>` and every notice to body-end: a page in one piece takes the
    # straight line (`head_end`, then `_feed_fast`); any other, the forward scanner (`_scan_head`).
    _style_fast = False

    def __init__(
        self,
        insertions: Sequence[Insertion],
        head_markup: bytes = b"",
        holdback: int = DEFAULT_HOLDBACK,
        heads: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        assert holdback >= 0, "holdback must not be negative"
        self._holdback = holdback
        self._slots: list[_Slot] = []
        slots = self._slots
        scan = False
        matchers: dict[tuple[str, str, bool, bool], SelectorMatcher] = {}  # one per selector place, shared
        for index, insertion in enumerate(insertions):
            slot = _Slot(index, insertion, matchers)
            slots.append(slot)
            if slot.targets or slot.strict:
                scan = True
                self._strict = self._strict or slot.strict
                self._all = self._all or insertion.every
                if insertion.action != "notice" and self._cuts is None:
                    self._cuts = {}
        self._open = slots[:]  # not yet settled
        gated = _gated_matchers(slots)
        if gated:
            self._gated = gated
            self._head_reader = HeadReader()
        self._edits: list[tuple[int, int, int, bytes, int]] = []  # (pos, rank, index, markup, skip-to)
        if not slots and not heads:
            self._passing = True
            return
        if heads:
            self._heads = b"".join(markup for _, markup in heads)
            self._head_keys = tuple(key for key, _ in heads)
            self._heads_pending = self._head_open = True
        if head_markup:
            self._style = bytes(head_markup)
            self._style_done = False
            if not scan and not heads:
                self._style_fast = self._body_end = True  # (what _refresh would find)
                return
            self._head_open = True
        elif not scan and not heads:
            self._body_end = True  # what _refresh would find, in the common case
            return
        self._order = []
        self._refresh()

    # --- public -------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview, last: bool = False) -> bytes:
        """The output for this chunk (possibly empty). With `last=True`, also what `close` would return."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        if self._passing:
            self._closed = last
            return data if type(data) is bytes else bytes(data)
        if self._style_fast:
            self._style_fast = False
            if last and self._prev_at < 0 and type(data) is bytes:
                return self._feed_styled(data)
            self._scan_head()
        if self._prev_at < 0:  # the first chunk
            self._prev, self._prev_at = data, 0
            if last and self._wanted_markers and type(data) is bytes:
                self._rule_out_markers(data)
        else:
            self._remember(data)
        if not self._suspect:
            if (
                self._fwd is None
                and self._open
                and (
                    _SUSPECT(data) is not None
                    or (self._edge and _SUSPECT(bytes(self._edge) + bytes(data[:_SUSPECT_EDGE])) is not None)
                )
            ):
                self._suspect = True
            if len(data) >= _SUSPECT_EDGE:
                self._edge = data[-_SUSPECT_EDGE:]
            elif data:  # the last bytes fed, over several small chunks
                self._edge = (bytes(self._edge) + bytes(data))[-_SUSPECT_EDGE:]
        if self._fast and not self._buf:
            return self._feed_fast(data if type(data) is bytes else bytes(data), last)
        return self._process(data, last)

    def close(self) -> bytes:
        """Everything still held, with the notices placed; `placed` is complete afterwards."""
        if self._closed:
            return b""
        if self._style_fast:  # nothing was fed
            self._style_fast = False
            self._scan_head()
        if self._passing:
            self._closed = True
            return b""
        if self._fast:  # only body-end was running, and everything fed has been searched
            return self._finish_fast(self._buf, self._end, self._cur)
        return self._process(b"", True)

    @property
    def placed(self) -> list[Placed]:
        """Where each notice went, as each is placed; after `close`, every notice in the order given.

        The notices of `heads` come last: at `head`, or missed with the reason.
        """
        placed = self._placed
        if placed is None:
            slots = self._slots if self._closed or self._passing else self._order
            placed = [
                _make_placed(slot.insertion.key, o[0], o[1], len(o) == 3, slot.count)
                for slot in slots
                if (o := slot.outcome) is not None
            ]
            if self._heads_state == 1:
                placed.extend(Placed(key, HEAD_PLACE, False) for key in self._head_keys)
            elif self._heads_state == 2:
                why = self._stop_reason or NO_HEAD  # (`<plaintext>` in the head: its `</head>` is text)
                placed.extend(Placed(key, None, True, True, why=why) for key in self._head_keys)
            self._placed = placed
        return placed

    def _rule_out_markers(self, page: bytes) -> None:
        """The whole page in one piece: a marker whose name it never writes is in none of its comments.

        One search in C per marker, where the forward scanner would read every comment and raw-text
        element to the end of a page that has none (a marker placement on a template without it).
        """
        wanted = self._wanted_markers
        search = _NAMES_SEARCH.get(wanted)
        if search is None:
            if len(_NAMES_SEARCH) >= _NAMES_SEARCH_SIZE:
                _NAMES_SEARCH.clear()
            pattern = b"|".join(re.escape(name) for name in sorted(wanted))
            search = _NAMES_SEARCH[wanted] = re2.compile(pattern).search
        absent = wanted
        if search(page) is not None:  # (RE2 reads a page about twice as fast as `bytes.find` does here)
            if len(wanted) == 1:
                return  # the one name is there: the scanner reads the page for it
            absent = frozenset(name for name in wanted if name not in page)
        if absent:
            self._markers_absent = absent
            self._refresh()
            self._after_emit()

    @property
    def held(self) -> int:
        """How many bytes of the body are held back right now."""
        return len(self._buf)

    # --- one chunk ------------------------------------------------------------------------------

    def _feed_fast(self, buf: bytes, final: bool) -> bytes:
        """A chunk when nothing is held and only the body-end search runs: the common case."""
        base = self._base
        n = len(buf)
        end = self._end = base + n
        # The common page: a lower-case `</body>` in the last few KB, nothing after it in another case.
        found = buf.rfind(b"</body", n - TAIL_WINDOW if n > TAIL_WINDOW else 0, n - 1)
        if (
            found >= 0
            and buf[found + 6] in _TAG_NAME_END
            and _TAIL_NOTABLE.search(buf, found + 6, n) is None
            and _COMMENT_END.search(buf, found + 6, n) is None
        ):
            found += base
            if final:  # the whole page in one piece: nothing more to keep track of
                return self._finish_fast(buf, end, found if end - found <= self._holdback else -1)
            self._last = self._explore_hi = self._cur = found
            self._cur_p = max(found + 6, end - _LOOKBEHIND)
            self._cur_closer = None
            if end - found > self._holdback:
                self._cur = self._explore_hi = -1
        else:
            found = _last_candidate(buf, 0, n, lower_done=found < 0) if n >= 7 else -1
            if found >= 0:
                self._new_candidate(buf, base, found + base, end)
        self._be_lo = end - 6
        if final:
            return self._finish_fast(buf, end, self._cur)
        hold = self._body_end_hold(end)
        if found >= 0 and hold < end:
            # The page is ending: keep this chunk (a reference, not a copy) so that `close`
            # sends it in one piece, and `feed(chunk) + close()` costs one copy.
            self._buf = buf
            return b""
        split = buf.find(b"<", n - 6 if n > 6 else 0)
        if split >= 0 and split + base < hold:
            hold = split + base
        if hold >= end:
            self._base = end
            return buf
        size = hold - base
        self._buf = bytearray(memoryview(buf)[size:])
        self._base = hold
        return buf[:size]

    def _scan_head(self) -> None:
        """The forward scanner looks for `</head` (and `<body`), as for any page with a style for the head."""
        self._head_open = True
        self._order = []
        self._refresh()

    def _feed_styled(self, page: bytes) -> bytes:
        """A whole page in one piece whose notices all go to body-end, with their style before `</head>`.

        Where the forward scanner would find `</head` is told by `head_end`, exactly; then the page
        takes `_feed_fast`, which places the style with the notices (`_finish_fast`).
        """
        self._prev, self._prev_at = page, 0
        head = head_end(page)
        if head == HEAD_UNREAD:  # a `<plaintext>` or `<frameset>` first: the scanner reads the page
            self._scan_head()
            return self._process(page, True)
        if head != NOT_FOUND:  # the forward scanner stopped: what it did not read is looked at
            self._suspect = _SUSPECT(page) is not None
        self._head_pos = head if head != BODY_FIRST else -1
        return self._feed_fast(page, True)

    def _process(self, data: bytes | bytearray | memoryview, final: bool) -> bytes:
        buf = self._buf
        fresh_chunk = not buf
        if fresh_chunk:
            buf = data if type(data) is bytes else bytes(data)
        elif data:
            if type(buf) is bytes:
                buf = bytearray(buf)
            buf += data  # in place from now on
        fresh = self._end
        end = self._end = self._base + len(buf)
        if self._fwd is not None:
            self._scan(buf, end, final)
            if self._fwd is None and not self._suspect and self._open:  # stopped: what it did not read is
                self._suspect = _SUSPECT(buf) is not None  # looked at, where a notice may still go to body-end
        if self._body_end and end > fresh:
            self._track_body_end(buf, end)
        if final:
            return self._finish_fast(buf, end, self._cur) if self._fast else self._finish(buf, end)
        hold = self._hold(buf, end)
        if fresh_chunk and self._last >= self._base and hold < end:
            hold = self._base  # the page is ending: keep the chunk whole, as in _feed_fast
        if self._cuts is not None:
            self._cut_open(hold)
        out = self._emit(buf, hold, False)
        self._after_emit()
        return out

    def _finish(self, buf: bytes | bytearray, end: int) -> bytes:
        self._closed = True
        if 0 <= self._stop_at <= self._cur:  # a `</body>` after `<plaintext>` or a frameset is text, or not shown
            self._cur = -1
        if self._cur < 0 and any(slot.best < 0 and not slot.strict for slot in self._open):
            reason = self._end_reason(buf)
            if reason is not None:  # the end of the document would not render a notice: leave it out
                self.reason = reason
                self._open = [slot for slot in self._open if slot.best >= 0 or slot.strict]
        elif self._suspect and self._cur >= self._base and any(s.best < 0 and not s.strict for s in self._open):
            reason = self._end_reason(buf, self._cur - self._base)
            if reason is not None:  # `<plaintext>` or a frameset before that `</body>`: nothing there renders
                self.reason = reason
                self._cur = -1
                self._open = [slot for slot in self._open if slot.best >= 0 or slot.strict]
        self._settle_all(end)
        out = self._emit(buf, end, True)
        if self._heads_pending:  # neither `</head>` nor `<body>`: where the head ends is not known
            self._heads_pending = False
            self._heads_state = 2
        self._placed = None
        return out

    def _finish_fast(self, buf: bytes | bytearray, end: int, cur: int) -> bytes:
        """`_finish` when every open notice goes to body-end (at `cur`, else the end) and nothing else is pending."""
        self._closed = True
        self._placed = None
        self._buf = b""
        if not self._style_done:  # (`_feed_styled`: the style is placed with the notices)
            return self._finish_styled(buf, end, cur)
        if self._strict:  # notices without a fallback whose places the page did not have
            for slot in self._open:
                if slot.strict:
                    slot.outcome = MISSED
            self._open = [slot for slot in self._open if not slot.strict]
            if not self._open:
                return buf if type(buf) is bytes else bytes(buf)
        if 0 <= self._stop_at <= cur:  # a `</body>` after `<plaintext>` or a frameset is text, or not shown
            cur = -1
        if cur < 0 and self._open:
            reason = self._end_reason(buf)
            if reason is not None:  # the end of the document would not render a notice: leave it out
                self.reason = reason
                return buf if type(buf) is bytes else bytes(buf)
        elif self._suspect and self._open and cur >= end - len(buf):  # `<plaintext>` or a frameset before it?
            reason = self._end_reason(buf, cur - end + len(buf))
            if reason is not None:
                self.reason = reason
                return buf if type(buf) is bytes else bytes(buf)
        at = (cur if cur >= 0 else end) - end + len(buf)
        opened = self._open
        view = memoryview(buf)
        if len(opened) == 1:  # one notice: the usual page
            slot = opened[0]
            slot.outcome = (slot.end_place if cur >= 0 else None, slot.end_rank != 0)
            return b"".join((view[:at], slot.insertion.markup, view[at:]))
        for slot in opened:
            slot.outcome = (slot.end_place if cur >= 0 else None, slot.end_rank != 0)
        return b"".join((view[:at], *[slot.insertion.markup for slot in opened], view[at:]))

    def _finish_styled(self, page: bytes | bytearray, end: int, cur: int) -> bytes:
        """`_finish_fast` for `_feed_styled`: the style goes right before `</head>` where that comes before
        the notices, else right before them (as `_emit` places it); with no notice, before `</head>` only."""
        self._style_done = True
        style, head = self._style, self._head_pos
        view = memoryview(page)
        reason = None
        if 0 <= self._stop_at <= cur:
            cur = -1
        if cur < 0:
            reason = self._end_reason(page)
        elif self._suspect:
            reason = self._end_reason(page, cur)
        if reason is not None:  # the end of the document would not render a notice: leave it out
            self.reason = reason
            if head < 0:
                return page if type(page) is bytes else bytes(page)
            return b"".join((view[:head], style, view[head:]))
        at = cur if cur >= 0 else end
        opened = self._open
        for slot in opened:
            slot.outcome = (slot.end_place if cur >= 0 else None, slot.end_rank != 0)
        notices = [slot.insertion.markup for slot in opened]
        if 0 <= head < at:
            return b"".join((view[:head], style, view[head:at], *notices, view[at:]))
        return b"".join((view[:at], style, *notices, view[at:]))

    def _remember(self, data: bytes | bytearray | memoryview) -> None:
        """Keep a reference to the last `END_WINDOW` bytes or more of chunks fed (no copy)."""
        more = self._more
        if more is None:
            more = self._more = [self._prev]
        more.append(data)
        size = self._end + len(data) - self._prev_at
        while len(more) > 1 and size - len(more[0]) >= END_WINDOW:
            size -= len(more[0])
            self._prev_at += len(more[0])
            del more[0]

    def _end_reason(self, buf: bytes | bytearray, upto: int | None = None) -> str | None:
        """Why a notice at buf[upto] (None: at the end of the document) would not render, or None.

        Read from the start of the chunks remembered (the whole page when it came in one piece,
        else at least the last `END_WINDOW` bytes, taken to begin in the data state): what of
        them was already sent on, then what is still held. After a `<plaintext>` or a
        `<frameset>` that the forward scanner found, nothing renders.
        """
        if self._stop_reason is not None and (upto is None or upto + self._base > self._stop_at):
            return self._stop_reason
        stop = len(buf) if upto is None else upto
        base, prev_at = self._base, self._prev_at
        chunks = self._more or [self._prev]
        if 0 <= prev_at < base:
            sent = memoryview(b"".join(chunks))[: base - prev_at]
            return end_state(b"".join((sent, buf[:stop])), 0, len(sent) + stop)
        return end_state(buf, 0, stop)

    def _after_emit(self) -> None:
        self._fast = self._fwd is None and self._style_done and not self._edits and not self._heads_pending
        if self._fast and not self._open and not self._buf:
            self._passing = True
            self._placed = None

    def _hold(self, buf: bytes | bytearray, end: int) -> int:
        """The first position that must not be sent yet."""
        hold = end
        if self._fwd is not None and self._keep < hold:
            hold = self._keep
        for slot in self._open:
            if slot.best >= 0 and slot.best_pos < hold:
                hold = slot.best_pos
        if self._cuts is not None:  # an element being removed is held whole up to `holdback` bytes
            for matcher in self._active:
                begin = matcher.begin
                if matcher.whole and matcher.subject is not None and begin < hold and end - begin <= self._holdback:
                    hold = begin if self._cut_from(matcher) == begin else hold
        if self._body_end:
            hold = min(hold, self._body_end_hold(end))
            base = self._base
            split = buf.find(b"<", max(end - 6, base) - base)  # a `</body` split at the end of the chunk
            if split >= 0 and split + base < hold:
                hold = split + base
        for pos, _, _, _, stop in self._edits:
            if pos < hold < stop:
                hold = pos
        return hold

    # --- output ---------------------------------------------------------------------------------

    def _emit(self, buf: bytes | bytearray, hold: int, final: bool) -> bytes:
        """Send buf up to `hold` with the edits before it (at the end of the document, also those at it)."""
        base = self._base
        size = hold - base
        if size > 0 and self._wanted_markers:  # what a marker's enclosing tag may have begun with
            self._recent = (self._recent + bytes(buf[max(0, size - MAX_TAG) : size]))[-MAX_TAG:]
        if size <= 0 and not final:
            self._buf = buf
            return b""
        ready: list[tuple[int, int, int, bytes, int]] = []
        if self._edits:
            keep: list[tuple[int, int, int, bytes, int]] = []
            limit = hold + 1 if final else hold
            for edit in self._edits:
                (ready if edit[0] < limit else keep).append(edit)
            self._edits = keep
            ready.sort()
        if self._heads_pending:  # right before `</head>`, else right before `<body>`
            at = self._head_pos if self._head_pos >= 0 else self._body_tag_pos
            if 0 <= at < (hold + 1 if final else hold):
                ready.append((at, -2, -1, self._heads, at))
                ready.sort()
                self._heads_pending = False
                self._heads_state = 1
                if self._style_done and self._head_open:
                    self._head_open = False
                    self._refresh()
        if not self._style_done:
            head = self._head_pos
            if 0 <= head < hold and (not ready or head < ready[0][0]):
                ready.insert(0, (head, -1, -1, self._style, head))
                self._style_done = True
            elif ready:
                pos, rank, index, markup, stop = ready[0]
                ready[0] = (pos, rank, index, self._style + markup, stop)
                self._style_done = True
            if self._style_done and self._head_open and not self._heads_pending:
                self._head_open = False
                self._refresh()
        if not ready:
            if size >= len(buf):
                out = buf if type(buf) is bytes else bytes(buf)
            else:
                out = buf[:size] if type(buf) is bytes else bytes(memoryview(buf)[:size])
        else:
            view = memoryview(buf)
            try:
                pieces: list[bytes | memoryview] = []
                at = 0
                for pos, _, _, markup, stop in ready:
                    pos -= base
                    if pos > at:
                        pieces.append(view[at:pos])
                        at = pos
                    pieces.append(markup)
                    if stop - base > at:
                        at = stop - base
                if size > at:
                    pieces.append(view[at:size])
                out = b"".join(pieces)
                del pieces
            finally:
                view.release()
        if size >= len(buf):
            self._buf = b""
        elif type(buf) is bytearray:
            del buf[:size]
            self._buf = buf
        else:
            self._buf = bytearray(memoryview(buf)[size:])
        self._base = hold
        return out


def _gated_matchers(slots: Sequence[_Slot]) -> frozenset[SelectorMatcher]:
    """The selector matchers, none of which an element in the head may match.

    A notice there would end the head early; a removal matches in the body only too (a selector
    naming `head` is refused at load for every action, so none reaches into the head).
    """
    return frozenset(key for slot in slots for key, _, _, _ in slot.targets if type(key) is SelectorMatcher)
