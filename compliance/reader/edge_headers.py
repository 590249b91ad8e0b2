"""CDN geo headers that carry more than a bare code: Netlify's `x-nf-geo` and Akamai's `X-Akamai-Edgescape`.

Each reads one header value into a country code and a region code (either None
where the value does not say), or None where the value cannot be read at all. The
codes are then checked as any CDN header's are (`normalise_country`,
`normalise_subdivision`). Google Cloud's `X-Client-Region-Subdivision` (`UA43`)
and the plain country headers need no reader of their own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Final

__all__ = ["COMPOUND_HEADERS", "MAX_COMPOUND_LENGTH", "read_edgescape", "read_netlify"]

#: A compound header value longer than this is not read.
MAX_COMPOUND_LENGTH: Final = 4096

Codes = tuple[str | None, str | None]


def read_netlify(value: bytes) -> Codes | None:
    """`x-nf-geo`: base64 of a JSON object with `country.code` and `subdivision.code`."""
    try:
        text = base64.b64decode(value.strip() + b"=" * (-len(value.strip()) % 4), validate=False)
        data = json.loads(text)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return _code(data.get("country")), _code(data.get("subdivision"))


def read_edgescape(value: bytes) -> Codes | None:
    """`X-Akamai-Edgescape`: `georegion=246,country_code=NL,region_code=NH,city=AMSTERDAM,...`."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = {}
    for part in text.split(","):
        key, sep, found = part.partition("=")
        if sep:
            fields[key.strip().lower()] = found.strip()
    if "country_code" not in fields:
        return None
    return fields["country_code"] or None, fields.get("region_code") or None


def _code(value: object) -> str | None:
    if isinstance(value, dict):
        code = value.get("code")
        return code if isinstance(code, str) and code else None
    return None


#: The compound headers by their lower-case name.
COMPOUND_HEADERS: Final[dict[str, Callable[[bytes], Codes | None]]] = {
    "x-nf-geo": read_netlify,
    "x-akamai-edgescape": read_edgescape,
}
