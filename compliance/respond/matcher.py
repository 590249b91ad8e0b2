"""The streaming matcher behind selector places.

`SelectorMatcher` follows one selector place through a page as the forward
scanner of `compliance.respond.html` reports tags to it, in document order. It
keeps a stack of open elements, but only of the elements it needs: those of the type names the
compounds that may match next name (all six headings for a heading; `table`
for a table part), the elements on its stack (for their end tags, and nested
ones of the same name), and, while an element whose end tag HTML lets authors
omit is open, the tags that end it. It tells the scanner which start and end
tags it wants (`starts`, `ends`), whether it needs every tag (`every_tag`:
while the parent of a child combinator is open, so that "child" means child, and
while an `li`, `dd`, `dt`, heading or `head` is open, whose end depends on what
is open right inside it), and, for compounds without a type (`.lead`, `#main`),
needles: regexes for bytes a matching start tag must contain (the longest id,
class or attribute value the compound names, else an attribute name), which the
scanner finds cheaply before reading the tag around them.

Matching:

- Tag names and attribute names compare in any ASCII case; ids, classes and
  attribute values exactly, as bytes (a selector's non-ASCII text as UTF-8). A
  class matches one of the whitespace-separated tokens of `class`. The first of
  two attributes with the same name counts. Character references in attribute
  values are not decoded, and HTML's case-insensitive values (`[type=TEXT]`)
  compare exactly.
- Only the first element in document order that matches counts (an element
  inside it that matches too does not). A matcher for `match: all` (`every`)
  goes on after each element it matched, at most `MAX_MATCHES` per page: it
  keeps each place in `hits` and says `HIT`; an element inside one it follows
  to its end (`after`, `append`) does not count.
- `prepend` and `append` never match `script`, `style`, `textarea`, `title`
  and the other raw-text elements (a notice would be text there), nor `svg` and
  `math` (it would be an SVG or MathML element); no element inside SVG or MathML
  is reported to a matcher (`compliance.respond.html.foreign`).
- A matcher for `action: remove`/`replace` (`whole`) follows the element as for
  `after` and keeps where its start tag begins (`begin`); it never matches `html`,
  `head` or `body`.

How elements end (tree construction, simplified) is told in `compliance.respond.elements`.

Knowingly not handled: the adoption agency (`<b><p>x</b>` ends the `p` here
at `</b>`); scope boundaries for end tags (`</div>` inside a table cell closes a
`div` outside the table); table foster parenting (a `<p>` right inside a
`<table>` is matched where it is written, though HTML moves it before the
table); elements whose start tag is implied (`html`, `head`, `body`, `tbody`,
`tr` without their tags are not seen); `<template>` contents (matched as if not
inert); foreign content beyond `/>` (an HTML element name inside `<svg>`); an
element that ends where an ancestor the matcher does not follow ends, when HTML
does not let authors omit its end tag (`<section><div>x</section>`: the `div`
then ends at `</body>`), and an unmatched end tag of a possible parent that
closes nothing in HTML (`<p>x</table>` with no table open ends the `p` here).
A compound without a type matches only where its needle appears literally in
the tag.
"""

from __future__ import annotations

from typing import Final

from compliance.respond import elements
from compliance.respond.attributes import parse_attributes
from compliance.respond.elements import (
    _BODY_ENDS,
    _CLOSING_STARTS,
    _EVERY,
    _HEAD,
    _TABLE,
    _TABLE_CONTEXT,
    HEADINGS,
    NO_NOTICE_INSIDE,
    PHRASING,
    PHRASING_CONTAINERS,
    VOID_NAMES,
    _closed_by_start,
    _contribution,
    _Entry,
    _foreign,
)
from compliance.rules.model import MAX_MATCHES
from compliance.rules.selectors import Selector, parse_selector

__all__ = [
    "parse_attributes",
    "AFTER",
    "APPEND",
    "BEFORE",
    "CHANGED",
    "DONE",
    "HIT",
    "MAX_DEPTH",
    "MAX_MATCHES",
    "PREPEND",
    "UNCHANGED",
    "SelectorMatcher",
]

# Bound by assignment, not imported by name: CPython 3.11 compiles a method call on a name that an
# import binds (`_CONTRIBUTION.get(...)`) to an attribute load that builds a bound method on every call.
_CONTRIBUTION: Final = elements._CONTRIBUTION
_OMISSIBLE: Final = elements._OMISSIBLE

#: The deepest stack a matcher keeps; past it, the selector is given up for the page.
MAX_DEPTH: Final = 256

BEFORE: Final = 0
AFTER: Final = 1
PREPEND: Final = 2
APPEND: Final = 3
_KINDS: Final = {"before": BEFORE, "after": AFTER, "prepend": PREPEND, "append": APPEND}
_NEVER_WHOLE: Final = frozenset({b"html", b"head", b"body"})

#: What `SelectorMatcher.start` and `end` return: nothing changed, what it wants changed, it wants nothing
#: more (the place is known, or it gave up).
UNCHANGED: Final = 0
CHANGED: Final = 1
DONE: Final = 2
#: With CHANGED or DONE: a matcher for `match: all` found more places (in `hits`).
HIT: Final = 4

# What a matcher wants: start tags, end tags, needles, every tag.
_Wanted = tuple[frozenset[bytes], frozenset[bytes], tuple[bytes, ...], bool]


_UNIONS: dict[tuple[frozenset[bytes], frozenset[bytes]], frozenset[bytes]] = {}


def interned_union(below: frozenset[bytes], more: frozenset[bytes]) -> frozenset[bytes]:
    """below | more, the same object each time (dictionary keys downstream; scanner regexes are cached by them)."""
    found = _UNIONS.get((below, more))
    if found is None:
        if len(_UNIONS) >= 1024:
            _UNIONS.clear()
        found = _UNIONS[(below, more)] = below | more
    return found


class _Program:
    """What matching one selector place needs, worked out once (and shared between pages).

    Compound j is bit j of a mask: `typed` maps a tag name to the compounds of that type,
    `untyped` and `tested` hold the compounds without a type and those with more tests than
    the type, `descendant` and `child` the compounds followed by that combinator.
    """

    __slots__ = (
        "kind",
        "compounds",
        "subject",
        "typed",
        "untyped",
        "tested",
        "descendant",
        "child",
        "initial",
        "_open",
        "_merged",
    )

    def __init__(self, selector: Selector, kind: int) -> None:
        self.kind = kind
        self.compounds = selector.compounds
        self.subject = 1 << (len(selector.compounds) - 1)
        self.typed: dict[bytes, int] = {}
        self.untyped = self.tested = self.descendant = self.child = 0
        for j, compound in enumerate(selector.compounds):
            if compound.tag is None:
                self.untyped |= 1 << j
            else:
                self.typed[compound.tag] = self.typed.get(compound.tag, 0) | 1 << j
            if compound.tests_attributes:
                self.tested |= 1 << j
        for j, child in enumerate(selector.child):
            if child:
                self.child |= 1 << j
            else:
                self.descendant |= 1 << j
        self._open: dict[int, _Wanted] = {}
        self._merged: dict[tuple[frozenset[bytes], frozenset[bytes], int], _Wanted] = {}
        self.initial = self.open(0)

    def open(self, inherited: int) -> _Wanted:
        """What the compounds that may match next need: start tags, end tags, needles, every tag."""
        found = self._open.get(inherited)
        if found is None:
            types: set[bytes] = set()
            needles: set[bytes] = set()
            every = bool(inherited & self.child)
            for j, compound in enumerate(self.compounds):
                if j and not inherited & (1 << (j - 1)):
                    continue
                if compound.tag is not None:
                    types.add(compound.tag)
                else:
                    needles.add(compound.needle())
            if types & _TABLE_CONTEXT or needles:
                types.add(b"table")  # table parts count only inside a table
            if types & HEADINGS:
                types |= HEADINGS  # an end tag of any level closes a heading
            ends = frozenset({b"p"}) if b"p" in types else frozenset()  # a `</p>` with no `p` open makes one
            found = self._open[inherited] = (frozenset(types), ends, tuple(sorted(needles)), every)
        return found

    def wanted(self, starts: frozenset[bytes], ends: frozenset[bytes], inherited: int) -> _Wanted:
        """`open(inherited)` with the tags that the elements open make the matcher follow added."""
        key = (starts, ends, inherited)
        found = self._merged.get(key)
        if found is None:
            types, more_ends, needles, every = self.open(inherited)
            if len(self._merged) >= 256:
                self._merged.clear()
            found = self._merged[key] = (
                starts if types <= starts else starts | types,
                ends if more_ends <= ends else ends | more_ends,
                needles,
                every,
            )
        return found


_PROGRAMS: dict[tuple[str, str], _Program | None] = {}


def _program(kind: str, text: str) -> _Program | None:
    key = (kind, text)
    try:
        return _PROGRAMS[key]
    except KeyError:
        pass
    selector = parse_selector(text)
    program = None if selector is None or kind not in _KINDS else _Program(selector, _KINDS[kind])
    if len(_PROGRAMS) >= 1024:
        _PROGRAMS.clear()
    _PROGRAMS[key] = program
    return program


class SelectorMatcher:
    """Finds the place of one selector place (`before`, `after`, `prepend`, `append`) in a stream of tags.

    The scanner calls `start` and `end` for the tags it reports, in document
    order, and `finish` at the end of the document; each returns `UNCHANGED`,
    `CHANGED` (what the matcher wants changed: `starts`, `ends`, `every_tag`,
    `needles`) or `DONE`: the matcher wants nothing more, because the place is
    known (`done`; `result` holds it as a position) or because it gave up
    (`dead`: a stack deeper than `MAX_DEPTH`; the selector then does not match
    on this page).
    """

    __slots__ = (
        "program",
        "stack",
        "subject",
        "done",
        "dead",
        "result",
        "starts",
        "ends",
        "every_tag",
        "needles",
        "name",
        "every",
        "hits",
        "count",
        "whole",
        "begin",
    )

    def __init__(self, kind: str, selector: str) -> None:
        program = _program(kind, selector)
        if program is None:
            raise ValueError(f"not a selector place: {kind}: {selector}")
        self._start(program)

    @classmethod
    def for_place(cls, kind: str, selector: str, every: bool = False, whole: bool = False) -> SelectorMatcher | None:
        """A matcher for `kind: selector`, or None where that is not a selector place of the subset.

        `every`: each element that matches counts (`match: all`), not only the first. `whole`: the
        matched element itself is wanted (`action: remove`/`replace`), whatever `kind`: it is
        followed to its end as for `after`, and `begin` holds where its start tag begins; `html`,
        `head` and `body` never match.
        """
        if whole:
            kind = "after"
        program = _PROGRAMS.get((kind, selector)) or _program(kind, selector)
        if program is None:
            return None
        matcher = cls.__new__(cls)
        matcher.program = program
        matcher.stack = []
        matcher.subject = None
        matcher.done = matcher.dead = False
        matcher.result = -1
        matcher.starts, matcher.ends, matcher.needles, matcher.every_tag = program.initial
        matcher.every = every
        matcher.hits = []
        matcher.count = 0
        matcher.whole = whole
        matcher.begin = -1
        return matcher

    def _start(self, program: _Program) -> None:
        self.program = program
        self.stack: list[_Entry] = []
        self.subject: _Entry | None = None  # the matched element, for `after` and `append`, until it ends
        self.done = False
        self.dead = False
        self.result = -1
        self.name = b""  # the matched element's name
        self.starts, self.ends, self.needles, self.every_tag = program.initial
        self.every = False
        # `every`: places found and not yet taken, whether phrasing, and where the element began
        self.hits: list[tuple[int, bool, int]] = []
        self.count = 0
        self.whole = False
        self.begin = -1  # where the matched element's start tag begins

    # --- events ---------------------------------------------------------------------------------

    def start(
        self, name: bytes, pos: int, end: int, buf: bytes | bytearray, name_end: int, tag_end: int, closed: bool
    ) -> int:
        """A start tag `name` (lower case) from `pos` to `end`; buf[name_end:tag_end] is the rest of it."""
        stack = self.stack
        code = UNCHANGED
        top = stack[-1] if stack else None
        if top is not None and top[5] and (top[5] & _HEAD or name in _CLOSING_STARTS):
            cut = _closed_by_start(stack, name)
            if cut >= 0:
                if self._pop(cut, pos, pos, False):
                    return DONE
                code = CHANGED
                top = stack[-1] if stack else None
        if name in _TABLE_CONTEXT and (top is None or not top[5] & _TABLE):
            return code  # a table part outside a table: HTML ignores the tag
        program = self.program
        states = 0
        if self.subject is None:
            allowed = 1 if top is None else 1 | (top[2] & program.descendant | top[1] & program.child) << 1
            states = allowed & (program.typed.get(name, 0) | program.untyped)
            tested = states & program.tested
            if tested:
                attributes = parse_attributes(buf, name_end, tag_end)
                compounds = program.compounds
                while tested:
                    low = tested & -tested
                    if not compounds[low.bit_length() - 1].matches(attributes):
                        states ^= low
                    tested ^= low
            if states & program.subject and self.whole and name in _NEVER_WHOLE:
                states ^= program.subject  # removing these would break the page
            if states & program.subject:
                self.name = name
                self.begin = pos
                kind = program.kind
                if kind == BEFORE:
                    code |= self._place(pos)
                    if code & DONE:
                        return DONE
                elif kind != AFTER and name in NO_NOTICE_INSIDE:
                    states ^= program.subject  # never inside raw text or foreign content
                elif kind == PREPEND or name in VOID_NAMES or (closed and _foreign(name)):
                    code |= self._place(end)
                    if code & DONE:
                        return DONE
                else:  # `after` or `append`: follow it to its end
                    if not self._push(name, states):
                        return DONE
                    entry = self.subject = stack[-1]
                    self.starts = entry[3]
                    self.ends = interned_union(entry[4], _BODY_ENDS)
                    self.every_tag = bool(entry[5] & _EVERY)
                    self.needles = ()
                    return CHANGED
        if not (states or self.every_tag or name in self.starts):
            return code
        if name in VOID_NAMES or (closed and _foreign(name)):
            return code
        # push it (as `_push` and `_update` do, inlined: this is the common event)
        starts, ends, flags = _CONTRIBUTION.get(name) or _contribution(name)
        if top is None:
            entry = (name, states, states, starts, ends, flags)
        elif len(stack) >= MAX_DEPTH:
            self.dead = True
            self._clear()
            return DONE
        else:
            entry = (
                name,
                states,
                top[2] | states,
                top[3] if starts <= top[3] else interned_union(top[3], starts),
                top[4] if ends <= top[4] else interned_union(top[4], ends),
                top[5] | flags,
            )
        stack.append(entry)
        if self.subject is not None:
            self.starts = entry[3]
            self.ends = interned_union(entry[4], _BODY_ENDS)
            self.every_tag = bool(entry[5] & _EVERY)
        else:
            self.starts, self.ends, self.needles, every = program.wanted(entry[3], entry[4], entry[2])
            self.every_tag = every or bool(entry[5] & _EVERY)
        return CHANGED

    def end(self, name: bytes, pos: int, end: int) -> int:
        """An end tag `name` (lower case) from `pos` to `end`."""
        stack = self.stack
        index = len(stack) - 1
        subject = self.subject
        if subject is not None and index >= 0 and stack[index] is subject and name == subject[0]:
            return self._place(end if self.program.kind == AFTER else pos, index)  # the usual end
        if name in HEADINGS:
            while index >= 0 and stack[index][0] not in HEADINGS:
                index -= 1
        else:
            while index >= 0 and stack[index][0] != name:
                index -= 1
        if index >= 0:
            return DONE if self._pop(index, pos, end, True) else CHANGED
        if name in _BODY_ENDS:
            return self._place(pos, 0) if self.subject is not None else UNCHANGED
        if name == b"p" and self.subject is None:  # no `p` open: HTML makes an empty one here
            program = self.program
            top = stack[-1] if stack else None
            allowed = 1 if top is None else 1 | (top[2] & program.descendant | top[1] & program.child) << 1
            states = allowed & program.typed.get(b"p", 0) & ~program.tested
            if states & program.subject and program.kind in (BEFORE, AFTER):
                self.name = b"p"
                self.begin = pos
                return self._place(pos if program.kind == BEFORE else end)
            return UNCHANGED
        # the end of a parent the matcher does not follow: it ends the outermost element it may hold
        for index, entry in enumerate(stack):
            omissible = _OMISSIBLE.get(entry[0])
            if omissible is not None and name in omissible[1]:
                return DONE if self._pop(index, pos, pos, False) else CHANGED
        return UNCHANGED

    @property
    def phrasing(self) -> bool:
        """Whether the place found is inside phrasing content (a paragraph, a heading, an inline element).

        `prepend`/`append`: the matched element holds phrasing content only; `before`/`after`:
        the matched element is itself phrasing content, so what holds it most likely is.
        """
        if self.program.kind in (BEFORE, AFTER):
            return self.name in PHRASING
        return self.name in PHRASING_CONTAINERS

    def finish(self, end: int) -> int:
        """The end of the document: an element still open ends here."""
        if self.subject is not None and not self.done:
            return self._place(end)
        return UNCHANGED

    # --- internals ------------------------------------------------------------------------------

    def _push(self, name: bytes, states: int) -> bool:
        stack = self.stack
        starts, ends, flags = _contribution(name)
        if stack:
            below = stack[-1]
            if len(stack) >= MAX_DEPTH:
                self.dead = True
                self._clear()
                return False
            below_starts, below_ends = below[3], below[4]
            stack.append(
                (
                    name,
                    states,
                    below[2] | states,
                    below_starts if starts <= below_starts else interned_union(below_starts, starts),
                    below_ends if ends <= below_ends else interned_union(below_ends, ends),
                    below[5] | flags,
                )
            )
        else:
            stack.append((name, states, states, starts, ends, flags))
        return True

    def _pop(self, index: int, pos: int, end: int, own: bool) -> bool:
        """Close stack[index:]: stack[index] by its own end tag from `pos` to `end` if `own`, else all at `pos`.

        True if that ends the matched element (the place is known).
        """
        stack = self.stack
        subject = self.subject
        if subject is not None:
            for at in range(index, len(stack)):
                if stack[at] is subject:
                    if self._place(end if own and at == index and self.program.kind == AFTER else pos) & DONE:
                        return True
                    self.subject = None
                    break
        del stack[index:]
        self._update()
        return False

    def _place(self, pos: int, index: int = -1) -> int:
        """The place is at `pos`: DONE, or for `every` one more hit (DONE at `MAX_MATCHES`); stack[index:] ends."""
        if not self.every:
            return self._resolve(pos)
        self.hits.append((pos, self.phrasing, self.begin))
        self.count += 1
        if self.count >= MAX_MATCHES:
            return self._resolve(-1)
        if index >= 0:
            self.subject = None
            del self.stack[index:]
            self._update()
        return CHANGED | HIT

    def give_up(self) -> None:
        """No place of this selector is on the page (`dead`), though it may have found one."""
        self.dead = True
        self.done = False
        self._clear()

    def _resolve(self, pos: int) -> int:
        self.result = pos
        self.done = True
        self._clear()
        return DONE

    def _clear(self) -> None:
        self.stack = []
        self.subject = None
        self.starts = self.ends = frozenset()
        self.every_tag = False
        self.needles = ()

    def _update(self) -> None:
        """Work out what the matcher wants now."""
        stack = self.stack
        if not stack:
            self.starts, self.ends, self.needles, self.every_tag = self.program.initial
            return
        _, _, inherited, starts, ends, flags = stack[-1]
        if self.subject is not None:
            self.starts = starts
            self.ends = interned_union(ends, _BODY_ENDS)
            self.every_tag = bool(flags & _EVERY)
            self.needles = ()
            return
        self.starts, self.ends, self.needles, every = self.program.wanted(starts, ends, inherited)
        self.every_tag = every or bool(flags & _EVERY)
