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
`<html amp>`), only on pages whose notices carry CSS.
"""

from __future__ import annotations

import re
from typing import Any, Final

from compliance.respond.html.rewriter import HtmlRewriter

__all__ = ["AmpRewriter", "is_amp"]

_ATTRIBUTE: Final = re.compile(rb"""\s([^\s=/>"']+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']*))?""")
_AMP_NAMES: Final = frozenset({b"amp", "⚡".encode()})
#: What the head scan stops at: a comment, a raw-text element's start tag, the end of the head, the body.
_TOKEN: Final = re.compile(
    rb"<!--|<(script|style|title|textarea)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>|</head\s*>|<body[\s>/]", re.I
)
_CUSTOM: Final = re.compile(rb"""(?:^|\s)amp-custom(?:[\s=/]|$)""", re.I)


def is_amp(html_tag: bytes) -> bool:
    """Whether an `<html ...>` start tag (as written) marks an AMP page: an attribute `⚡` or `amp`."""
    return any(m.group(1).lower() in _AMP_NAMES for m in _ATTRIBUTE.finditer(html_tag, 5))


class AmpRewriter:
    """The notices' CSS merged into an AMP page's head, then `inner` (an `HtmlRewriter` with no style) runs."""

    __slots__ = ("inner", "css", "limit", "_buf", "_at", "_merged", "styled")

    def __init__(self, inner: HtmlRewriter, css: bytes, limit: int) -> None:
        self.inner = inner
        self.css = css  # the CSS text, already encoded for the page
        self.limit = limit
        self._buf = bytearray()
        self._at = 0  # where the head scan goes on
        self._merged = False
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
