"""Small helpers over raw ASGI header lists (lists of (name, value) byte pairs, names lower case)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["get", "make_private", "remove", "vary_on"]

RawHeaders = list[tuple[bytes, bytes]]

_SHARED_ONLY: Final = frozenset({b"public", b"s-maxage"})


def get(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (lower case), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def get_all(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def remove(headers: RawHeaders, *names: bytes) -> RawHeaders:
    return [(k, v) for k, v in headers if k not in names]


def vary_on(headers: RawHeaders, names: Iterable[str]) -> RawHeaders:
    """Add `names` to Vary (once, merged into the existing values)."""
    present = [v for k, v in headers if k == b"vary"]
    have = {part.strip().lower() for v in present for part in v.split(b",") if part.strip()}
    if b"*" in have:
        return headers
    missing = [n.encode("latin-1") for n in names if n.lower().encode("latin-1") not in have]
    if not missing:
        return headers
    merged = b", ".join([*(p.strip() for v in present for p in v.split(b",") if p.strip()), *missing])
    return [*(h for h in headers if h[0] != b"vary"), (b"vary", merged)]


def make_private(headers: RawHeaders) -> RawHeaders:
    """Mark a response as for one reader only: no shared cache may store it.

    `public` and `s-maxage` go; `private` is added; what a private cache may do
    (`max-age`, `no-store`, ...) stays as the app said.
    """
    directives: list[bytes] = []
    for value in get_all(headers, b"cache-control"):
        for part in value.split(b","):
            part = part.strip()
            if not part:
                continue
            name = part.split(b"=", 1)[0].strip().lower()
            if name in _SHARED_ONLY:
                continue
            if name == b"private":
                part = b"private"  # a `private="field"` form narrows it: make it whole
            directives.append(part)
    if b"private" not in directives:
        directives.insert(0, b"private")
    return [*(h for h in headers if h[0] != b"cache-control"), (b"cache-control", b", ".join(directives))]
