"""The places notices go in an HTML page: what a notice asks for, where it went, and `</body>`.

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
  around NAME, at most `MAX_MARKER_COMMENT` bytes long); a notice whose form follows
  the place takes the `<span>` form where the tag nearest before the marker (within
  `MAX_TAG` bytes) opens a paragraph, a heading or an inline element, or closes an
  inline element (`elements.phrasing_before`). These, and `</head>`
  for the notices' `<style>`, are found by a forward scanner: one regex finds
  only comments and raw-text elements (each skipped to its end) and the tags
  still wanted, and the scan stops as soon as nothing more is wanted.
- Selector places: `{before: S}` right before the start tag of the first element
  matching S, `{prepend: S}` right after that start tag, `{append: S}` right
  before its end tag, `{after: S}` right after it. The same forward scanner
  finds them, in the manner of lol-html but only as far as the selector needs: a
  `SelectorMatcher` per place (`compliance.respond.matcher`) keeps a stack of
  the open elements of the names it follows and says which start and end tags it
  wants, and the scanner's one regex (cached per set of names, at module level)
  looks for those tags as well; a compound without a type (`.lead`, `#main`) is
  found by its needle, a regex for the class, id or attribute it names, and the
  tag around a hit is read by looking back to its `<`. While the parent of a
  child combinator is open, or an element whose end depends on what is open
  right inside it (`li`, `dd`, `dt`, a heading, `head`), every tag is read.
  Where an element ends, and what is knowingly not handled, is told in
  `compliance.respond.elements` and `compliance.respond.matcher`. A tag the
  scanner would report is not taken for one where the nearest `<` before it
  opens a tag that runs past it (`<a title="<h1>">`), and the scanner never
  skips a tag's attributes, so that which tokens it reads depends on the bytes
  alone, not on what is still wanted. Once a selector's place is known (or it
  gives up), it is searched for no more; the scan stops when nothing is wanted.
  While selector places are wanted, output is held from the start of the last
  tag (or the one before it) that a tag or needle in the next chunk may have to
  be checked against, at most `MAX_TAG` bytes each.

A notice goes at the first of its places that the page has. Where a less
preferred place is found first, output is held from there until a more
preferred one is found or ruled out, at most `holdback` bytes; past that the
notice goes at the best place found so far. Notices sharing a place keep the
order in which they were given; notices at the same byte go in this order:
body-start and prepend, after, append, before, a marker (the comment it
replaces follows), body-end, the end of the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from compliance.respond.html import tokenizer
from compliance.respond.html.tokenizer import _CLOSERS, _LOOKBEHIND, _TAG_NAME_END, close_raw
from compliance.respond.matcher import SelectorMatcher
from compliance.rules.model import SELECTOR_PLACES, Place

__all__ = ["TAIL_WINDOW", "Insertion", "Placed", "TargetKey", "markup_at"]

# Bound by assignment, not imported by name: CPython 3.11 compiles a method call on a name that an
# import binds (`_TAIL_TAGS.search(...)`) to an attribute load that builds a bound method on every call.
_CANDIDATE: Final = tokenizer._CANDIDATE
_COMMENT_END: Final = tokenizer._COMMENT_END
_TAIL_TAGS: Final = tokenizer._TAIL_TAGS

#: Where the cheap searches for `</body` look first.
TAIL_WINDOW: Final = 8192


@dataclass(frozen=True, slots=True)
class Insertion:
    """One notice to place: its id, its HTML places by preference, its markup in the page's charset.

    `inline` is its phrasing-content form (`<span>`), used where a selector place turns out to be
    inside a paragraph, a heading or an inline element; b"": `markup` everywhere. `fallback`
    False (a rule's `fallback: none`): where none of `places` is on the page the notice is not
    shown (unless body-end is one of them) and `Placed.missed` says so. `every` (a rule's
    `match: all`, with one selector place): the notice goes at that place of each element
    that matches, up to `MAX_MATCHES` of them. `action` "remove" or "replace" (with one selector
    place): the element that matches, with all it holds, is left out of the page, and for
    "replace" the notice takes its place (`markup` is empty for "remove"); where none matches,
    nothing is done (`Placed.missed`).
    """

    key: str
    places: tuple[Place, ...]
    markup: bytes
    inline: bytes = b""
    fallback: bool = True
    every: bool = False
    action: str = "notice"


def markup_at(insertion: Insertion, key: object, phrasing_markers: frozenset[bytes] = frozenset()) -> bytes:
    """The notice's markup for the place found by `key` (its inline form inside phrasing content).

    `phrasing_markers`: the markers found inside phrasing content (a paragraph, a heading, an
    inline element), where a notice whose form follows the place takes the `<span>` form.
    """
    if insertion.inline and (
        (type(key) is SelectorMatcher and key.phrasing) or (type(key) is bytes and key in phrasing_markers)
    ):
        return insertion.inline
    return insertion.markup


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a notice went. `place` is None at the end of a document without a usable `</body>`.

    `fallback` is True when that is not its first preference (the end of the
    document counts as `body-end`). `missed` is True (and `place` None) when none of
    its places was on the page and it has no fallback: the notice was not shown. `count`:
    for `Insertion.every`, how many elements it went next to (else 0).
    """

    key: str
    place: Place | None
    fallback: bool
    missed: bool = False
    count: int = 0
    #: Why it was missed, where that is not the usual "none of its places is on the page".
    why: str | None = None


_BODY_END: Final = Place("body-end")
HEAD_PLACE: Final = Place("head")
#: Why head elements were left out: the page showed no end of its head.
NO_HEAD: Final = "the page has neither </head> nor <body>, so where its head ends is not known"
# Target keys: None for `body-start`, a marker's name (bytes), a selector place's matcher.
_BODY_START: Final = None
TargetKey = bytes | SelectorMatcher | None
# Where notices at the same byte go relative to each other (then in the order given): what
# opens an element's content, then what follows the element that ends there, then what closes
# the content of the element around it, then what comes before the next element, then a marker
# (the comment it replaces follows), then body-end and the end of the document.
_KIND_PREPEND: Final = 0  # and body-start
_KIND_AFTER: Final = 1
_KIND_APPEND: Final = 2
_KIND_BEFORE: Final = 3
_KIND_MARKER: Final = 4
_KIND_BODY_END: Final = 5
_KIND_END: Final = 6
_SELECTOR_KINDS: Final = {
    "prepend": _KIND_PREPEND,
    "after": _KIND_AFTER,
    "append": _KIND_APPEND,
    "before": _KIND_BEFORE,
}
_PLACED: dict[tuple[str, int, bool, bool, int], Placed] = {}
#: A `_Slot.outcome` for a notice that had no place on the page and no fallback.
MISSED: Final = (None, True, True)
Outcome = tuple[Place | None, bool] | tuple[None, bool, bool]


def _make_placed(key: str, place: Place | None, fallback: bool, missed: bool = False, count: int = 0) -> Placed:
    """A `Placed` value, shared between responses (a frozen dataclass costs more to build than to look up)."""
    cache_key = (key, id(place), fallback, missed, count)
    hit = _PLACED.get(cache_key)
    if hit is None or hit.place is not place:
        if len(_PLACED) >= 4096:
            _PLACED.clear()
        hit = _PLACED[cache_key] = Placed(key, place, fallback, missed, count)
    return hit


class _Slot:
    """One insertion's progress: the forward places it still waits for and the best one found."""

    targets: tuple[tuple[TargetKey, Place, int, int], ...] = ()  # (key, place, rank in places, kind)
    end_place: Place = _BODY_END  # body-end as the insertion names it
    end_rank = 0  # where body-end comes in its places
    best = -1  # index in targets of the best place found so far
    best_pos = 0
    best_end = 0
    outcome: Outcome | None = None  # (place, fallback) once settled, or MISSED
    strict = False  # no body-end to fall back on: missed where none of its places is found
    count = 0  # `Insertion.every`: the elements it went next to so far

    def __init__(
        self,
        index: int,
        insertion: Insertion,
        matchers: dict[tuple[str, str, bool, bool], SelectorMatcher] | None = None,
    ) -> None:
        self.index = index
        self.insertion = insertion
        places = insertion.places
        if not places:
            return
        if places[0].kind == "body-end":
            self.end_place = places[0]
            return
        targets: list[tuple[TargetKey, Place, int, int]] = []
        self.end_rank = len(places)
        whole = insertion.action != "notice"
        for rank, place in enumerate(places):
            if place.kind == "body-end":
                self.end_place, self.end_rank = place, rank
                break
            if place.kind == "body-start":
                targets.append((_BODY_START, place, rank, _KIND_PREPEND))
            elif place.kind == "marker" and place.arg:
                name = place.arg.strip().encode("utf-8")
                if name and b"<" not in name and b">" not in name and b"--" not in name:
                    targets.append((name, place, rank, _KIND_MARKER))
            elif place.kind in SELECTOR_PLACES and matchers is not None and place.arg:
                key = (place.kind, place.arg, insertion.every, whole)
                matcher = matchers.get(key)
                if matcher is None:
                    matcher = SelectorMatcher.for_place(place.kind, place.arg, insertion.every, whole)
                    if matcher is None:
                        continue  # not a selector of the subset: the next place applies
                    matchers[key] = matcher
                targets.append((matcher, place, rank, _KIND_BEFORE if whole else _SELECTOR_KINDS[place.kind]))
        self.targets = tuple(targets)
        self.strict = (whole or not insertion.fallback) and self.end_rank == len(places)

    def target_index(self, key: TargetKey) -> int:
        for i, target in enumerate(self.targets):
            if target[0] == key:
                return i
        return -1


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
            at, resume, awaited = close_raw(closer, buf, i, n, False)
            if at < 0:
                return resume + base, awaited
            closer = None
            i = resume
