"""AMP pages: the notices' CSS goes into the page's one `<style amp-custom>`, never in a second `<style>`.

AMP allows exactly one author stylesheet, `<style amp-custom>` in the head; a
second `<style>` makes the page invalid AMP (and search engines drop it from
their AMP caches). `AmpRewriter` holds the start of the page until its head is
read (at most the rewriter's hold-back), adds the notices' CSS at the end of the
content of `<style amp-custom>`, right before its `</style>`, or, where the head
has none, adds one right before `</head>`; then the HTML rewriter places the
notices as on any page, with no `<style>` of its own. A head longer than the
hold-back gets no CSS (a second `<style>` would break the page; the notices are
still shown, unstyled).

Whether a page is AMP is read from its `<html>` start tag (`<html ⚡>` or
`<html amp>`), only on pages whose notices carry CSS: from the first bytes the
rewriter is built with, or, where they end before that tag, from the first
`SNIFF_SIZE` bytes of the page.
"""

from __future__ import annotations

import re
from typing import Any, Final

from compliance.respond.html.anchors import Insertion
from compliance.respond.html.rewriter import HtmlRewriter

__all__ = ["SNIFF_SIZE", "AmpRewriter", "html_start_tag", "is_amp"]

#: How far into a page its `<html>` start tag is looked for.
SNIFF_SIZE: Final = 1024

_ATTRIBUTE: Final = re.compile(rb"""\s([^\s=/>"']+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']*))?""")
_AMP_BYTES: Final = "⚡".encode()
_AMP_NAMES: Final = frozenset({b"amp", _AMP_BYTES})
#: What the head scan stops at: a comment, a raw-text element's start tag, the end of the head, the body.
_TOKEN: Final = re.compile(
    rb"<!--|<(script|style|title|textarea)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>|</head\s*>|<body[\s>/]", re.I
)
_CUSTOM: Final = re.compile(rb"""(?:^|\s)amp-custom(?:[\s=/]|$)""", re.I)


def html_start_tag(head: bytes) -> bytes:
    """The page's `<html ...>` start tag as written, or b"" where not found (cut short where the tag is)."""
    start = head.find(b"<html")
    if start < 0:
        start = head.lower().find(b"<html")
        if start < 0:
            return b""
    end = head.find(b">", start)
    return head[start : end + 1] if end > 0 else head[start:]


def amp_known(head: bytes) -> bool | None:
    """Whether these first bytes of a page say it is AMP; None where they end before its `<html>` tag."""
    tag = html_start_tag(head)
    if tag.endswith(b">"):
        if _AMP_BYTES not in tag and b"amp" not in tag and b"AMP" not in tag:
            return False  # most pages: no attribute could be the mark
        return is_amp(tag)
    return None if len(head) < SNIFF_SIZE else False


def is_amp(html_tag: bytes) -> bool:
    """Whether an `<html ...>` start tag (as written) marks an AMP page: an attribute `⚡` or `amp`."""
    return any(m.group(1).lower() in _AMP_NAMES for m in _ATTRIBUTE.finditer(html_tag, 5))


class AmpRewriter:
    """The notices' CSS merged into an AMP page's head, then an `HtmlRewriter` with no style of its own runs.

    With `amp` None, the page's first bytes did not reach its `<html>` tag: they are held until
    they do (at most `SNIFF_SIZE` bytes); a page that is not AMP then gets the rewriter with
    `style` (the notices' `<style>`), as any page.
    """

    __slots__ = ("inner", "insertions", "style", "css", "limit", "heads", "_buf", "_at", "_merged", "_amp", "styled")

    def __init__(
        self,
        insertions: tuple[Insertion, ...],
        style: bytes,
        css: bytes,
        limit: int,
        amp: bool | None = True,
        heads: tuple[tuple[str, bytes], ...] = (),
    ) -> None:
        self.insertions = insertions
        self.heads = heads  # the notices' head elements (`placement: head`), placed by the rewriter
        self.style = style
        self.css = css  # the CSS text, already encoded for the page
        self.limit = limit
        self._amp = amp
        self.inner = HtmlRewriter(insertions, style if amp is False else b"", limit, heads)
        self._buf = bytearray()
        self._at = 0  # where the head scan goes on
        self._merged = amp is False
        #: Whether the notices' CSS went into the page (False when its head was too long to hold).
        self.styled = False

    @property
    def placed(self) -> Any:
        return self.inner.placed

    @property
    def reason(self) -> str | None:
        return self.inner.reason

    def feed(self, data: bytes, last: bool = False) -> bytes:
        if self._merged:
            return self.inner.feed(data, last)
        self._buf += data
        if self._amp is None:
            self._amp = amp_known(bytes(self._buf[:SNIFF_SIZE]))
            if self._amp is None and last:
                self._amp = False
            if self._amp is None:
                return b""
            if not self._amp:  # (a rewriter has not begun: the one with the style takes its place)
                self.inner = HtmlRewriter(self.insertions, self.style, self.limit, self.heads)
                self._merged = True
                held, self._buf = bytes(self._buf), bytearray()
                return self.inner.feed(held, last)
        if not self._merge() and not last and len(self._buf) <= self.limit:
            return b""
        self._merged = True
        held, self._buf = bytes(self._buf), bytearray()
        return self.inner.feed(held, last)

    def close(self) -> bytes:
        if self._merged:
            return self.inner.close()
        return self.feed(b"", True)

    def _merge(self) -> bool:
        """Put the CSS into the head held so far; False where more of the page is needed to know where."""
        buf = self._buf
        while True:
            m = _TOKEN.search(buf, self._at)
            if m is None:  # (the scan goes on from the last token read: one may be cut at the end)
                return False
            if m.group(0) == b"<!--":
                end = buf.find(b"-->", m.end())
                if end < 0:
                    self._at = m.start()
                    return False
                self._at = end + 3
                continue
            name = m.group(1)
            if name is None:  # </head> or <body: the head has no amp-custom style
                self._insert(m.start(), b"<style amp-custom>" + self.css + b"</style>")
                return True
            closing = re.compile(rb"</" + name + rb"[\s/>]", re.I).search(buf, m.end())
            if closing is None:
                self._at = m.start()
                return False
            if name.lower() == b"style" and _CUSTOM.search(m.group(2)):
                self._insert(closing.start(), b"\n" + self.css)
                return True
            self._at = closing.end()

    def _insert(self, at: int, markup: bytes) -> None:
        self._buf[at:at] = markup
        self.styled = True
