"""One GET of a bundle (or its signature) over HTTP: bounded in size, in time and in what it decodes.

- Redirects are followed here, at most `MAX_REDIRECTS`; the configured headers
  (credentials, such as `Authorization` or an API key) go only to the bundle
  URL's own origin (scheme, host and port), never to another one a redirect
  names; a redirect from `https` to `http` is refused unless plain HTTP is allowed.
- The bundle is asked for unencoded (`Accept-Encoding: identity`); a `gzip` or
  `deflate` body is decoded with the same cap on its output as on the bundle, and
  any other encoding (`br`, `zstd`...) is refused: a few bytes of `br` can expand
  to gigabytes.
- Each fetch has an overall deadline, checked as bytes arrive, besides the
  timeout between bytes: a server that sends a byte now and then cannot hold a
  start-up or a poll for long.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from compliance.errors import ComplianceError

if TYPE_CHECKING:  # httpx is imported where a bundle is fetched: a worker serving local files never needs it
    import httpx

__all__ = ["DEADLINE", "MAX_REDIRECTS", "FetchError", "Fetched", "get", "origin_of"]

MAX_REDIRECTS: Final = 5
#: Seconds one fetch may take from the request to the last byte.
DEADLINE: Final = 60.0
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


class FetchError(ComplianceError):
    """The bundle could not be fetched (the message says why)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    headers: httpx.Headers
    data: bytes
    url: str


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def get(
    client: httpx.Client,
    url: str,
    *,
    credentials: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline: float = DEADLINE,
    allow_http: bool = False,
) -> Fetched:
    """GET `url`, following redirects; the answer's status (200 or 304, others raise), headers and body."""
    import httpx  # (imported already: `client` is one)

    ends = time.monotonic() + deadline
    home = origin_of(url)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if time.monotonic() > ends:
            raise FetchError(f"the bundle took longer than {deadline:g} seconds to arrive")
        here = origin_of(current)
        sent = {**(credentials if here == home else {}), **(headers or {}), "Accept-Encoding": "identity"}
        try:
            with client.stream("GET", current, headers=sent) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    target = str(response.url.join(response.headers["location"]))
                    if origin_of(target)[0] == "http" and here[0] == "https" and not allow_http:
                        raise FetchError("the server redirected from https to plain http, which is refused")
                    if origin_of(target)[0] not in ("http", "https"):
                        raise FetchError("the server redirected to an address that is not http or https")
                    current = target
                    continue
                if response.status_code not in (200, 304):
                    raise FetchError(f"the server answered HTTP {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"the bundle is larger than {max_bytes} bytes")
                decoder = _decoder(response.headers.get("content-encoding"))
                chunks: list[bytes] = []
                size = 0
                for raw in response.iter_raw():
                    if time.monotonic() > ends:
                        raise FetchError(f"the bundle took longer than {deadline:g} seconds to arrive")
                    chunk = raw if decoder is None else _inflate(decoder, raw, max_bytes - size)
                    size += len(chunk)
                    if size > max_bytes or (decoder is None and len(raw) > max_bytes):
                        raise FetchError(f"the bundle is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                if decoder is not None:
                    chunks.append(decoder.flush())
                    if not decoder.eof:
                        raise FetchError("the bundle's encoded body is cut short")
                return Fetched(response.status_code, response.headers, b"".join(chunks), current)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise FetchError(f"the bundle could not be fetched ({type(exc).__name__}: {reason})") from None
    raise FetchError(f"the server redirected more than {MAX_REDIRECTS} times")


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise FetchError(
        f"the server sent the bundle encoded as {name!r}, which is refused; serve it unencoded "
        "(a .tar.gz bundle is compressed already) or as gzip"
    )


def _inflate(decoder: zlib._Decompress, data: bytes, room: int) -> bytes:
    try:
        out = decoder.decompress(data, max(room, 0) + 1)
    except zlib.error as exc:
        raise FetchError(f"the bundle's encoded body is corrupt: {exc}") from None
    if decoder.unconsumed_tail:
        raise FetchError("the bundle is larger than its cap once decoded")
    return out
