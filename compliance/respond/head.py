"""A notice's head elements (`placement: head`) as markup: `<meta>`, `<link>`, `<script src>`.

Never raw HTML: the element names are fixed, the attribute names come from the loader's
short lists, and every value is escaped for a double-quoted attribute (`&`, `<`, `>`,
`"` and `'` as character references), so no value can end the attribute or the tag.
Each element carries `data-legal-notice="ID"`, as a notice in the body does.
"""

from __future__ import annotations

import html
from typing import Final

from compliance.rules.model import Notice

__all__ = ["render_head_elements"]

_CACHE_SIZE: Final = 4096
_CACHE: dict[tuple[int, str], tuple[Notice, bytes]] = {}


def render_head_elements(notice: Notice, codec: str) -> bytes:
    """The notice's head elements, in order, encoded with `codec` (characters it lacks as references)."""
    key = (id(notice), codec)  # the entry keeps the notice: checked by identity, never stale
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is notice:
        return hit[1]
    parts: list[str] = []
    for element in notice.head:
        attributes = "".join(
            f" {name}" if value is None else f' {name}="{html.escape(value, quote=True)}"'
            for name, value in element.attributes
        )
        tag = f'<{element.tag}{attributes} data-legal-notice="{html.escape(notice.id, quote=True)}">'
        parts.append(tag + ("</script>" if element.tag == "script" else ""))
    markup = "".join(parts).encode(codec, "xmlcharrefreplace")
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = (notice, markup)
    return markup
