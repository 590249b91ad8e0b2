"""What the HTML rewriter still looks for, and the decisions on where notices go.

`PlaceSearch` holds a response's state (the class-level defaults), works out which places are
still wanted and the forward scanner's regex for them, records the places found and settles
notices, and follows the `</body>` candidates from the end (anchors.py tells how they are
judged).
"""

from __future__ import annotations

import re
from typing import Final

from compliance.respond.html import tokenizer
from compliance.respond.html.anchors import (
    _KIND_BODY_END,
    _KIND_END,
    MISSED,
    Placed,
    TargetKey,
    _advance_tail,
    _last_candidate,
    _Slot,
    markup_at,
)
from compliance.respond.html.foreign import ROOTS, Foreign
from compliance.respond.html.tokenizer import _LOOKBEHIND, _NO_NAMES, _forward_pattern, _scanner, _ScannerKey
from compliance.respond.matcher import SelectorMatcher, interned_union
from compliance.rules.model import Place

__all__ = ["FALLBACK_WINDOW", "PlaceSearch"]

# Bound by assignment, not imported by name: CPython 3.11 compiles a method call on a name that an
# import binds (`_SCANNERS.get(...)`) to an attribute load that builds a bound method on every call.
_CANDIDATE: Final = tokenizer._CANDIDATE
_COMMENT_END: Final = tokenizer._COMMENT_END
_SCANNERS: Final = tokenizer._SCANNERS
_TAIL_TAGS: Final = tokenizer._TAIL_TAGS

#: How far before a `</body>` that turned out not to be real the one before it may be.
FALLBACK_WINDOW: Final = 4096
#: Distinct forward patterns one page may ask for before its scanner reads every tag instead.
_PATTERNS_PER_PAGE: Final = 24


class PlaceSearch:
    """The per-response state of `HtmlRewriter`, what it looks for, and where notices go."""

    # Per-response state. Class-level defaults keep construction cheap: most responses
    # only ever need the body-end search.
    _buf: bytes | bytearray = b""  # held back; starts at the absolute offset _base
    _base = 0
    _end = 0  # absolute end of everything fed so far
    _closed = False
    _passing = False  # nothing left to do: chunks pass as they are
    _fast = True  # only the body-end search is running and nothing else is pending
    _style = b""
    _style_done = True
    _head_open = False  # still looking for `</head`
    _head_pos = -1
    # `placement: head`: the notices' head elements, their ids, whether they still wait for the
    # head's end, where `<body` begins where no `</head>` came first, and the outcome (0: none yet,
    # 1: placed, 2: missed).
    _heads = b""
    _head_keys: tuple[str, ...] = ()
    _heads_pending = False
    _body_tag_pos = -1
    _heads_state = 0
    _body_found = False
    _want_body = False  # still looking for `<body`
    _markers_found: frozenset[bytes] = frozenset()
    # Markers a page in one piece never names: no comment of it can be one (`_rule_out_markers`).
    _markers_absent: frozenset[bytes] = frozenset()
    _phrasing_markers: frozenset[bytes] = frozenset()  # markers found inside phrasing content
    _wanted_markers: frozenset[bytes] = frozenset()
    # The forward scanner: its regex (None: stopped), how far before the end of a chunk a token
    # may start, resume position, the closer it awaits (and the raw-text element it ends, where
    # a selector place follows that element).
    _fwd: re.Pattern[bytes] | None = None
    _lb = _LOOKBEHIND
    _fp = 0
    _keep = 0  # output is held from here on: _fp, or earlier where a needle's tag may have begun
    _safe = 0  # where the last token the scanner read ended (a needle's tag starts no earlier)
    _recent = b""  # the last bytes sent before the buffer, while a marker is wanted
    _floor = 0  # needles before this lie in a tag already reported
    _closer: re.Pattern[bytes] | None = None
    _raw_name: bytes | None = None
    # Selector places: a matcher per place, those still wanted, and what they want together: start
    # and end tags, every tag, needles (a regex for compounds without a type).
    _active: tuple[SelectorMatcher, ...] = ()
    _sel_starts: frozenset[bytes] = frozenset()
    _sel_ends: frozenset[bytes] = frozenset()
    _sel_every = False
    _sel_wide = False  # every start tag may matter (every tag, or needles)
    _needles: re.Pattern[bytes] | None = None
    _all = False  # some notice goes at every element its selector matches (`match: all`)
    # Elements being removed (`action: remove`/`replace`) whose held bytes were left out before
    # their end was known: matcher -> (where the element begins, where what is still held of it begins).
    _cuts: dict[SelectorMatcher, tuple[int, int]] | None = None
    _switches = 0  # how many times the scanner's regex was chosen
    _patterns: set[_ScannerKey] | None = None  # distinct ones, counted once there were many switches
    # body-end: where to look for candidates from, the last candidate, the current one (the
    # last that may be real) with its tail scanner, and the top of the unexplored window below.
    _body_end = False
    _be_lo = 0
    _last = -1
    _cur = -1
    _cur_p = 0
    _cur_closer: re.Pattern[bytes] | None = None
    _explore_hi = -1
    _order: tuple[_Slot, ...] | list[_Slot] = ()  # slots in the order they were settled
    _placed: list[Placed] | None = None
    # Where a `<plaintext>` or a `<frameset>` the tree builder takes begins (-1: none found): no
    # place from there on renders, and why.
    _stop_at = -1
    _stop_reason: str | None = None
    # SVG and MathML open at the scanner's position (see foreign.py): tags inside are no places.
    _foreign: Foreign | None = None
    _in_foreign = False
    _foreign_edge = -1  # where a tag ended foreign content by breaking out of it (markup there is foreign)
    # Set by `HtmlRewriter.__init__`.
    _holdback: int
    _slots: list[_Slot]
    _open: list[_Slot]  # not yet settled
    _edits: list[tuple[int, int, int, bytes, int]]  # (pos, rank, index, markup, skip-to)

    # --- decisions ------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Work out what is still wanted, and the forward scanner's regex for it."""
        want_body = self._head_open
        markers: set[bytes] = set()
        body_end = False
        active: list[SelectorMatcher] = []
        for slot in list(self._open):
            if slot.best < 0:
                body_end = body_end or not (slot.strict or slot.count)
                targets = slot.targets
            else:
                targets = slot.targets[: slot.best]
            waiting = False
            for key, _, _, _ in () if self._stop_at >= 0 else targets:
                if key is None:
                    if not self._body_found:
                        want_body = waiting = True
                elif type(key) is bytes:
                    if key not in self._markers_found and key not in self._markers_absent:
                        markers.add(key)
                        waiting = True
                elif not (key.done or key.dead):  # type: ignore[union-attr]
                    waiting = True
                    if key not in active:
                        active.append(key)  # type: ignore[arg-type]
            if not waiting:
                if slot.best >= 0:  # every better place is ruled out
                    self._settle_forward(slot)
                elif slot.count:  # `match: all`, found at the elements it went next to
                    self._open.remove(slot)
                    self._record(slot, slot.targets[0][1], False)
                elif slot.strict:  # every place is ruled out, and there is no fallback
                    self._open.remove(slot)
                    key = slot.targets[0][0] if slot.targets else None
                    if type(key) is SelectorMatcher and key.whole and key.dead and key.begin >= 0:
                        self._record(slot, None, True)  # it matched, and gave up inside: not done
                    else:
                        self._record(slot, *MISSED)
        self._want_body = want_body and not self._body_found
        self._wanted_markers = frozenset(markers)
        self._body_end = body_end
        self._active = tuple(active)
        self._set_pattern()

    def _set_pattern(self) -> None:
        """The forward scanner's regex for what is wanted now (None: nothing is)."""
        active = self._active
        if not active:
            if not (self._want_body or self._wanted_markers or self._head_open):
                self._fwd = None
                return
            self._fast = False
            self._fwd, self._lb = _forward_pattern(self._want_body, self._head_open)
            self._sel_starts = self._sel_ends = _NO_NAMES
            self._sel_every = self._sel_wide = False
            self._needles = None
            return
        self._fast = False
        if len(active) == 1:
            matcher = active[0]
            starts, ends, every, needles = matcher.starts, matcher.ends, matcher.every_tag, matcher.needles
        else:
            starts = frozenset().union(*(m.starts for m in active))
            ends = frozenset().union(*(m.ends for m in active))
            every = any(m.every_tag for m in active)
            needles = tuple(sorted({needle for m in active for needle in m.needles}))
        if self._in_foreign:
            every = True  # every tag, to follow the foreign elements
        elif not starts >= ROOTS:
            starts = interned_union(starts, ROOTS)
        self._sel_starts, self._sel_ends, self._sel_every, self._sel_wide = starts, ends, every, every or needles != ()
        key: _ScannerKey
        if every:  # one regex reads every tag, whatever the names: one key
            key = (self._want_body, self._head_open, _NO_NAMES, _NO_NAMES, True, ())
        else:
            key = (self._want_body, self._head_open, starts, ends, False, needles)
        self._switches += 1
        if self._switches > _PATTERNS_PER_PAGE:  # no more distinct patterns than switches so far, until here
            self._fwd, self._lb, self._needles = self._counted_pattern(key)
        else:
            self._fwd, self._lb, self._needles = _SCANNERS.get(key) or _scanner(*key)

    def _counted_pattern(self, key: _ScannerKey) -> tuple[re.Pattern[bytes], int, re.Pattern[bytes] | None]:
        """The pattern for `key` on a page that switched patterns many times.

        The distinct patterns asked for from then on are counted (compiling one costs about a
        millisecond): past `_PATTERNS_PER_PAGE`, the page is read tag by tag instead.
        """
        seen = self._patterns
        if seen is None:
            seen = self._patterns = set()
        if key not in seen:
            if len(seen) >= _PATTERNS_PER_PAGE:
                key = (key[0], key[1], _NO_NAMES, _NO_NAMES, True, ())
            else:
                seen.add(key)
        return _SCANNERS.get(key) or _scanner(*key)

    def _found(self, key: TargetKey, pos: int, stop: int) -> None:
        """A forward place was found: `pos` is where notices go, `stop` the end of what they replace."""
        for slot in list(self._open):
            rank = slot.target_index(key)
            if rank < 0:
                continue
            if slot.best >= 0 and (rank >= slot.best or stop - slot.best_pos > self._holdback):
                continue
            slot.best, slot.best_pos, slot.best_end = rank, pos, stop
            if rank == 0:
                self._settle_forward(slot)
        self._refresh()

    def _take_hits(self, matcher: SelectorMatcher) -> None:
        """`match: all`: a notice at each place its matcher found since the last time."""
        hits, matcher.hits = matcher.hits, []
        whole = matcher.whole
        cuts = self._cuts
        for slot in self._open:
            if slot.targets and slot.targets[0][0] is matcher:
                insertion, kind = slot.insertion, slot.targets[0][3]
                inline = insertion.inline
                for pos, phrasing, begin in hits:
                    if pos == self._foreign_edge:
                        continue  # still foreign content: no place
                    markup = inline if inline and phrasing else insertion.markup
                    if not whole:
                        self._edits.append((pos, kind, slot.index, markup, pos))
                        continue
                    cut = cuts.get(matcher) if cuts is not None else None
                    at = cut[1] if cut is not None and cut[0] == begin else begin
                    self._edits.append((at, kind, slot.index, markup if at == begin else b"", pos))
                slot.count += len(hits)
        if whole and cuts is not None:
            cuts.pop(matcher, None)

    def _cut_from(self, matcher: SelectorMatcher) -> int:
        """Where what is still held of the element `matcher` follows begins (its start, unless cut)."""
        cut = self._cuts.get(matcher) if self._cuts is not None else None
        return cut[1] if cut is not None and cut[0] == matcher.begin else matcher.begin

    def _cut_open(self, hold: int) -> None:
        """Leave out what goes before `hold` of elements being removed whose end is not known yet.

        All of it lies inside the element, so it need not be held: an element longer than
        `holdback` costs no more memory than that. The notice of "replace" goes where it began.
        """
        cuts = self._cuts
        assert cuts is not None
        for matcher in self._active:
            if not matcher.whole or matcher.subject is None:
                continue
            begin = matcher.begin
            at = self._cut_from(matcher)
            if at >= hold:
                continue
            for slot in self._open:
                if slot.targets and slot.targets[0][0] is matcher:
                    markup = markup_at(slot.insertion, matcher) if at == begin else b""
                    self._edits.append((at, slot.targets[0][3], slot.index, markup, hold))
            cuts[matcher] = (begin, hold)

    def _found_whole(self, matcher: SelectorMatcher) -> None:
        """The element `matcher` follows ends at `matcher.result`: it is left out (from what is still held)."""
        self._found(matcher, self._cut_from(matcher), matcher.result)

    def _settle_forward(self, slot: _Slot) -> None:
        key, place, rank, kind = slot.targets[slot.best]
        self._open.remove(slot)
        markup = markup_at(slot.insertion, key, self._phrasing_markers)
        if type(key) is SelectorMatcher and key.whole and slot.best_pos != key.begin:
            markup = b""  # the element was cut before its end was known: the notice went where it began
        self._edits.append((slot.best_pos, kind, slot.index, markup, slot.best_end))
        self._record(slot, place, rank != 0)

    def _record(self, slot: _Slot, place: Place | None, fallback: bool, missed: bool = False) -> None:
        slot.outcome = MISSED if missed else (place, fallback)
        if not self._closed:
            self._order.append(slot)  # type: ignore[union-attr]  # a list whenever places are scanned for
            self._placed = None

    def _settle_far(self) -> None:
        """Settle notices whose better places could only be found past the hold-back limit."""
        changed = False
        for slot in list(self._open):
            # every place found from now on ends at `_keep` or later: too far from the one found
            if slot.best >= 0 and self._keep - slot.best_pos > self._holdback:
                self._settle_forward(slot)
                changed = True
        if changed:
            self._refresh()

    def _settle_all(self, end: int) -> None:
        cur = self._cur
        at = cur if cur >= 0 else end
        for slot in self._open:
            if slot.count:
                self._record(slot, slot.targets[0][1], False)
            elif slot.best >= 0:
                key, place, rank, kind = slot.targets[slot.best]
                self._edits.append(
                    (
                        slot.best_pos,
                        kind,
                        slot.index,
                        markup_at(slot.insertion, key, self._phrasing_markers),
                        slot.best_end,
                    )
                )
                self._record(slot, place, rank != 0)
            elif slot.strict:
                self._record(slot, *MISSED)
            elif cur >= 0:
                self._edits.append((at, _KIND_BODY_END, slot.index, slot.insertion.markup, at))
                self._record(slot, slot.end_place, slot.end_rank != 0)
            else:
                self._edits.append((at, _KIND_END, slot.index, slot.insertion.markup, at))
                self._record(slot, None, slot.end_rank != 0)
        self._open = []
        self._fwd = None
        self._active = ()
        self._body_end = False

    # --- body-end -------------------------------------------------------------------------------

    def _track_body_end(self, buf: bytes | bytearray, end: int) -> None:
        base = self._base
        lo = max(self._be_lo, base)
        self._be_lo = max(lo, end - 6)
        if end - lo >= 7:
            found = _last_candidate(buf, lo - base, end - base)
            if found >= 0:
                self._new_candidate(buf, base, found + base, end)
                return
        if self._cur >= 0:
            if end - self._cur > self._holdback:
                self._cur = self._explore_hi = -1
                return
            state = _advance_tail(buf, base, self._cur_p, self._cur_closer, end)
            if state is None:
                self._explore(buf, end)
            else:
                self._cur_p, self._cur_closer = state

    def _new_candidate(self, buf: bytes | bytearray, base: int, found: int, end: int) -> None:
        self._last = self._explore_hi = found
        if end - found > self._holdback:  # too far from the end, and so is every one before it
            self._cur = self._explore_hi = -1
            return
        if (  # the usual tail: nothing to judge
            _TAIL_TAGS.search(buf, found + 6 - base, end - base) is None
            and _COMMENT_END.search(buf, found + 6 - base, end - base) is None
        ):
            self._cur = found
            self._cur_p = max(found + 6, end - _LOOKBEHIND)
            self._cur_closer = None
            return
        state = _advance_tail(buf, base, found + 6, None, end)
        if state is None:
            self._explore(buf, end)
        else:
            self._cur = found
            self._cur_p, self._cur_closer = state

    def _explore(self, buf: bytes | bytearray, end: int) -> None:
        """The current candidate proved not real: find the last real one before it, within the window."""
        base = self._base
        lo = max(self._last - FALLBACK_WINDOW, end - self._holdback, base)
        hi = self._explore_hi
        while hi - lo >= 7:
            found = -1
            for m in _CANDIDATE.finditer(buf, lo - base, hi - base):
                found = m.start()
            if found < 0:
                break
            hi = found + base
            state = _advance_tail(buf, base, hi + 6, None, end)
            if state is not None:
                self._cur = self._explore_hi = hi
                self._cur_p, self._cur_closer = state
                return
        self._cur = self._explore_hi = -1

    def _body_end_hold(self, end: int) -> int:
        if self._cur < 0 and self._explore_hi < 0:
            return end
        lo = max(self._last - FALLBACK_WINDOW, end - self._holdback, self._base)
        if self._explore_hi > lo:
            return lo
        return self._cur if self._cur >= 0 else end
