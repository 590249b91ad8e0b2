"""CSS selectors of the rule format, and the streaming matcher behind selector places.

`parse_selector` reads the subset of rules-format.md (Placement): a type
(`article`), `#id`, `.class`, `[attr]`, `[attr=value]` (the value quoted or
bare), compounds of these (`div.story-body`, `a[href].x`), the descendant
combinator (`article h1`) and the child combinator (`main > article`). It
accepts exactly what the rule loader's `check_selector` accepts and returns
None for anything else.

`SelectorMatcher` follows one selector place through a page as the forward
scanner of `html.py` reports tags to it, in document order. It keeps a stack of
open elements, but only of the elements it needs: those of the type names the
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
  inside it that matches too does not).
- `prepend` and `append` never match `script`, `style`, `textarea`, `title`
  and the other raw-text elements (a notice would be text there).

How elements end (tree construction, simplified):

- Void elements (`img`, `br`, `meta`, `input`, `hr`, `link`, ...) have no end
  tag and no content: `after`, `prepend` and `append` all go right after the
  start tag. `/>` ends an element only where HTML honours it: on void elements,
  and on names that are neither HTML element names nor custom ones (SVG and
  MathML: `<path/>`); `<div/>` opens a `div`.
- An end tag closes the innermost open element of its name, and every element
  opened inside it; `</h1>` ... `</h6>` close the innermost heading of any level.
- End tags authors may leave out: a `p` ends at a start tag that closes a
  paragraph (`div`, `ul`, `table`, `h1`, another `p`, ... unless a `button`,
  `object` or the like is open in between); an `li` at the next `li` of its
  list; a `dt` or `dd` at the next `dt` or `dd`; a cell at the next cell or
  row, a row at the next row or row group (within their table); an `option` at
  the next `option` or `optgroup`; `rb`, `rt`, `rp`, `rtc` at the next ruby
  part; `head` at the first start tag that cannot be in it; a heading right
  inside a heading at the inner one's start tag. Each of them also ends where
  its parent ends: at an end tag of a name that can hold it (`</ul>` for `li`,
  `</tr>` for `td`, `</dl>` or `</div>` for `dd`, `</div>`, `</section>`,
  `</td>`, ... for `p`) that closes no element opened inside it (the names that
  can nest are followed while it is open, so that the matcher can tell).
- A table part (`td`, `tr`, `tbody`, `caption`, `col`, ...) outside a table is
  no element (HTML ignores the tag). A `</p>` with no `p` open makes an empty
  `p` there, which `before` and `after` can match (`prepend` and `append` cannot:
  it has no start tag).
- Where an element ends without an end tag of its own, `after` and `append` both
  go right before the tag that ended it. In the page that follows, HTML then
  reads the notice as the element's last child, unless the notice's `<aside>`
  itself ends the element (it ends a `p`): after an `li`, `dd`, `td` or `option`
  left open, the notice is the last thing in it, not its next sibling. In the
  same way, a notice `before` an element whose start tag ends the element before
  it is read as part of that one. An element still open at `</body>` or
  `</html>` ends right before that end tag, and one still open at the end of the
  document ends there.

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

import re
from typing import Final

from compliance.rules.selectors import Compound, Selector, parse_selector

__all__ = [
    "CHANGED",
    "DONE",
    "MAX_DEPTH",
    "RAW_TEXT_NAMES",
    "UNCHANGED",
    "VOID_NAMES",
    "Compound",
    "Selector",
    "SelectorMatcher",
    "parse_attributes",
    "parse_selector",
]

_ATTRIBUTES: Final = re.compile(
    rb"""([^\t\n\x0c\r />][^\t\n\x0c\r />=]*)"""
    rb"""(?:[\t\n\x0c\r ]*=[\t\n\x0c\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\x0c\r >]*)))?"""
)


def parse_attributes(buf: bytes | bytearray, start: int, end: int) -> dict[bytes, bytes]:
    """The attributes of a tag whose name ends at `start` and whose `>` is at `end` - 1; names lower case."""
    attributes: dict[bytes, bytes] = {}
    for match in _ATTRIBUTES.finditer(buf, start, end - 1):
        name, double, single, bare = match.groups()
        value = double if double is not None else single if single is not None else bare
        attributes.setdefault(name.lower(), value if value is not None else b"")
    return attributes


# HTML's element categories and the matcher moved to `compliance.respond.elements` and
# `compliance.respond.matcher` (which imports the grammar above). `__all__` above still names
# some of them: they are served from there, the matcher's lazily (an import here would be a cycle).
from typing import TYPE_CHECKING  # noqa: E402

from compliance.respond.elements import RAW_TEXT_NAMES, VOID_NAMES  # noqa: E402

if TYPE_CHECKING:
    from compliance.respond.matcher import CHANGED, DONE, MAX_DEPTH, UNCHANGED, SelectorMatcher

_MOVED_TO_MATCHER: Final = frozenset({"CHANGED", "DONE", "MAX_DEPTH", "UNCHANGED", "SelectorMatcher"})


def __getattr__(name: str) -> object:
    if name in _MOVED_TO_MATCHER:
        from compliance.respond import matcher

        return getattr(matcher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
