"""Cache headers of a jurisdiction-dependent response, and the request headers that could defeat them.

Three policies, one per way a shared cache can be kept from serving one
jurisdiction's copy to another:

- `keyed_on_class`: the edge computed the reader's jurisdiction class and keys its
  cache on it. The app's caching stays; `Vary` names the class header; the
  validator names the class, so no two classes share one.
- `varied_on_headers`: the CDN's country header was the source; `Vary` names it.
- `for_one_reader`: neither. No shared cache may store the response: `private`,
  and every directive a shared cache reads instead of `Cache-Control` goes
  (`Surrogate-Control`, `CDN-Cache-Control` and the vendors' `*-CDN-Cache-Control`,
  `X-Accel-Expires`, `public`, `s-maxage`); purge keys (`Surrogate-Key`) stay.

Validators: a changed body never keeps the app's `ETag`. On every dependent
response `Last-Modified` goes (a date cannot say which class a copy is for), and
`conditional_request` removes from the request what could make the app answer
`304` or `206` for another class's copy: `If-Modified-Since`, `If-Range`,
`If-None-Match` tags other than this class's, and `Range` where a notice is due
in the body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from compliance.respond.headers import RawHeaders, vary_on

__all__ = [
    "SHARED_CACHE_FIELDS",
    "class_etag",
    "conditional_request",
    "for_a_token",
    "for_one_reader",
    "for_one_reader_plain",
    "is_shared_cache_field",
    "keyed_on_class",
    "varied_on_headers",
]

#: Response fields only shared caches read (besides Cache-Control's `public` and `s-maxage`).
SHARED_CACHE_FIELDS: Final = frozenset({b"surrogate-control", b"cdn-cache-control", b"x-accel-expires"})
_VENDOR_SUFFIX: Final = b"-cdn-cache-control"
_SHARED_DIRECTIVES: Final = frozenset({b"public", b"s-maxage"})
_VALIDATORS: Final = frozenset({b"etag", b"last-modified"})
#: Request fields that make a response conditional or partial.
CONDITIONAL_FIELDS: Final = frozenset({b"if-none-match", b"if-modified-since", b"if-range", b"range"})


def is_shared_cache_field(name: bytes) -> bool:
    """Whether a (lower-case) response field is read by shared caches only."""
    return name in SHARED_CACHE_FIELDS or name.endswith(_VENDOR_SUFFIX)


def _cache_control(values: Iterable[bytes], extra: Iterable[bytes]) -> bytes:
    directives: list[bytes] = []
    for value in values:
        for part in value.split(b","):
            part = part.strip()
            if not part:
                continue
            name = part.split(b"=", 1)[0].strip().lower()
            if name in _SHARED_DIRECTIVES:
                continue
            if name == b"private":
                part = b"private"  # a `private="field"` form narrows it: make it whole
            if part.lower() not in directives:
                directives.append(part)
    for word in extra:
        if word not in (d.lower() for d in directives):
            directives.append(word)
    directives.sort(key=lambda d: d.lower() != b"private")
    return b", ".join(directives)


def for_one_reader(headers: RawHeaders, *, no_store: bool = False) -> RawHeaders:
    """The private fallback: for this reader's own cache only, never a shared one.

    `no_store` (a request decided by a test token) keeps it out of every cache.
    """
    kept: RawHeaders = []
    cache_control: list[bytes] = []
    for key, value in headers:
        if key == b"cache-control":
            cache_control.append(value)
        elif key in _VALIDATORS or is_shared_cache_field(key):
            continue
        else:
            kept.append((key, value))
    extra = (b"private", b"no-store") if no_store else (b"private",)
    kept.append((b"cache-control", _cache_control(cache_control, extra)))
    return kept


#: Response fields `for_one_reader` reads or changes.
_POLICY_FIELDS: Final = frozenset({b"cache-control"}) | _VALIDATORS | SHARED_CACHE_FIELDS


#: Names seen to be lower-case bytes that are none of `_POLICY_FIELDS` (response names come from the app,
#: so they are few; bounded all the same).
_PLAIN_NAMES: set[bytes] = set()


def for_one_reader_plain(headers: object) -> RawHeaders | None:
    """`for_one_reader` of an app's header list, in one pass, where that is the list with
    `Cache-Control: private` appended: its names are lower-case bytes (as most frameworks
    send them) and none is a field the policy reads. None for any other list (it takes the
    general path, which lower-cases and rewrites).
    """
    if type(headers) is not list:
        return None
    plain = _PLAIN_NAMES
    try:
        for key, _ in headers:
            if key not in plain:
                if type(key) is not bytes or not key.islower() or key in _POLICY_FIELDS or key.endswith(_VENDOR_SUFFIX):
                    return None
                if len(plain) < 1024:
                    plain.add(key)
    except (TypeError, ValueError):  # a name that cannot be hashed, a pair that is not two: the general path
        return None
    return [*headers, (b"cache-control", b"private")]


def for_a_token(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """A response decided by a test or preview token: kept out of every cache, and saying it honoured the token."""
    lowered = [(bytes(k).lower(), bytes(v)) for k, v in headers if bytes(k).lower() != b"compliance-test"]
    return [*for_one_reader(lowered, no_store=True), (b"compliance-test", b"honoured")]


def class_etag(value: bytes, name: bytes) -> bytes:
    """The app's entity tag made particular to the class `name`: `W/"abc"` becomes `W/"abc.NAME"`."""
    value = value.strip()
    if value.endswith(b'"') and len(value) >= 2:
        return value[:-1] + b"." + name + b'"'
    return b'"' + value.replace(b'"', b"") + b"." + name + b'"'


def keyed_on_class(headers: RawHeaders, vary: Iterable[str], name: bytes) -> RawHeaders:
    """The edge keys its cache on the class `name`: the app's caching stays, `Vary` and the validator name it."""
    kept: RawHeaders = []
    for key, value in headers:
        if key == b"etag":
            kept.append((key, class_etag(value, name)))
        elif key != b"last-modified":
            kept.append((key, value))
    return vary_on(kept, vary)


def varied_on_headers(headers: RawHeaders, vary: Iterable[str]) -> RawHeaders:
    """The CDN's country header was the source: `Vary` on it; no validator is shared between countries."""
    return vary_on([(k, v) for k, v in headers if k not in _VALIDATORS], vary)


def conditional_request(
    headers: Iterable[tuple[bytes, bytes]], class_name: bytes | None, whole: bool
) -> list[tuple[bytes, bytes]] | None:
    """The request headers to give the app on a dependent page, or None where they can go as they are.

    `class_name`: the class the edge keyed on (its tags in `If-None-Match` are the
    app's again; others go). `whole`: a notice is due in the body, so a `Range`
    is dropped and the whole page is sent.
    """
    for key, _ in headers:
        if key in CONDITIONAL_FIELDS:
            break
    else:
        return None
    out: list[tuple[bytes, bytes]] = []
    ranged = False
    for key, value in headers:
        if key not in CONDITIONAL_FIELDS:
            out.append((key, value))
        elif key == b"range":
            ranged = True
            if not whole:
                out.append((key, value))
        elif key == b"if-none-match" and class_name is not None:
            tags = _own_tags(value, class_name)
            if tags:
                out.append((key, tags))
    if ranged and not whole and any(key == b"if-range" for key, _ in headers):
        # The If-Range validator cannot be checked against this class: send the whole page.
        out = [(k, v) for k, v in out if k != b"range"]
    return out


def _own_tags(value: bytes, class_name: bytes) -> bytes:
    suffix = b"." + class_name + b'"'
    tags = []
    for tag in value.split(b","):
        tag = tag.strip()
        if tag.endswith(suffix):
            tags.append(tag[: -len(suffix)] + b'"')
    return b", ".join(tags)
