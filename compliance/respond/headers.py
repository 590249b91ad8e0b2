"""Small helpers over raw ASGI header lists (lists of (name, value) byte pairs, names lower case)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["get", "remove", "vary_on"]

RawHeaders = list[tuple[bytes, bytes]]


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
