"""The "placement" of a rule: body-start, body-end, a marker, a selector place, a header, a JSON field or a feed."""

from __future__ import annotations

import re
from typing import Final

from compliance.rules.load.messages import quoted_list, sentences, suggest
from compliance.rules.load.values import FileReader
from compliance.rules.model import SELECTOR_PLACES, Place, PlaceKind
from compliance.rules.selectors import check_selector, parse_selector
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue

__all__ = ["PLACE_KEYS", "PLACE_WORDS", "placement_key", "read_placement"]

PLACE_WORDS: Final = ("body-start", "body-end", "head")
PLACE_KEYS: Final = ("marker", "before", "after", "prepend", "append", "header", "json", "feed")
#: Every placement, in words, for the messages of a wrong one.
_KINDS: Final = f"{quoted_list(PLACE_WORDS)}, or one of {', '.join(f'{{{k}: ...}}' for k in PLACE_KEYS)}"
#: Where a notice goes in a feed (RSS, Atom, JSON Feed): in every item, or once for the whole feed.
FEED_PLACES: Final = ("items", "channel")

_MARKER = re.compile(r"[A-Za-z0-9._-]+\Z")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
# Headers the response needs for its own purposes, or that browsers, caches and servers act on
# (security policies, cookies, redirects, framing, cross-origin access, cache keys, framing of the
# message itself): a notice header that replaced one would break pages or open them up.
_RESERVED_HEADERS: Final = frozenset(
    {
        "age", "alt-svc", "authorization", "cache-control", "clear-site-data", "compliance-test",
        "compliance-test-jurisdiction", "connection", "cookie", "date", "etag", "expect-ct", "expires",
        "keep-alive", "last-modified", "link", "location", "nel", "origin-agent-cluster", "permissions-policy",
        "pragma", "proxy-authenticate", "referrer-policy", "refresh", "report-to", "reporting-endpoints",
        "retry-after", "server", "server-timing", "set-cookie", "set-cookie2", "strict-transport-security",
        "surrogate-control", "surrogate-key", "te", "timing-allow-origin", "trailer", "transfer-encoding",
        "upgrade", "vary", "www-authenticate", "x-content-type-options", "x-dns-prefetch-control",
        "x-frame-options", "x-permitted-cross-domain-policies", "x-robots-tag", "x-sendfile", "x-xss-protection",
    }
)  # fmt: skip
#: Whole families: every `Content-*` (type, length, encoding, security policy...), CORS, the
#: cross-origin isolation policies, nginx's and CDNs' own controls, request metadata, proxies.
_RESERVED_PREFIXES: Final = (
    "content-", "access-control-", "cross-origin-", "x-accel-", "sec-", "proxy-", "x-forwarded-",
)  # fmt: skip
_RESERVED_SUFFIXES: Final = ("cdn-cache-control",)


def is_reserved_header(name: str) -> bool:
    """Whether a notice header may not take this name: the response, a browser, a cache or a server acts on it."""
    name = name.lower()
    return name in _RESERVED_HEADERS or name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES)


def read_placement(reader: FileReader, node: YamlValue) -> tuple[Place, ...] | None:
    """The places of a `placement`, read once per load for each placement written alike (with no problem)."""
    key = placement_key(node)
    known = reader.loader.placements
    if key is not None:
        placement = known.get(key)
        if placement is not None:
            return placement
    problems = reader.loader.sink.problems
    before = len(problems)
    placement = _read_placement(reader, node)
    if key is not None and placement is not None and len(problems) == before:
        known[key] = placement
    return placement


def placement_key(node: YamlValue) -> object | None:
    """What a placement says (its words, keys and values, not where they are), or None for a shape
    `_read_placement` words a problem about."""
    if type(node) is YamlScalar:
        return node.value
    if type(node) is YamlMap:
        entry = _single_entry(node)
        return None if entry is None else ("map", entry)
    if type(node) is not YamlList:
        return None
    key: list[object] = ["list"]
    for item in node.items:
        if type(item) is YamlScalar:
            key.append(item.value)
            continue
        entry = _single_entry(item) if type(item) is YamlMap else None
        if entry is None:
            return None
        key.append(entry)
    return tuple(key)


def _single_entry(node: YamlMap) -> tuple[str, str] | None:
    if len(node.entries) != 1:
        return None
    key, value = next(iter(node.entries.values()))
    return (key.value, value.value) if type(value) is YamlScalar else None


def _read_placement(reader: FileReader, node: YamlValue) -> tuple[Place, ...] | None:
    if isinstance(node, YamlList):
        if not node.items:
            reader.error(
                node,
                "bad-placement",
                '"placement" is an empty list; name at least one place, or leave the field out for body-end.',
            )
            return None
        places: list[Place] = []
        for item in node:
            place = _read_place(reader, item)
            if place is None:
                continue
            if place.kind in ("header", "json", "head", "feed"):
                reader.error(
                    item,
                    "bad-placement",
                    f'A "{place.kind}" placement stands alone; a list holds places in an HTML page\'s body only '
                    "(body-start, body-end, marker, before, after, prepend, append).",
                )
                continue
            places.append(place)
        return tuple(places) if len(places) == len(node.items) else None
    place = _read_place(reader, node)
    return None if place is None else (place,)


def _read_place(reader: FileReader, node: YamlValue) -> Place | None:
    kinds = _KINDS
    if isinstance(node, YamlScalar):
        word = node.value
        if word in PLACE_WORDS:
            return Place("body-start" if word == "body-start" else "head" if word == "head" else "body-end")
        if word in PLACE_KEYS:
            reader.error(
                node,
                "bad-placement",
                f'"{word}" needs a value: write {{{word}: {_place_example(word)}}}.',
            )
            return None
        hint = suggest(word, PLACE_WORDS)
        reader.error(node, "bad-placement", sentences(f'"{word}" is not a placement', hint, f"A placement is {kinds}."))
        return None
    if isinstance(node, YamlList):
        reader.error(node, "bad-placement", "A list of places cannot contain another list.")
        return None
    if len(node.entries) != 1:
        reader.error(
            node,
            "bad-placement",
            'A placement mapping has exactly one key, such as {before: "article h1"}; to give several places '
            "in order of preference, write a list.",
        )
        return None
    key, value = next(node.items())
    kind = key.value
    if kind not in PLACE_KEYS:
        hint = suggest(kind, PLACE_KEYS)
        reader.error(
            key,
            "bad-placement",
            sentences(f'"{kind}" is not a kind of placement', hint, f"A placement is {kinds}."),
        )
        return None
    argument = reader.text(value, kind)
    if argument is None:
        return None
    argument = argument.strip()
    problem: str | None = None
    if kind == "marker" and not _MARKER.match(argument):
        problem = (
            f'"{argument}" is not a valid marker name: use letters, digits, "-", "_" and "." only; the page '
            f"holds it as <!-- NAME -->."
        )
    elif kind in SELECTOR_PLACES:
        problem = check_selector(argument) or _in_head(kind, argument) or _in_foreign(kind, argument)
    elif kind == "feed":
        if argument not in FEED_PLACES:
            hint = suggest(argument, FEED_PLACES)
            problem = sentences(
                f'"{argument}" is not a place in a feed',
                hint,
                "Write {feed: items} for the notice in every item of the feed, or {feed: channel} for it once, "
                "in the feed's own description.",
            )
    elif kind == "header":
        if not _HTTP_TOKEN.match(argument):
            problem = (
                f'"{argument}" is not a valid HTTP header name: use letters, digits and "-", such as "X-Legal-Notices".'
            )
        elif is_reserved_header(argument):
            problem = (
                f'The header "{argument}" is one the response needs for its own purpose, or that browsers, caches '
                "or servers act on (security, cookies, redirects, caching, cross-origin access); a notice in it "
                'would replace the site\'s own. Choose a header of your own, such as "X-Legal-Notices".'
            )
    if problem is not None:
        reader.error(value, "bad-selector" if kind in SELECTOR_PLACES else "bad-placement", problem)
        return None
    place_kind: PlaceKind = _PLACE_KINDS[kind]
    return Place(place_kind, argument)


#: Elements that live only in a page's `<head>` (and `html`, around it): a notice placed at one of
#: them would end the head early, and browsers would move the title, links and scripts after it
#: into the body.
HEAD_ELEMENTS: Final = frozenset({b"html", b"head", b"title", b"meta", b"link", b"base"})


def _in_head(kind: str, selector: str) -> str | None:
    """Why a notice cannot go at this selector place (it would land in the `<head>`), or None."""
    parsed = parse_selector(selector)
    if parsed is None:
        return None
    subject = parsed.compounds[-1].tag
    if subject not in HEAD_ELEMENTS and not any(c.tag == b"head" for c in parsed.compounds):
        return None
    where = "around the page's <head>" if subject == b"html" else "in the page's <head>"
    return (
        f'A notice cannot go {where} ({{{kind}: "{selector}"}}): browsers would end the head there and '
        "move what follows into the body. Write body-start for the top of the page, or name an element "
        'of the body, such as {before: "main"} or {prepend: "article"}.'
    )


#: Elements whose content is SVG or MathML (foreign content): a notice's markup inside them is not HTML.
FOREIGN_ROOTS: Final = frozenset({b"svg", b"math"})


def _in_foreign(kind: str, selector: str) -> str | None:
    """Why a notice cannot go at this selector place (it would land inside SVG or MathML), or None."""
    parsed = parse_selector(selector)
    if parsed is None:
        return None
    subject = parsed.compounds[-1].tag
    root = next((c.tag for c in parsed.compounds[:-1] if c.tag in FOREIGN_ROOTS), None)
    if root is None and not (subject in FOREIGN_ROOTS and kind in ("prepend", "append")):
        return None
    name = (root or subject or b"").decode()
    return (
        f'A notice cannot go inside <{name}> ({{{kind}: "{selector}"}}): what is inside it is '
        f"{'SVG' if name == 'svg' else 'MathML'}, not HTML, and browsers would not show the notice as one. "
        f'Name the element itself, such as {{before: "{name}"}} or {{after: "{name}"}}, or an HTML element of the body.'
    )


_PLACE_KINDS: Final[dict[str, PlaceKind]] = {
    "marker": "marker",
    "before": "before",
    "after": "after",
    "prepend": "prepend",
    "append": "append",
    "header": "header",
    "json": "json",
    "feed": "feed",
}


def _place_example(kind: str) -> str:
    return {"marker": "legal-notice", "header": "X-Legal-Notices", "json": "legal_notices", "feed": "items"}.get(
        kind, '"article h1"'
    )
