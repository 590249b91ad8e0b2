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
- Selector places: `{before: S}` right before the start tag of the first
  element matching S, `{prepend: S}` right after that start tag, `{append: S}`
  right before its end tag, `{after: S}` right after it. The same forward
  scanner finds them, in the manner of lol-html but only as far as the selector
  needs: a `SelectorMatcher` per place (selector.py) keeps a stack of the open
  elements of the names it follows and says which start and end tags it wants,
  and the scanner's one regex (cached per set of names, at module level) looks
  for those tags as well; a compound without a type (`.lead`, `#main`) is found
  by its needle, a regex for the class, id or attribute it names, and the tag
  around a hit is read by looking back to its `<`. While the parent of a child
  combinator is open, or an element whose end depends on what is open right
  inside it (`li`, `dd`, `dt`, a heading, `head`), every tag is read. Where an
  element ends, and what is knowingly not handled, is told in selector.py. A
  tag the scanner would report is not taken for one where the nearest `<` before
  it opens a tag that runs past it (`<a title="<h1>">`), and the scanner never
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

What this does not understand, knowingly:

- A comment that contains `</body>` and then `<!--` before its own end
  (`<!-- </body> <!-- -->` after the real `</body>`): the tail looks balanced, so
  that `</body>` is taken for the real one.
- `</body>`, `<body`, `<!--`, `<script` and the like inside attribute values
  (`<a title="</body>">`) or tag names (`<h<!--`); only the `<body>` tag's own
  attributes are parsed, so `<script data-x="</script>">` also ends its script
  early. For selector places, a tag inside an attribute value is passed over
  only one level deep: in `<a title="<b>x</b><h1>">`, the `<h1>` follows a `</b>`
  that ends before it, and is taken for a tag.
- A fake `</body>` in the tail more than `FALLBACK_WINDOW` bytes after the real
  one: the notice then goes at the end of the document.
- `-->` as plain text after the real `</body>`: read as closing a comment, so the
  notice goes before an earlier `</body>` or at the end of the document.
- `<plaintext>`, CDATA sections (SVG, MathML, XHTML), `--!>` ending a comment, and
  the elements that are raw text only sometimes: `<noscript>` is always taken
  for raw text (as browsers with scripting on read it), `<title>` inside SVG too.
- A `<body>` start tag longer than `MAX_BODY_TAG` bytes is not taken for one,
  nor another start or end tag longer than `MAX_TAG` bytes (an `<img>` with a
  large `data:` URL) for a selector place.
- Marker names are compared as UTF-8 bytes; a name containing `<`, `>` or `--`
  never matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from compliance.respond.selector import DONE, UNCHANGED, SelectorMatcher
from compliance.rules.model import SELECTOR_PLACES, Place

__all__ = [
    "DEFAULT_HOLDBACK",
    "FALLBACK_WINDOW",
    "MAX_BODY_TAG",
    "MAX_MARKER_COMMENT",
    "MAX_TAG",
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
#: The longest start or end tag that a selector place reads as one.
MAX_TAG: Final = 16 * 1024
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
    """A pattern for any of `words`, any case, branching a byte at a time.

    Where one word is a prefix of another, the shorter one is the last alternative: what
    follows the group decides (backtracking into it).
    """
    by_first: dict[int, list[bytes]] = {}
    ends_here = False
    for word in words:
        if word:
            by_first.setdefault(word[0], []).append(word[1:])
        else:
            ends_here = True
    branches = []
    for first, rests in by_first.items():
        if len(rests) == 1:
            branches.append(_any_case(bytes([first]) + rests[0]))
        else:
            branches.append(_any_case(bytes([first])) + b"(?:" + _trie(rests) + b")")
    if ends_here:
        branches.append(b"")
    return b"|".join(branches)


def _byte_class(values: set[int]) -> bytes:
    """The inside of a character class for these bytes, letters in both cases."""
    both = values | {c ^ 0x20 for c in values if 0x61 <= (c | 0x20) <= 0x7A}
    return b"".join(re.escape(bytes([c])) for c in sorted(both))


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
_NO_NAMES: Final[frozenset[bytes]] = frozenset()
#: A whole start or end tag, or a bogus comment, as `_construct` reads them (the tag's name and
#: attributes as the HTML tokenizer reads them; `[^>]` up to the first `>` for the rest).
_CONSTRUCT: Final = re.compile(
    rb"<(?:/?[A-Za-z][^\t\n\x0c\r />]*+" + _TAG_REST.pattern + rb"|[!?][^>]*+>|/[^A-Za-z>][^>]*+>|/>)"
)
_FORWARD: dict[tuple[bool, bool, frozenset[bytes], frozenset[bytes]], tuple[re.Pattern[bytes], int]] = {}
#: The forward scanner's regex where every tag is wanted; the tag name is read after it.
_EVERY_TAG: Final = re.compile(rb"<(?:!--|/?[A-Za-z])")
_EVERY_TAG_LOOKBEHIND: Final = 3
_NAME_END: Final = re.compile(rb"[^\t\n\x0c\r />]*+")
#: Distinct forward patterns one page may ask for before its scanner reads every tag instead.
_PATTERNS_PER_PAGE: Final = 24


def _forward_pattern(
    body: bool, head: bool, starts: frozenset[bytes] = _NO_NAMES, ends: frozenset[bytes] = _NO_NAMES
) -> tuple[re.Pattern[bytes], int]:
    """The forward scanner's one regex, and how many bytes before the end of a chunk a token may start.

    It finds comments, raw-text openers, `<body` / `</head` where wanted, and the start tags
    `starts` and end tags `ends` that selector places follow (cached).
    """
    key = (body, head, starts, ends)
    found = _FORWARD.get(key)
    if found is None:
        start_names = set(_RAW_NAMES) | starts | ({b"body"} if body else set())
        end_names = set(ends) | ({b"head"} if head else set())
        firsts = {0x21} | {name[0] for name in start_names} | ({0x2F} if end_names else set())
        lookahead = b"[" + _byte_class(firsts) + b"]"
        if (starts or ends) and all(len(name) > 1 for name in start_names):
            # Selector names make more tags pass a first-byte test (`<a` for `article`): test the
            # second byte too.
            seconds = {0x2D} | {name[1] for name in start_names} | {name[0] for name in end_names}
            lookahead += b"[" + _byte_class(seconds) + b"]"
        alternatives = [b"!--", b"(?:" + _trie(sorted(start_names)) + b")" + _END]
        if end_names:
            alternatives.append(b"/(?:" + _trie(sorted(end_names)) + b")" + _END)
        pattern = re.compile(b"<(?=" + lookahead + b")(?:" + b"|".join(alternatives) + b")")
        # `<name` or `</name` and the byte after it, less one
        lookbehind = max(
            max(len(name) + 1 for name in start_names), max((len(name) + 2 for name in end_names), default=0)
        )
        if len(_FORWARD) >= 512:
            _FORWARD.clear()
        found = _FORWARD[key] = (pattern, lookbehind)
    return found


# (body, head, start tags, end tags, every tag, needles) -> (regex, lookbehind, needle regex)
_ScannerKey = tuple[bool, bool, frozenset[bytes], frozenset[bytes], bool, tuple[bytes, ...]]
_SCANNERS: dict[_ScannerKey, tuple[re.Pattern[bytes], int, re.Pattern[bytes] | None]] = {}


def _scanner(
    body: bool, head: bool, starts: frozenset[bytes], ends: frozenset[bytes], every: bool, needles: tuple[bytes, ...]
) -> tuple[re.Pattern[bytes], int, re.Pattern[bytes] | None]:
    """The forward scanner's regex, its lookbehind, and the regex for needles, for selector places (cached)."""
    if every:
        pattern, lookbehind = _EVERY_TAG, _EVERY_TAG_LOOKBEHIND
    else:
        pattern, lookbehind = _forward_pattern(body, head, starts, ends)
    needle_pattern = None
    if needles and not every:
        needle_pattern = re.compile(b"|".join(needles))
        lookbehind = max(lookbehind, *(len(needle) for needle in needles))
    if len(_SCANNERS) >= 512:
        _SCANNERS.clear()
    found = _SCANNERS[(body, head, starts, ends, every, needles)] = (pattern, lookbehind, needle_pattern)
    return found


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

    targets: tuple[tuple[TargetKey, Place, int, int], ...] = ()  # (key, place, rank in places, kind)
    end_place: Place = _BODY_END  # body-end as the insertion names it
    end_rank = 0  # where body-end comes in its places
    best = -1  # index in targets of the best place found so far
    best_pos = 0
    best_end = 0
    outcome: tuple[Place | None, bool] | None = None  # (place, fallback) once settled

    def __init__(
        self, index: int, insertion: Insertion, matchers: dict[tuple[str, str], SelectorMatcher] | None = None
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
                key = (place.kind, place.arg)
                matcher = matchers.get(key)
                if matcher is None:
                    matcher = SelectorMatcher.for_place(place.kind, place.arg)
                    if matcher is None:
                        continue  # not a selector of the subset: the next place applies
                    matchers[key] = matcher
                targets.append((matcher, place, rank, _SELECTOR_KINDS[place.kind]))
        self.targets = tuple(targets)

    def target_index(self, key: TargetKey) -> int:
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
    _want_body = False  # still looking for `<body`
    _markers_found: frozenset[bytes] = frozenset()
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

    def __init__(
        self, insertions: Sequence[Insertion], head_markup: bytes = b"", holdback: int = DEFAULT_HOLDBACK
    ) -> None:
        assert holdback >= 0, "holdback must not be negative"
        self._holdback = holdback
        self._slots: list[_Slot] = []
        slots = self._slots
        scan = False
        matchers: dict[tuple[str, str], SelectorMatcher] = {}  # one per selector place, shared by notices
        for index, insertion in enumerate(insertions):
            slot = _Slot(index, insertion, matchers)
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
        if self._fwd is not None and self._keep < hold:
            hold = self._keep
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
        active: list[SelectorMatcher] = []
        for slot in list(self._open):
            if slot.best < 0:
                body_end = True
                targets = slot.targets
            else:
                targets = slot.targets[: slot.best]
            waiting = False
            for key, _, _, _ in targets:
                if key is None:
                    if not self._body_found:
                        want_body = waiting = True
                elif type(key) is bytes:
                    if key not in self._markers_found:
                        markers.add(key)
                        waiting = True
                elif not (key.done or key.dead):  # type: ignore[union-attr]
                    waiting = True
                    if key not in active:
                        active.append(key)  # type: ignore[arg-type]
            if slot.best >= 0 and not waiting:  # every better place is ruled out
                self._settle_forward(slot)
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

    def _settle_forward(self, slot: _Slot) -> None:
        _, place, rank, kind = slot.targets[slot.best]
        self._open.remove(slot)
        self._edits.append((slot.best_pos, kind, slot.index, slot.insertion.markup, slot.best_end))
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
            if slot.best >= 0:
                _, place, rank, kind = slot.targets[slot.best]
                self._edits.append((slot.best_pos, kind, slot.index, slot.insertion.markup, slot.best_end))
                self._record(slot, place, rank != 0)
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

    # --- the forward scanner --------------------------------------------------------------------

    def _marker_enclosed(self, buf: bytes | bytearray, before: int, q: int, n: int, final: bool) -> int:
        """`_enclosed` for the `<!--` of a marker at q, looking back into what was already sent."""
        if before >= 0 or q >= MAX_TAG or not self._recent:
            return _enclosed(buf, max(before, q - MAX_TAG, 0), q, n, final)
        shift = len(self._recent)
        joined = self._recent + bytes(buf[:n])
        return _enclosed(joined, max(before + shift, q + shift - MAX_TAG, 0), q + shift, n + shift, final)

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
        while pattern is not None:
            if closer is not None:
                m = closer.search(buf, i, n)
                if m is None:
                    i = n if final else max(i, n - _LOOKBEHIND)
                    break
                raw = self._raw_name
                if raw is not None:  # the end of a raw-text element that a selector place follows
                    q = m.start()
                    tag = _TAG_REST.match(buf, m.end(), n)
                    if tag is None and not final and n - q < MAX_TAG:
                        i = q  # the end tag is not complete yet
                        break
                    e = tag.end() if tag is not None and tag.end() - q <= MAX_TAG else m.end()
                    self._raw_name = None
                    self._tag_end(raw, q + base, e + base)
                    pattern = self._fwd
                i = m.end()
                safe = i if closer is _COMMENT_END else m.start()
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
                            inside = _enclosed(buf, max(safe, q - MAX_TAG, 0), q, n, final)
                            if inside < 0:
                                i = q  # what may hold it is not complete yet
                                break
                        tag_at, tag_end = q, tag.end()
                        if not inside:
                            code = UNCHANGED
                            for matcher in self._active:
                                if matcher.every_tag or name in matcher.ends:
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
                i = resume
                safe = q
                raw_closer = _CLOSERS.get(name)
                if raw_closer is not None:
                    k = raw_closer.search(buf, i, n)
                    if k is None:
                        closer = raw_closer
                        i = n if final else max(i, n - _LOOKBEHIND)
                        break
                    i = k.end()
                    safe = k.start()
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
                    inside = _enclosed(buf, max(safe, q - MAX_TAG, 0), q, n, final)
                    if inside < 0:
                        i = q  # what may hold it is not complete yet
                        break
                tag_at, tag_end = q, e
                if not inside:
                    floor = max(floor, e)
                    reported = True
                    code = UNCHANGED
                    closed = buf[e - 2] == 0x2F
                    for matcher in self._active:
                        if matcher.every_tag or matcher.needles or name in matcher.starts:
                            code |= matcher.start(name, q + base, e + base, buf, name_end, e, closed)
                    if code:
                        if code & DONE:
                            self._matched(code)
                        else:
                            self._set_pattern()
                        pattern = self._fwd
            if body:  # (its own attributes are skipped, as before selectors)
                self._body_found = True
                self._head_open = False
                self._found(_BODY_START, e + base, e + base)
                pattern = self._fwd
                i = safe = e
                continue
            i = resume
            if not inside:  # (inside another tag, the scan is still in that one)
                safe = q
            raw_closer = _CLOSERS.get(name)
            if raw_closer is not None:  # raw text: skip to its end tag
                if reported and self._active and (name in self._sel_ends or self._sel_every):
                    self._raw_name = name
                    closer = raw_closer
                    continue
                k = raw_closer.search(buf, i, n)
                if k is None:
                    closer = raw_closer
                    i = n if final else max(i, n - _LOOKBEHIND)
                    break
                i = k.end()
                safe = k.start()
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
        if self._active and not final:
            # A tag (or a needle's tag) found from i on is checked against the nearest `<` that
            # opens a construct before it, and that one against the one before it: keep both.
            last = _construct_before(buf, max(safe, i - MAX_TAG, 0), i, n)
            if last < i:
                keep = min(last, _construct_before(buf, max(safe, last - MAX_TAG, 0), last, n))
        self._keep = keep + base
        self._closer = closer
        if self._open:
            self._settle_far()

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
        code = UNCHANGED
        for matcher in self._active:
            if matcher.every_tag or matcher.needles or name in matcher.starts:
                code |= matcher.start(name, q + base, e + base, buf, name_end, e, closed)
        if code:
            self._matched(code)

    def _tag_end(self, name: bytes, pos: int, end: int) -> None:
        code = UNCHANGED
        for matcher in self._active:
            if matcher.every_tag or name in matcher.ends:
                code |= matcher.end(name, pos, end)
        if code:
            self._matched(code)

    def _matched(self, code: int) -> None:
        """Selector matchers changed: record the places found, and rebuild the scanner's regex."""
        if code & DONE:
            found = False
            for matcher in self._active:
                if matcher.done:
                    found = True
                    self._found(matcher, matcher.result, matcher.result)
            if not found:
                self._refresh()
        else:
            self._set_pattern()

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


# What a `<` opens, as `_construct` tells it.
_START: Final = 0  # a start tag
_END_TAG: Final = 1
_OTHER: Final = 2  # a bogus comment (`<!DOCTYPE ...>`, `<?xml ...>`) or `</>`
_TEXT: Final = 3  # nothing: the `<` is text, or a tag never completed
_WAIT: Final = 4  # not known before more of the page arrives


def _lower_bytes(data: bytes | bytearray) -> bytes:
    return bytes(data).lower()


def _is_letter(byte: int) -> bool:
    return 0x61 <= (byte | 0x20) <= 0x7A


def _construct(buf: bytes | bytearray, q: int, n: int, final: bool) -> tuple[int, int, int]:
    """What the `<` at q opens: (kind, end of the tag name, end of the construct)."""
    unknown = (_TEXT, 0, 0) if final or n - q >= MAX_TAG else (_WAIT, 0, 0)
    if q + 2 >= n:
        return unknown
    byte = buf[q + 1]
    if _is_letter(byte):
        kind, name_at = _START, q + 1
    elif byte == 0x2F and _is_letter(buf[q + 2]):
        kind, name_at = _END_TAG, q + 2
    elif byte == 0x2F and buf[q + 2] == 0x3E:
        return _OTHER, 0, q + 3
    elif byte in (0x21, 0x2F, 0x3F):  # `<!`, `</`, `<?`: a bogus comment, up to the first `>`
        close = buf.find(b">", q + 2, n)
        if close < 0 or close - q >= MAX_TAG:
            return unknown if close < 0 else (_TEXT, 0, 0)
        return _OTHER, 0, close + 1
    else:
        return _TEXT, 0, 0
    name_end = _NAME_END.match(buf, name_at, n).end()  # type: ignore[union-attr]
    tag = _TAG_REST.match(buf, name_end, n) if name_end < n else None
    if tag is None:
        return unknown
    if tag.end() - q > MAX_TAG:
        return _TEXT, 0, 0
    return kind, name_end, tag.end()


def _construct_before(buf: bytes | bytearray, lo: int, q: int, n: int, final: bool = False) -> int:
    """Where the nearest `<` before q in buf[lo:q] that opens a construct (not text) is; q if none."""
    p = buf.rfind(b"<", lo, q)
    while p >= 0:
        if _construct(buf, p, n, final)[0] != _TEXT:
            return p
        p = buf.rfind(b"<", lo, p)
    return q


def _enclosed(buf: bytes | bytearray, lo: int, q: int, n: int, final: bool) -> int:
    """1 if the tag at q lies inside a tag (or bogus comment) that starts in buf[lo:q], else 0; -1: not known yet.

    One level only: a tag inside the attribute value of a tag itself inside one is not seen.
    """
    p = buf.rfind(b"<", lo, q)
    if p >= 0:  # the usual case, in one regex: a whole tag or bogus comment
        whole = _CONSTRUCT.match(buf, p, n)
        if whole is not None and whole.end() - p <= MAX_TAG:
            return 1 if whole.end() > q else 0
    while p >= 0:
        kind, _, e = _construct(buf, p, n, final)
        if kind == _WAIT:
            return -1
        if kind != _TEXT:
            return 1 if e > q else 0
        p = buf.rfind(b"<", lo, p)
    return 0


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
