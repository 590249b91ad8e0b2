"""The response to a request that a `block` rule stops: status 451 (RFC 7725).

The body carries the notice: a small, complete HTML page that loads nothing from
elsewhere, or, where the request prefers JSON (`prefers_json`), the object
`{"error": "unavailable-for-legal-reasons", "status": 451, "notices": [...]}`
with the items of the `{json: FIELD}` placement.

Headers: `Content-Type` with its charset, the exact `Content-Length`,
`Content-Language`, and, where the notice has a link, `Link: <href>;
rel="blocked-by"` (the href made safe for a header: no control characters, no
non-ASCII, no `<` or `>`). A 451 is cacheable by default (RFC 7725 section 3),
but whether a request is blocked depends on the reader's jurisdiction and on
rules that change: `Cache-Control: private, no-cache` keeps it out of shared
caches and makes the reader's own cache ask again each time. The page sends a
`Content-Security-Policy` that allows nothing but its own inline style, so it
stays inert whatever a notice's text holds (every text is escaped as well).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from compliance.respond.json import notice_item
from compliance.respond.render import _safe_href, is_rtl, render_notice_html, render_style
from compliance.rules.model import Notice

__all__ = ["REASON", "STATUS", "block_response", "header_href", "prefers_json"]

STATUS: Final = 451
REASON: Final = "Unavailable For Legal Reasons"

Headers = list[tuple[bytes, bytes]]

_STYLE: Final = (
    b"<style>body{margin:0 auto;max-width:40rem;padding:2rem 1rem;font:1.125rem/1.5 system-ui,sans-serif}"
    b"h1{font-size:1.5rem}</style>"
)
_CSP: Final = b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
# Characters left as they are in a Link header's URI: RFC 3986 reserved characters and `%`
# (letters, digits and `-._~` always are). Everything else is percent-encoded as UTF-8.
_URI_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"


def block_response(
    notice: Notice,
    language: str,
    *,
    prefers_json: bool = False,
    headers_extra: Iterable[tuple[bytes, bytes]] = (),
    also: tuple[str, ...] = (),
) -> tuple[int, Headers, bytes]:
    """(status, headers, body) of the 451 response that carries `notice` in `language`.

    `also` are further languages the notice is shown in, after `language` (a rule's `languages`).

    `headers_extra` (lower-case names) are added last; a name given there replaces
    the header of that name this function would set (a caller's `Cache-Control`, say).
    """
    if prefers_json:
        document = {
            "error": "unavailable-for-legal-reasons",
            "status": STATUS,
            "notices": [notice_item(notice, shown) for shown in (language, *also)],
        }
        body = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        content_type = b"application/json; charset=utf-8"
    else:
        body = _page(notice, language, also)
        content_type = b"text/html; charset=utf-8"
    headers: Headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"content-language", _header_text(language)),
        (b"cache-control", b"private, no-cache"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if not prefers_json:
        headers.append((b"content-security-policy", _CSP))
    if notice.link is not None and _safe_href(notice.link.href):
        href = header_href(notice.link.href)
        if href:
            headers.append((b"link", b"<" + href.encode("ascii") + b'>; rel="blocked-by"'))
    extra = [(bytes(name).lower(), bytes(value)) for name, value in headers_extra]
    if extra:
        replaced = {name for name, _ in extra}
        headers = [(name, value) for name, value in headers if name not in replaced] + extra
    return STATUS, headers, body


def _page(notice: Notice, language: str, also: tuple[str, ...] = ()) -> bytes:
    lang = _attr(language)
    direction = ' dir="rtl"' if is_rtl(language) else ""
    # The page's own words are English: marked as such where the notice is in another language.
    en = "" if language.lower().split("-")[0] == "en" else ' lang="en"'
    heading = en + (' dir="ltr"' if direction else "")
    head = (
        f'<!doctype html>\n<html lang="{lang}"{direction}><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
        f"<title{en}>{STATUS} {REASON}</title>"
    ).encode("ascii")
    css = render_style([notice.css], "utf-8") if notice.css else b""
    return b"".join(
        (
            head,
            _STYLE,
            css,
            f"</head><body><main><h1{heading}>{REASON}</h1>".encode("ascii"),
            *(render_notice_html(notice, shown, "utf-8") for shown in (language, *also)),
            b"</main></body></html>\n",
        )
    )


def _attr(value: str) -> str:
    """A language tag for an attribute: anything but letters, digits and `-` dropped."""
    return "".join(ch for ch in value if ch.isascii() and (ch.isalnum() or ch == "-")) or "und"


def _header_text(language: str) -> bytes:
    return _attr(language).encode("ascii")


def header_href(href: str) -> str:
    """`href` as a URI fit for `Link: <...>`: ASCII only, nothing that ends the `<...>` or the header.

    An internationalised host name becomes its IDNA (punycode) form; other
    non-ASCII characters, spaces, quotes, `<`, `>` and control characters are
    percent-encoded (as UTF-8). Existing `%XX` escapes are kept. The empty string
    means there is nothing usable.
    """
    href = href.strip()
    if not href.isascii():
        try:
            parts = urlsplit(href)
            userinfo, at, hostport = parts.netloc.rpartition("@")
            host, colon, port = hostport.partition(":")  # an IPv6 literal is ASCII: never here
            if host and not host.isascii():
                netloc = userinfo + at + host.encode("idna").decode("ascii") + colon + port
                href = urlunsplit(parts._replace(netloc=netloc))
        except (ValueError, UnicodeError):
            pass  # left to percent-encoding below
    return quote(href, safe=_URI_SAFE)


def prefers_json(accept: str | None) -> bool:
    """Whether an Accept header ranks JSON (`application/json`, `*/*+json`) above `text/html` by quality.

    Each type's quality is that of the most specific range that matches it
    (RFC 9110 section 12.5.1); a `+json` type named in the header counts as JSON.
    A tie goes to HTML, as does a missing or empty header.
    """
    if not accept:
        return False
    ranges: dict[str, float] = {}
    json_q = 0.0
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        if "/" not in media:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, raw = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(raw.strip())
                except ValueError:
                    quality = -1.0
        if not 0.0 <= quality <= 1.0:  # a malformed range (NaN too) counts for nothing
            continue
        ranges[media] = max(quality, ranges.get(media, 0.0))
        if media.endswith("+json"):
            json_q = max(json_q, quality)
    return max(json_q, _quality(ranges, "application/json")) > _quality(ranges, "text/html")


def _quality(ranges: dict[str, float], media: str) -> float:
    for key in (media, media.split("/")[0] + "/*", "*/*"):
        if key in ranges:
            return ranges[key]
    return 0.0
