"""Foreign content (SVG and MathML) as the forward scanner follows it for selector places.

Inside `<svg>` and `<math>` the HTML parser builds SVG or MathML elements: a notice's
`<aside>` there would be a foreign element, and the `<p>` inside it would break out of the
foreign content and move (the rest of the page's DOM changes). So no element inside foreign
content is a selector place: its tags are not reported to the selector matchers, while the
`<svg>` or `<math>` element itself is (a notice goes before or after it; never inside it, see
`compliance.respond.elements`).

Followed as the tree builder does, simplified: `/>` closes any foreign element; an end tag
closes the innermost open foreign element of its name and those inside it; a start tag of the
HTML "breakout" list (`p`, `div`, `b`, `table`, `ul`, ..., `font` with `color`, `face` or
`size`) outside an integration point ends the foreign content there. Inside an integration
point (SVG `foreignObject`, `desc`, `title`; MathML `mi`, `mo`, `mn`, `ms`, `mtext`, and
`annotation-xml` with an HTML `encoding`) the content is HTML, but it is not searched either:
only the integration point's own end tag is followed. Raw-text elements inside foreign content
are skipped to their end tag by the scanner, as in HTML (`<svg><style>`); a CDATA section is
not read as one (a tag-like text inside it is read as a tag).
"""

from __future__ import annotations

from typing import Final

from compliance.respond.elements import RAW_TEXT_NAMES

__all__ = ["ROOTS", "Foreign"]

#: The elements that open foreign content.
ROOTS: Final = frozenset({b"svg", b"math"})
#: Start tags that end foreign content where they appear outside an integration point.
_BREAKOUT: Final = frozenset(
    b"b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing"
    b" menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var".split()
)
_FONT_BREAKOUT: Final = (b"color", b"face", b"size")
_INTEGRATION: Final = frozenset(b"foreignobject desc title mi mo mn ms mtext".split())
_HTML_ENCODINGS: Final = (b"text/html", b"application/xhtml+xml")

#: What `Foreign.start` says of a start tag.
HTML: Final = 0  # an HTML element (or a foreign root): report it
INSIDE: Final = 1  # inside foreign content: not a place
BREAKOUT: Final = 2  # it ends the foreign content (the root ends right before it), and is HTML


class Foreign:
    """The foreign elements open at the scanner's position (empty: HTML content)."""

    __slots__ = ("open", "point", "depth")

    def __init__(self) -> None:
        self.open: list[bytes] = []  # the foreign elements open, the root first
        self.point = b""  # the integration point open (its name), if any
        self.depth = 0  # elements of the integration point's name open inside it, and it

    def start(self, name: bytes, closed: bool, attributes: dict[bytes, bytes] | None) -> int:
        """A start tag `name` (lower case), self-closed or not; `attributes` only for `font` and `annotation-xml`."""
        if self.point:
            if name == self.point and not closed:
                self.depth += 1
            return INSIDE
        if not self.open:
            if name in ROOTS and not closed:
                self.open.append(name)
            return HTML
        if name in _BREAKOUT or (
            name == b"font" and attributes is not None and any(a in attributes for a in _FONT_BREAKOUT)
        ):
            return BREAKOUT
        if closed or name in RAW_TEXT_NAMES:  # (raw text is skipped to its end tag by the scanner)
            return INSIDE
        self.open.append(name)
        if name in _INTEGRATION or (
            name == b"annotation-xml"
            and attributes is not None
            and attributes.get(b"encoding", b"").lower() in _HTML_ENCODINGS
        ):
            self.point, self.depth = name, 1
        return INSIDE

    def end(self, name: bytes) -> bool:
        """An end tag `name` (lower case): True if inside foreign content (not reported); False: it ends the root."""
        if self.point:
            if name == self.point:
                self.depth -= 1
                if self.depth == 0:
                    self.point = b""
                    self._pop(name)
            return True
        if name not in self.open:
            return True  # closes nothing here
        self._pop(name)
        return bool(self.open)

    def breakout(self) -> bytes:
        """Foreign content ends (at a breakout tag): the root's name."""
        root = self.open[0]
        self.open.clear()
        self.point = b""
        self.depth = 0
        return root

    def _pop(self, name: bytes) -> None:
        opened = self.open
        at = len(opened) - 1 - opened[::-1].index(name)
        del opened[at:]
