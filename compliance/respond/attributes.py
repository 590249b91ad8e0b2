"""A start tag's attributes, as the selector matcher reads them.

Names are lower-cased; the first of two attributes with the same name counts; values are the
bytes as written (character references are not decoded), as the HTML tokenizer splits them:
quoted with `"` or `'`, or bare up to whitespace or `>`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_attributes"]

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
