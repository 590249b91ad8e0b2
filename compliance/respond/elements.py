"""HTML's element categories, as the selector matcher follows elements (see matcher.py).

Void and raw-text elements, the parser's "special" category and scopes, and for each element
whose end tag authors may leave out, what ends it; `_contribution` is what an open element of a
name makes a matcher follow.

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
"""

from __future__ import annotations

from typing import Final

__all__ = ["HEADINGS", "NO_NOTICE_INSIDE", "RAW_TEXT_NAMES", "VOID_NAMES", "phrasing_before"]


def _names(text: str) -> frozenset[bytes]:
    return frozenset(name.encode() for name in text.split())


VOID_NAMES: Final = _names(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param source track wbr"
)
#: Elements whose content is raw text, as the scanner skips it (`noscript` as with scripting on).
RAW_TEXT_NAMES: Final = _names("script style textarea title xmp iframe noembed noframes noscript template")
#: Elements no notice goes inside (`prepend`, `append`): raw text, and SVG and MathML (foreign content).
NO_NOTICE_INSIDE: Final = RAW_TEXT_NAMES | _names("plaintext svg math")
HEADINGS: Final = _names("h1 h2 h3 h4 h5 h6")
#: Phrasing content (HTML's inline elements): a notice right before or after one is taken to be
#: inside a paragraph or a heading, and takes the `<span>` form.
PHRASING: Final = _names(
    "a abbr acronym audio b bdi bdo big br button canvas cite code data datalist del dfn em embed font i iframe"
    " img input ins kbd label map mark math meter nobr object output picture progress q ruby s samp select"
    " small span strike strong sub sup svg textarea time tt u var video wbr"
)
#: Elements whose content is phrasing only: a notice first or last inside one takes the `<span>` form.
PHRASING_CONTAINERS: Final = (
    _names("p h1 h2 h3 h4 h5 h6 pre dt legend summary caption figcaption rt rp") | PHRASING
) - VOID_NAMES
#: SVG and MathML element names (lower case, as the scanner reads them), where `/>` closes an element.
_FOREIGN_NAMES: Final = _names(
    "svg math a altglyph altglyphdef altglyphitem animate animatecolor animatemotion animatetransform circle"
    " clippath cursor defs desc ellipse feblend fecolormatrix fecomponenttransfer fecomposite feconvolvematrix"
    " fediffuselighting fedisplacementmap fedistantlight fedropshadow feflood fefunca fefuncb fefuncg fefuncr"
    " fegaussianblur feimage femerge femergenode femorphology feoffset fepointlight fespecularlighting"
    " fespotlight fetile feturbulence filter font-face font-face-format font-face-name font-face-src"
    " font-face-uri foreignobject g glyph glyphref hkern image line lineargradient marker mask metadata"
    " missing-glyph mpath path pattern polygon polyline radialgradient rect set stop switch symbol text"
    " textpath tref tspan use view vkern"
    " annotation annotation-xml maction maligngroup malignmark menclose merror mfenced mfrac mglyph mi"
    " mlabeledtr mlongdiv mmultiscripts mn mo mover mpadded mphantom mprescripts mroot mrow ms mscarries"
    " mscarry msgroup msline mspace msqrt msrow mstack mstyle msub msubsup msup mtable mtd mtext mtr munder"
    " munderover none semantics"
) - frozenset({b"a", b"image", b"font-face"})
#: The "special" category of the HTML parser (where the search for an `li` or `dd` to close stops).
_SPECIAL: Final = _names(
    "address applet area article aside base basefont bgsound blockquote body br button caption center col"
    " colgroup dd details dir div dl dt embed fieldset figcaption figure footer form frame frameset h1 h2 h3 h4"
    " h5 h6 head header hgroup hr html iframe img input keygen li link listing main marquee menu meta nav noembed"
    " noframes noscript object ol p param plaintext pre script search section select source style summary table"
    " tbody td template textarea tfoot th thead title tr track ul wbr xmp"
)
#: Start tags that close an open `p`.
_CLOSES_P: Final = _names(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer form"
    " h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu nav ol p plaintext pre search section summary table"
    " ul li dd dt xmp"
)
#: Where the search for a `p` to close stops (button scope).
_BUTTON_SCOPE: Final = _names("applet button caption html marquee object table td template th")
_TABLE_SCOPE: Final = _names("html table template")
_HEAD_CONTENT: Final = _names("base basefont bgsound link meta noframes noscript script style template title head")

# For each element whose end tag may be left out: the start tags that may end it, the end tags of
# its possible parents (which end it where they close no element opened inside it), and the
# names followed while it is open so that such elements opened inside it are known.
_BLOCK_ENDS: Final = _names(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer form"
    " header hgroup listing main menu nav ol pre search section summary ul li dd dt td th tr tbody thead tfoot"
    " table caption h1 h2 h3 h4 h5 h6"
)
_TABLE_PARTS: Final = _names("table tbody thead tfoot tr td th caption colgroup")
_OMISSIBLE: Final[dict[bytes, tuple[frozenset[bytes], frozenset[bytes], frozenset[bytes]]]] = {
    b"p": (_CLOSES_P, _BLOCK_ENDS, _names("button object applet marquee template")),
    b"li": (_names("li"), _names("ul ol menu"), _names("ul ol menu")),
    b"dt": (_names("dt dd"), _names("dl div"), _names("dl div")),
    b"dd": (_names("dt dd"), _names("dl div"), _names("dl div")),
    b"td": (_names("td th tr tbody thead tfoot caption colgroup"), _names("tr tbody thead tfoot table"), _TABLE_PARTS),
    b"th": (_names("td th tr tbody thead tfoot caption colgroup"), _names("tr tbody thead tfoot table"), _TABLE_PARTS),
    b"tr": (_names("tr tbody thead tfoot caption colgroup"), _names("tbody thead tfoot table"), _names("table")),
    b"tbody": (_names("tbody thead tfoot caption colgroup"), _names("table"), _names("table")),
    b"thead": (_names("tbody thead tfoot caption colgroup"), _names("table"), _names("table")),
    b"tfoot": (_names("tbody thead tfoot caption colgroup"), _names("table"), _names("table")),
    b"caption": (_names("caption colgroup tbody thead tfoot tr td th"), _names("table"), _names("table")),
    b"colgroup": (_names("caption colgroup tbody thead tfoot tr td th"), _names("table"), frozenset()),
    b"option": (_names("option optgroup"), _names("select datalist optgroup"), frozenset()),
    b"optgroup": (_names("optgroup"), _names("select datalist"), frozenset()),
    b"rb": (_names("rb rt rtc rp"), _names("ruby"), frozenset()),
    b"rt": (_names("rb rt rtc rp"), _names("ruby rtc"), frozenset()),
    b"rp": (_names("rb rt rtc rp"), _names("ruby rtc"), frozenset()),
    b"rtc": (_names("rb rtc"), _names("ruby"), frozenset()),
}
# Where the search for the element a start tag closes stops, by that start tag.
_CLOSE_CELL: Final = _names("td th")
_CLOSE_ROW: Final = _names("td th tr")
_CLOSE_GROUP: Final = _names("td th tr tbody thead tfoot")
_CLOSE_TABLE_PART: Final = _names("td th tr tbody thead tfoot caption colgroup")
_LIST_EXCEPTIONS: Final = _names("address div p")
_LI: Final = _names("li")
_DD_DT: Final = _names("dd dt")
_ROW_GROUPS: Final = _names("tbody thead tfoot")
_RUBY: Final = _names("rb rp rt rtc")
_RUBY_BASES: Final = _names("rb rtc")
_RUBY_TEXT: Final = _names("rb rp rt")
_BODY_ENDS: Final = _names("body html")

# Start tags that may close an open element (the head aside).
_CLOSING_STARTS: Final = _CLOSES_P | _LI | _DD_DT | _CLOSE_TABLE_PART | _names("option optgroup") | _RUBY | HEADINGS
_TABLE_CONTEXT: Final = _names("td th tr tbody thead tfoot caption col colgroup")

# A stack entry: (name, states, inherited states, start tags followed, end tags followed, flags).
# `states` has bit j where the element matches compound j with the compounds before it matched;
# `inherited` ORs the states of the element and every element below it; the followed sets and
# the flags gather what the elements up to it make the matcher follow.
_Entry = tuple[bytes, int, int, frozenset[bytes], frozenset[bytes], int]

# Flags of a stack entry: every tag is followed while it is open (where what ends it depends on
# the element open right inside it: `li`, `dd`, `dt`, headings, `head`); some element on the
# stack may end at a start tag of another name; a `head` is open.
_EVERY: Final = 1
_CLOSABLE: Final = 2
_HEAD: Final = 4
_TABLE: Final = 8
_EVERY_INSIDE: Final = _names("head li dd dt h1 h2 h3 h4 h5 h6")
_CONTRIBUTION: dict[bytes, tuple[frozenset[bytes], frozenset[bytes], int]] = {}


def _contribution(name: bytes) -> tuple[frozenset[bytes], frozenset[bytes], int]:
    """What an open element of this name makes a matcher follow: start tags, end tags, flags."""
    found = _CONTRIBUTION.get(name)
    if found is None:
        starts = {name}
        ends = {name}
        flags = _EVERY if name in _EVERY_INSIDE else 0
        if name == b"head":
            flags |= _CLOSABLE | _HEAD
        elif name == b"table":
            flags |= _TABLE
        omissible = _OMISSIBLE.get(name)
        if omissible is not None:
            closing_starts, parent_ends, nested = omissible
            starts |= closing_starts | nested
            ends |= parent_ends | nested
            flags |= _CLOSABLE
        if name in HEADINGS:
            starts |= HEADINGS
            ends |= HEADINGS
            flags |= _CLOSABLE
        found = (frozenset(starts), frozenset(ends), flags)
        if len(_CONTRIBUTION) >= 4096:
            _CONTRIBUTION.clear()
        _CONTRIBUTION[name] = found
    return found


def _foreign(name: bytes) -> bool:
    """Whether `/>` closes an element of this name: an SVG or MathML element.

    Browsers self-close only in SVG and MathML; an unknown name (`<o:p/>`, `<fb:like/>`,
    `<h/>`) in HTML stays open until its end tag or its parent's.
    """
    return name in _FOREIGN_NAMES


def _closed_by_start(stack: list[_Entry], name: bytes) -> int:
    """The lowest index of a matcher's `stack` that the start tag `name` closes, or -1."""
    top = len(stack) - 1
    cut = -1
    if name == b"li" or name == b"dd" or name == b"dt":
        targets = _LI if name == b"li" else _DD_DT
        for index in range(top, -1, -1):
            found = stack[index][0]
            if found in targets:
                cut = index
                break
            if found in _SPECIAL and found not in _LIST_EXCEPTIONS:
                break
    elif name in _CLOSE_TABLE_PART:
        if name in _CLOSE_CELL:
            closes = _CLOSE_CELL
        elif name == b"tr":
            closes = _CLOSE_ROW
        elif name in _ROW_GROUPS:
            closes = _CLOSE_GROUP
        else:
            closes = _CLOSE_TABLE_PART
        for index in range(top, -1, -1):
            found = stack[index][0]
            if found in closes:
                cut = index
            elif found in _TABLE_SCOPE:
                break
    elif name == b"option" or name == b"optgroup":
        index = top
        if stack[index][0] == b"option":
            cut = index
            index -= 1
        if name == b"optgroup" and index >= 0 and stack[index][0] == b"optgroup":
            cut = index
    elif name in _RUBY:
        closes = _RUBY if name in _RUBY_BASES else _RUBY_TEXT
        index = top
        while index >= 0 and stack[index][0] in closes:
            cut = index
            index -= 1
    if name in _CLOSES_P:
        for index in range(top if cut < 0 else cut - 1, -1, -1):
            found = stack[index][0]
            if found == b"p":
                cut = index
                break
            if found in _BUTTON_SCOPE:
                break
    current = top if cut < 0 else cut - 1
    if name in HEADINGS and current >= 0 and stack[current][0] in HEADINGS:
        cut = current
    if stack[top][5] & _HEAD and name not in _HEAD_CONTENT:
        for index in range(current, -1, -1):
            if stack[index][0] == b"head":
                cut = index
                break
    return cut


_TAG_NAME_START: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_STOP: Final = frozenset(b" \t\n\r\f/>")


def phrasing_before(data: bytes) -> bool:
    """Whether a marker comment at the end of `data` lies inside phrasing content.

    Read from the nearest tag before it: a start tag of a paragraph, a heading or an inline
    element (`<p>`, `<h2>`, `<b>`, `<a href=...>`, `<br>`), or an end tag of an inline element
    (`</a>`), says the marker is in running text, where a notice takes the `<span>` form.
    Comments and a `<` that opens no tag are passed over; no tag at all in `data` says no.
    """
    at = len(data)
    while True:
        at = data.rfind(b"<", 0, at)
        if at < 0:
            return False
        end = at + 1
        closing = data[end : end + 1] == b"/"
        if closing:
            end += 1
        if end >= len(data) or data[end] not in _TAG_NAME_START:
            continue  # `<!--`, `< 3`: no tag
        stop = end
        while stop < len(data) and data[stop] not in _NAME_STOP:
            stop += 1
        name = data[end:stop].lower()
        if closing:
            return name in PHRASING and name not in VOID_NAMES
        return name in PHRASING_CONTAINERS or name in PHRASING
