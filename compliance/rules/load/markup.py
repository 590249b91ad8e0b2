"""Text that looks like HTML in a notice: shown to readers as it is written, never as markup.

A notice's texts are escaped wherever they go, so a `<script>` pasted into one is shown
as literal text, and a pasted `<a href=...>` is no link. The loader warns
(`markup-in-text`) and says what to write instead.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["markup_warning"]

_TAG = re.compile(
    r"<\s*/?\s*(script|iframe|a|img|style|link|meta|div|span|p|b|i|u|s|strong|em|br|hr|embed|object|svg|form|"
    r"input|button|h[1-6]|ul|ol|li|table|section|aside|small|sup|sub|code|pre|blockquote|noscript|base)(?=[\s/>])",
    re.IGNORECASE,
)
_HEAD_TAGS: Final = frozenset({"script", "style", "link", "meta", "noscript", "base", "iframe", "embed", "object"})


def markup_warning(text: str, field_name: str) -> str | None:
    """The warning for markup in `text` (the value of `field_name`), or None where there is none."""
    found = _TAG.search(text)
    if found is None:
        return None
    end = text.find(">", found.start())
    snippet = text[found.start() : end + 1 if 0 <= end < found.start() + 60 else found.start() + 30]
    name = found.group(1).lower()
    said = (
        f'"{field_name}" holds "{snippet}", which looks like HTML: readers see it as literal text, never as '
        "markup, since every text of a notice is escaped."
    )
    if name in _HEAD_TAGS:
        return (
            f'{said} To load a script or add a meta or link element, give the notice a "head" list (a script '
            'with its https address and integrity hash) and the rule "placement: head"; to style the notice, '
            'use "css".'
        )
    if name == "a":
        return f'{said} To link to a page, use the notice\'s "link" field (href and text).'
    return f"{said} Write the text without tags; a blank line starts a new paragraph."
