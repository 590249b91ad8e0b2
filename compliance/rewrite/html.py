"""Streaming insertion of notice markup into an HTML page.

`HtmlRewriter` takes the body in the chunks the app sends and returns what to
send on, holding back only what a decision still depends on. The output never
depends on how the body was split, a page with nothing to insert leaves byte for
byte, and every input byte leaves in order (except a marker comment, which its
notices replace).

Places (rules-format.md, Placement):

- `body-end`: right before the last real `</body>`, or at the end of the
  document where there is none. It is found from the end, never by a forward
  scan: the last `</body` (any case; a lower-case `rfind` in the last few KB
  first, a case-insensitive pass only where that finds nothing) is the
  candidate. Whether it is real is judged by the text after it alone: tokenised
  from the candidate on as if it were in the data state, that tail must not show
  a `-->`, `</script`, `</style`, `</textarea`, `</title` (or another raw-text
  end tag) closing something never opened in the tail. A candidate that fails
  gives way to the one before it, if that lies within `FALLBACK_WINDOW` bytes;
  a candidate more than `holdback` bytes before the end of the document is
  forgotten. While streaming, output is held from `FALLBACK_WINDOW` bytes before
  the last candidate (else only a `</body` that may be split between chunks),
  and the chunk that holds the candidate is kept whole, by reference, until the
  next chunk or `close`: a page that arrives in one piece costs one copy.
- `body-start`: right after the first `<body ...>` start tag (its attributes read
  as the HTML tokenizer does, so `<body data-x="a>b">` is one tag);
  `{marker: NAME}`: replaces the first comment `<!-- NAME -->` (any whitespace
  around NAME, at most `MAX_MARKER_COMMENT` bytes long). These, and `</head>`
  for the notices' `<style>`, are found by a forward scanner: one regex finds
  only comments and raw-text elements (each skipped to its end) and the tags
  still wanted, and the scan stops as soon as nothing more is wanted.
- Selector places (`before`, `after`, `prepend`, `append`) are not found yet:
  a notice falls through them to its next preference.

A notice goes at the first of its places that the page has. Where a less
preferred place is found first, output is held from there until a more
preferred one is found or ruled out, at most `holdback` bytes; past that the
notice goes at the best place found so far. Notices sharing a place keep the
order in which they were given.

What this does not understand, knowingly:

- A comment that contains `</body>` and then `<!--` before its own end
  (`<!-- </body> <!-- -->` after the real `</body>`): the tail looks balanced, so
  that `</body>` is taken for the real one.
- `</body>`, `<body`, `<!--`, `<script` and the like inside attribute values
  (`<a title="</body>">`); only the `<body>` tag's own attributes are parsed, so
  `<script data-x="</script>">` also ends its script early.
- A fake `</body>` in the tail more than `FALLBACK_WINDOW` bytes after the real
  one: the notice then goes at the end of the document.
- `-->` as plain text after the real `</body>`: read as closing a comment, so the
  notice goes before an earlier `</body>` or at the end of the document.
- `<plaintext>`, CDATA sections (SVG, MathML, XHTML), `--!>` ending a comment, and
  the elements that are raw text only sometimes: `<noscript>` is always taken
  for raw text (as browsers with scripting on read it), `<title>` inside SVG too.
- A `<body>` start tag longer than `MAX_BODY_TAG` bytes is not taken for one.
- Marker names are compared as UTF-8 bytes; a name containing `<`, `>` or `--`
  never matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..rules.model import Place

__all__ = [
    "DEFAULT_HOLDBACK",
    "FALLBACK_WINDOW",
    "MAX_BODY_TAG",
    "MAX_MARKER_COMMENT",
    "HtmlRewriter",
    "Insertion",
    "Placed",
]

DEFAULT_HOLDBACK: Final = 256 * 1024
#: How far before a `</body>` that turned out not to be real the one before it may be.
FALLBACK_WINDOW: Final = 4096
#: The longest comment that counts as a marker (held back whole while it may be one).
MAX_MARKER_COMMENT: Final = 1024
#: The longest `<body ...>` start tag that counts as one.
MAX_BODY_TAG: Final = 16 * 1024
#: Where the cheap searches for `</body` look first.
TAIL_WINDOW: Final = 8192

# The longest token searched for (`</noframes` plus the byte after it) less one: a token
# that starts in the last bytes of a chunk is looked for again with the next chunk.
_LOOKBEHIND: Final = 10
_WS: Final = b"\t\n\x0c\r "
_TAG_NAME_END: Final = frozenset(b"\t\n\x0c\r />")
_END: Final = rb"(?=[\t\n\x0c\r />])"

#: Elements whose content is text up to their end tag, never markup.
RAW_TEXT_ELEMENTS: Final = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript")
_RAW_NAMES: Final = tuple(name.encode() for name in RAW_TEXT_ELEMENTS)


def _any_case(word: bytes) -> bytes:
    """`word` as a pattern that matches it in any ASCII case, without the IGNORECASE flag."""
    return b"".join(b"[%c%c]" % (c, c ^ 0x20) if 0x61 <= c <= 0x7A else re.escape(bytes([c])) for c in word)


def _trie(words: Sequence[bytes]) -> bytes:
    """A pattern for any of `words` (none a prefix of another), any case, branching a byte at a time."""
    by_first: dict[int, list[bytes]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    for first, rests in by_first.items():
        if len(rests) == 1:
            branches.append(_any_case(bytes([first]) + rests[0]))
        else:
            branches.append(_any_case(bytes([first])) + b"(?:" + _trie(rests) + b")")
    return b"|".join(branches)


def _tags(names: Sequence[bytes], prefix: bytes = b"") -> re.Pattern[bytes]:
    """`<!--`, or `<` + `prefix` + one of `names` ending a tag name.

    Shaped for speed: every `<` of a page is a possible start, so a lookahead on the next
    byte throws most of them out before any alternative is tried (about 6x faster than an
    alternation of IGNORECASE names on a news page).
    """
    firsts = {name[0] for name in names} | ({prefix[0]} if prefix else set())
    first = b"".join(_any_case(bytes([c])).strip(b"[]") for c in sorted(firsts))
    return re.compile(rb"<(?=[!" + first + rb"])(?:!--|" + prefix + rb"(?:" + _trie(names) + rb")" + _END + rb")")


_CLOSERS: Final = {name: re.compile(rb"</" + _any_case(name) + _END) for name in _RAW_NAMES}
_COMMENT_END: Final = re.compile(rb"-->")
_CANDIDATE: Final = re.compile(rb"</" + _any_case(b"body") + _END)
# The tail after a `</body` candidate is tokenised with these (and `-->`, searched on its own:
# an alternative that does not start with `<` would slow every search down).
_TAIL_TAGS: Final = _tags(_RAW_NAMES, b"/?")
_TAIL_NOTABLE: Final = _tags((b"body", *_RAW_NAMES), b"/?")  # a tail token, or a later `</body`
# The rest of a start tag after its name, as the HTML tokenizer reads attributes: a quote
# opens a value only right after a name and `=`. Possessive throughout: linear, and no match at all
# while the tag is incomplete.
_TAG_REST: Final = re.compile(
    rb"""(?:[\t\n\x0c\r /]++"""
    rb"""|[^\t\n\x0c\r />][^\t\n\x0c\r />=]*+"""
    rb"""(?>[\t\n\x0c\r ]*+=[\t\n\x0c\r ]*+(?:"[^"]*+"|'[^']*+'|(?!["'])[^\t\n\x0c\r >]*+)|(?![\t\n\x0c\r ]*+=)))*+>"""
)
_FORWARD: dict[tuple[bool, bool], re.Pattern[bytes]] = {}


def _forward_pattern(body: bool, head: bool) -> re.Pattern[bytes]:
    """The forward scanner's one regex: comments, raw-text openers, and `<body` / `</head` where wanted."""
    key = (body, head)
    pattern = _FORWARD.get(key)
    if pattern is None:
        names = _RAW_NAMES + ((b"body",) if body else ()) + ((b"/head",) if head else ())
        pattern = _FORWARD[key] = _tags(names)
    return pattern


@dataclass(frozen=True, slots=True)
class Insertion:
    """One notice to place: its id, its HTML places by preference, its markup in the page's charset."""

    key: str
    places: tuple[Place, ...]
    markup: bytes


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a notice went. `place` is None at the end of a document without a usable `</body>`.

    `fallback` is True when that is not its first preference (the end of the
    document counts as `body-end`).
    """

    key: str
    place: Place | None
    fallback: bool


_BODY_END: Final = Place("body-end")
_BODY_START: Final = None  # the target key of `body-start`; markers are keyed by their name
_PLACED: dict[tuple[str, int, bool], Placed] = {}


def _make_placed(key: str, place: Place | None, fallback: bool) -> Placed:
    """A `Placed` value, shared between responses (a frozen dataclass costs more to build than to look up)."""
    cache_key = (key, id(place), fallback)
    hit = _PLACED.get(cache_key)
    if hit is None or hit.place is not place:
        if len(_PLACED) >= 4096:
            _PLACED.clear()
        hit = _PLACED[cache_key] = Placed(key, place, fallback)
    return hit


class _Slot:
    """One insertion's progress: the forward places it still waits for and the best one found."""

    targets: tuple[tuple[bytes | None, Place, int], ...] = ()  # (key, place, rank in places)
    end_place: Place = _BODY_END  # body-end as the insertion names it
    end_rank = 0  # where body-end comes in its places
    best = -1  # index in targets of the best place found so far
    best_pos = 0
    best_end = 0
    outcome: tuple[Place | None, bool] | None = None  # (place, fallback) once settled

    def __init__(self, index: int, insertion: Insertion) -> None:
        self.index = index
        self.insertion = insertion
        places = insertion.places
        if not places:
            return
        if places[0].kind == "body-end":
            self.end_place = places[0]
            return
        targets: list[tuple[bytes | None, Place, int]] = []
        self.end_rank = len(places)
        for rank, place in enumerate(places):
            if place.kind == "body-end":
                self.end_place, self.end_rank = place, rank
                break
            if place.kind == "body-start":
                targets.append((_BODY_START, place, rank))
            elif place.kind == "marker" and place.arg:
                name = place.arg.strip().encode("utf-8")
                if name and b"<" not in name and b">" not in name and b"--" not in name:
                    targets.append((name, place, rank))
        self.targets = tuple(targets)

    def target_index(self, key: bytes | None) -> int:
        for i, target in enumerate(self.targets):
            if target[0] == key:
                return i
        return -1


class HtmlRewriter:
    """Places notice markup into an HTML body as it streams.

    `insertions` come sorted in the order they must appear where they share a
    place. `head_markup` (the notices' `<style>`) goes once right before
    `</head>`, or, where no `</head>` comes before `<body` or before the first
    notice, right before the first notice. `feed` each chunk and send on what it
    returns; `close` returns the rest. `placed` lists where each notice went as
    each is placed; after `close` it is complete and in the order given.
    `feed(data, last=True)` is `feed(data) + close()` in one piece, which saves a
    copy when the whole body comes in one message.
    """

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
    _body_found = False
    _markers_found: frozenset[bytes] = frozenset()
    _wanted_markers: frozenset[bytes] = frozenset()
    # The forward scanner: its regex (None: stopped), resume position, the closer it awaits.
    _fwd: re.Pattern[bytes] | None = None
    _fp = 0
    _closer: re.Pattern[bytes] | None = None
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

    def __init__(
        self, insertions: Sequence[Insertion], head_markup: bytes = b"", holdback: int = DEFAULT_HOLDBACK
    ) -> None:
        assert holdback >= 0, "holdback must not be negative"
        self._holdback = holdback
        self._slots: list[_Slot] = []
        slots = self._slots
        scan = False
        for index, insertion in enumerate(insertions):
            slot = _Slot(index, insertion)
            slots.append(slot)
            if slot.targets:
                scan = True
        self._open = slots[:]  # not yet settled
        self._edits: list[tuple[int, int, int, bytes, int]] = []  # (pos, rank, index, markup, skip-to)
        if not slots:
            self._passing = True
            return
        if head_markup:
            self._style = bytes(head_markup)
            self._style_done = False
            self._head_open = True
        elif not scan:
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
        if self._fast and not self._buf:
            return self._feed_fast(data if type(data) is bytes else bytes(data), last)
        return self._process(data, last)

    def close(self) -> bytes:
        """Everything still held, with the notices placed; `placed` is complete afterwards."""
        if self._closed:
            return b""
        if self._passing:
            self._closed = True
            return b""
        if self._fast:  # only body-end was running, and everything fed has been searched
            return self._finish_fast(self._buf, self._end, self._cur)
        return self._process(b"", True)

    @property
    def placed(self) -> list[Placed]:
        """Where each notice went, as each is placed; after `close`, every notice in the order given."""
        placed = self._placed
        if placed is None:
            slots = self._slots if self._closed or self._passing else self._order
            placed = [_make_placed(slot.insertion.key, *slot.outcome) for slot in slots if slot.outcome is not None]
            self._placed = placed
        return placed

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
        if self._body_end and end > fresh:
            self._track_body_end(buf, end)
        if final:
            return self._finish_fast(buf, end, self._cur) if self._fast else self._finish(buf, end)
        hold = self._hold(buf, end)
        if fresh_chunk and self._last >= self._base and hold < end:
            hold = self._base  # the page is ending: keep the chunk whole, as in _feed_fast
        out = self._emit(buf, hold, False)
        self._after_emit()
        return out

    def _finish(self, buf: bytes | bytearray, end: int) -> bytes:
        self._closed = True
        self._settle_all(end)
        out = self._emit(buf, end, True)
        self._placed = None
        return out

    def _finish_fast(self, buf: bytes | bytearray, end: int, cur: int) -> bytes:
        """`_finish` when every open notice goes to body-end (at `cur`, else the end) and nothing else is pending."""
        self._closed = True
        self._placed = None
        self._buf = b""
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

    def _after_emit(self) -> None:
        self._fast = self._fwd is None and self._style_done and not self._edits
        if self._fast and not self._open and not self._buf:
            self._passing = True
            self._placed = None

    def _hold(self, buf: bytes | bytearray, end: int) -> int:
        """The first position that must not be sent yet."""
        hold = end
        if self._fwd is not None and self._fp < hold:
            hold = self._fp
        for slot in self._open:
            if slot.best >= 0 and slot.best_pos < hold:
                hold = slot.best_pos
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

    def _body_end_hold(self, end: int) -> int:
        if self._cur < 0 and self._explore_hi < 0:
            return end
        lo = max(self._last - FALLBACK_WINDOW, end - self._holdback, self._base)
        if self._explore_hi > lo:
            return lo
        return self._cur if self._cur >= 0 else end

    # --- output ---------------------------------------------------------------------------------

    def _emit(self, buf: bytes | bytearray, hold: int, final: bool) -> bytes:
        """Send buf up to `hold` with the edits before it (at the end of the document, also those at it)."""
        base = self._base
        size = hold - base
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
        if not self._style_done:
            head = self._head_pos
            if 0 <= head < hold and (not ready or head < ready[0][0]):
                ready.insert(0, (head, -1, -1, self._style, head))
                self._style_done = True
            elif ready:
                pos, rank, index, markup, stop = ready[0]
                ready[0] = (pos, rank, index, self._style + markup, stop)
                self._style_done = True
            if self._style_done and self._head_open:
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

    # --- decisions ------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Work out what is still wanted, and the forward scanner's regex for it."""
        want_body = self._head_open
        markers: set[bytes] = set()
        body_end = False
        for slot in self._open:
            if slot.best < 0:
                body_end = True
                targets = slot.targets
            else:
                targets = slot.targets[: slot.best]
            for key, _, _ in targets:
                if key is None:
                    want_body = True
                elif key not in self._markers_found:
                    markers.add(key)
        want_body = want_body and not self._body_found
        self._wanted_markers = frozenset(markers)
        self._body_end = body_end
        if want_body or markers or self._head_open:
            self._fwd = _forward_pattern(want_body, self._head_open)
            self._fast = False
        else:
            self._fwd = None

    def _found(self, key: bytes | None, pos: int, stop: int) -> None:
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

    def _settle_forward(self, slot: _Slot) -> None:
        key, place, rank = slot.targets[slot.best]
        self._open.remove(slot)
        self._edits.append((slot.best_pos, 0 if key is None else 1, slot.index, slot.insertion.markup, slot.best_end))
        self._record(slot, place, rank != 0)

    def _record(self, slot: _Slot, place: Place | None, fallback: bool) -> None:
        slot.outcome = (place, fallback)
        if not self._closed:
            self._order.append(slot)  # type: ignore[union-attr]  # a list whenever places are scanned for
            self._placed = None

    def _settle_far(self) -> None:
        """Settle notices whose better places could only be found past the hold-back limit."""
        changed = False
        for slot in list(self._open):
            if slot.best >= 0 and self._fp - slot.best_pos >= self._holdback:
                self._settle_forward(slot)
                changed = True
        if changed:
            self._refresh()

    def _settle_all(self, end: int) -> None:
        cur = self._cur
        at = cur if cur >= 0 else end
        for slot in self._open:
            if slot.best >= 0:
                key, place, rank = slot.targets[slot.best]
                kind = 0 if key is None else 1
                self._edits.append((slot.best_pos, kind, slot.index, slot.insertion.markup, slot.best_end))
                self._record(slot, place, rank != 0)
            elif cur >= 0:
                self._edits.append((at, 2, slot.index, slot.insertion.markup, at))
                self._record(slot, slot.end_place, slot.end_rank != 0)
            else:
                self._edits.append((at, 3, slot.index, slot.insertion.markup, at))
                self._record(slot, None, slot.end_rank != 0)
        self._open = []
        self._fwd = None
        self._body_end = False

    # --- the forward scanner --------------------------------------------------------------------

    def _scan(self, buf: bytes | bytearray, end: int, final: bool) -> None:
        base = self._base
        n = end - base
        i = max(self._fp - base, 0)
        closer = self._closer
        pattern = self._fwd
        while pattern is not None:
            if closer is not None:
                m = closer.search(buf, i, n)
                if m is None:
                    i = n if final else max(i, n - _LOOKBEHIND)
                    break
                i = m.end()
                closer = None
                continue
            m = pattern.search(buf, i, n)
            if m is None:
                i = n if final else max(i, n - _LOOKBEHIND)
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
                    continue
                i = k.end()
                if self._wanted_markers and i - q <= MAX_MARKER_COMMENT:
                    name = bytes(buf[q + 4 : max(q + 4, i - 3)]).strip(_WS)
                    if name in self._wanted_markers:
                        self._markers_found = self._markers_found | {name}
                        self._found(name, q + base, i + base)
                        pattern = self._fwd
                continue
            if second == 0x2F:  # `</head`, before any `<body`
                i = m.end()
                if self._head_open:
                    self._head_open = False
                    self._head_pos = q + base
                    self._refresh()
                    pattern = self._fwd
                continue
            name = bytes(buf[q + 1 : m.end()]).lower()
            i = m.end()
            if name != b"body":
                closer = _CLOSERS[name]  # raw text: skip to its end tag
                continue
            if self._body_found:
                continue
            tag = _TAG_REST.match(buf, i, n)
            if tag is None:
                if not final and n - q < MAX_BODY_TAG:
                    i = q  # the tag is not complete yet
                    break
                continue
            if tag.end() - q > MAX_BODY_TAG:
                continue
            i = tag.end()
            self._body_found = True
            self._head_open = False
            self._found(_BODY_START, i + base, i + base)
            pattern = self._fwd
        self._fp = i + base
        self._closer = closer
        if self._open:
            self._settle_far()

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


def _rfind_tag(buf: bytes | bytearray, needle: bytes, lo: int, n: int) -> int:
    """The last `needle` in buf[lo:n] followed by a byte that ends a tag name; -1 if none."""
    stop = n - 1
    while True:
        at = buf.rfind(needle, lo, stop)
        if at < 0 or buf[at + 6] in _TAG_NAME_END:
            return at
        stop = at + 5


def _last_candidate(buf: bytes | bytearray, lo: int, n: int, lower_done: bool = False) -> int:
    """Index of the last `</body` (any case) in buf[lo:n] that a tag-name end follows; -1 if none.

    `lower_done`: the caller has already found no lower-case `</body` in the last window.
    """
    window = max(lo, n - TAIL_WINDOW)
    found = -1 if lower_done else _rfind_tag(buf, b"</body", window, n)
    if found < 0:
        found = max(_rfind_tag(buf, b"</BODY", window, n), _rfind_tag(buf, b"</Body", window, n))
    if found < 0:
        for m in _CANDIDATE.finditer(buf, lo, n):
            found = m.start()
        return found
    later = _CANDIDATE.search(buf, found + 1, n)  # a later one in another case
    while later is not None:
        found = later.start()
        later = _CANDIDATE.search(buf, found + 1, n)
    return found


def _advance_tail(
    buf: bytes | bytearray, base: int, pos: int, closer: re.Pattern[bytes] | None, end: int
) -> tuple[int, re.Pattern[bytes] | None] | None:
    """Tokenise buf from absolute `pos` to `end`; None if it closes something it never opened.

    Else the position to resume from and the closer still awaited (None: the data state).
    """
    i = pos - base
    n = end - base
    dash = -2  # the next `-->` at or after i in the data state (-1: none), once looked for
    while True:
        if closer is None:
            m = _TAIL_TAGS.search(buf, i, n)
            if dash != -1 and dash < i:
                found = _COMMENT_END.search(buf, i, n)
                dash = -1 if found is None else found.start()
            if dash >= 0 and (m is None or dash < m.start()):
                return None  # a `-->` closing a comment never opened
            if m is None:
                return max(i, n - _LOOKBEHIND) + base, None
            q = m.start()
            second = buf[q + 1]
            if second == 0x21:  # `<!--`
                closer = _COMMENT_END
                i = q + 2
            elif second == 0x2F:  # an end tag of raw text never opened
                return None
            else:
                closer = _CLOSERS[bytes(buf[q + 1 : m.end()]).lower()]
                i = m.end()
        else:
            m = closer.search(buf, i, n)
            if m is None:
                return max(i, n - _LOOKBEHIND) + base, closer
            closer = None
            i = m.end()
