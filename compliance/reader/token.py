"""Signed, short-lived tokens that choose a reader's jurisdiction: for `compliance test --url` and preview links.

A token is minted by whoever holds the server's `test_secret` (the `compliance test
--url` runner mints one per case; `compliance preview` one per link) and says:

    kind      "test" (sent in the `Compliance-Test-Jurisdiction` header) or "preview"
              (carried in the URL's query string, `?compliance-preview=...`, where a
              browser link cannot set a header)
    country, subdivision, anonymous   the jurisdiction to decide for
    anonymity the reader's kinds of anonymity (`tor`, `anonymous-vpn`, ...), where any
    scope     the path it is good for: one path, or `PREFIX/**` for a path and all under it
    expires   when it stops being honoured (Unix seconds); at most a day ahead
    nonce     random, so no two tokens are alike
    at        optionally, the moment to decide at (a case's `at:`)

signed with HMAC-SHA256 under a key derived from the secret. The token travels as
`base64url(fields) "." base64url(mac)`: safe in a header and in a query string.
The server strips the header and the query parameter before the app sees the
request, whether or not the token is good, and says in `Compliance-Test: honoured`
that it decided by one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode

from compliance.errors import ConfigError
from compliance.reader.jurisdiction import Jurisdiction, anonymity_kind

__all__ = [
    "HONOURED",
    "MAX_TTL",
    "MIN_SECRET",
    "PREVIEW_PARAM",
    "TEST_AT_EXTENSION",
    "TOKEN_HEADER",
    "Token",
    "TokenReader",
    "check_secret",
    "mint",
    "scope_for",
]

#: The request header a test token travels in (the edge configurations bypass the cache on it).
TOKEN_HEADER: Final = b"compliance-test-jurisdiction"
#: The query parameter a preview token travels in.
PREVIEW_PARAM: Final = "compliance-preview"
_PARAM_BYTES: Final = PREVIEW_PARAM.encode("ascii") + b"="
#: The response header that says the token was honoured.
HONOURED: Final = (b"compliance-test", b"honoured")
#: An ASGI scope extension: the moment (Unix seconds) a test decides at (a case's `at:`).
TEST_AT_EXTENSION: Final = "compliance.at"
MIN_SECRET: Final = 16
#: The longest a token is honoured for: a day.
MAX_TTL: Final = 24 * 3600
#: Longer values are not even decoded.
_MAX_TOKEN: Final = 1024
_CONTEXT: Final = b"compliance-token-v1"

Kind = Literal["test", "preview"]


def check_secret(secret: object, what: str = "test_secret") -> str:
    """The secret, where it is long enough to sign tokens with; ConfigError otherwise."""
    if not isinstance(secret, str) or len(secret) < MIN_SECRET:
        raise ConfigError(
            f"{what} must be at least {MIN_SECRET} characters (anyone could guess a shorter one and choose "
            "a reader's jurisdiction); make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    jurisdiction: Jurisdiction
    scope: str
    expires: int
    at: float | None = None

    def covers(self, path: str) -> bool:
        """Whether the token is good for `path` (a path spelled other than plainly is covered only by `/**`)."""
        scope = self.scope
        if scope == "/**":
            return True
        if not _plain(path):
            return False
        if scope.endswith("/**"):
            prefix = scope[:-3]
            return path == prefix or path.startswith(prefix + "/") or (prefix == "" and path.startswith("/"))
        return path == scope


def scope_for(path: str) -> str:
    """The narrowest scope that covers `path` as a server will see it: the path itself where it is spelled plainly."""
    return path if path.startswith("/") and _plain(path) else "/**"


def _plain(path: str) -> bool:
    return not ("//" in path or "\\" in path or "%" in path or "/./" in path or "/../" in path) and not (
        path.endswith("/.") or path.endswith("/..")
    )


def mint(
    secret: str,
    kind: Kind,
    country: str | None,
    subdivision: str | None = None,
    *,
    anonymous: bool = False,
    kinds: frozenset[str] = frozenset(),
    scope: str = "/**",
    ttl: float = 300.0,
    at: float | None = None,
    now: float | None = None,
) -> str:
    """A token for `country` (None: unknown), good on `scope` for `ttl` seconds."""
    check_secret(secret, "the secret")
    if not 0 < ttl <= MAX_TTL:
        raise ConfigError(f"a token lives at most {MAX_TTL // 3600} hours, not {ttl:g} seconds")
    if not scope.startswith("/"):
        raise ConfigError(f"a token's scope is a path that starts with '/', not {scope!r}")
    expires = int((time.time() if now is None else now) + ttl)
    fields = {
        "v": "1",
        "k": kind,
        "c": country or "",
        "s": subdivision or "",
        "a": "1" if anonymous else "0",
        "p": scope,
        "e": str(expires),
        "n": secrets.token_urlsafe(9),
    }
    if at is not None:
        fields["t"] = f"{at:.3f}"
    if kinds:
        fields["y"] = ",".join(sorted(kinds))
    payload = urlencode(fields).encode("ascii")
    mac = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def read(value: str, secret: str, now: float) -> Token | None:
    """The token `value` carries, where it is well formed, signed with `secret` and not expired."""
    if len(value) > _MAX_TOKEN:
        return None
    body, _, mac_text = value.strip().partition(".")
    try:
        payload = _unb64(body)
        mac = _unb64(mac_text)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(mac, hmac.new(_key(secret), payload, hashlib.sha256).digest()):
        return None
    try:
        fields = dict(parse_qsl(payload.decode("ascii"), keep_blank_values=True, strict_parsing=True))
        expires = int(fields["e"])
        at = float(fields["t"]) if "t" in fields else None
        kind = fields["k"]
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if fields.get("v") != "1" or kind not in ("test", "preview"):
        return None
    if not now < expires <= now + MAX_TTL + 60:
        return None
    country = fields.get("c", "").upper() or None
    kinds = frozenset(k for k in map(anonymity_kind, fields.get("y", "").split(",")) if k is not None)
    jurisdiction = Jurisdiction(
        country,
        fields.get("s", "").upper() or None,
        fields.get("a") == "1",
        "test" if kind == "test" else "preview",
        kinds=kinds,
    )
    return Token("test" if kind == "test" else "preview", jurisdiction, fields.get("p", ""), expires, at)


class TokenReader:
    """Takes a token off a request: verifies it, and strips it whatever it says, before the app sees the request."""

    __slots__ = ("secret",)

    def __init__(self, secret: object) -> None:
        self.secret = check_secret(secret)

    def take(self, scope: Mapping[str, Any], now: float) -> tuple[dict[str, Any] | None, Token | None]:
        """(the scope without the token, the token where it is honoured); (None, None) when there is none."""
        headers = scope.get("headers") or ()
        query: bytes = scope.get("query_string") or b""
        in_query = _PARAM_BYTES in query
        header = None
        for key, found in headers:
            if key == TOKEN_HEADER:
                header = found
                break
        if header is None and not in_query:
            return None, None
        stripped: dict[str, Any] = dict(scope)
        value: str | None = None
        kind: Kind = "test"
        if header is not None:
            stripped["headers"] = [(k, v) for k, v in headers if k != TOKEN_HEADER]
            value = bytes(header).decode("latin-1")
        if in_query:
            kept = []
            for part in query.split(b"&"):
                if part.startswith(_PARAM_BYTES):
                    if value is None:
                        value, kind = part[len(_PARAM_BYTES) :].decode("latin-1"), "preview"
                else:
                    kept.append(part)
            stripped["query_string"] = b"&".join(kept)
        token = read(value, self.secret, now) if value is not None else None
        if token is None or token.kind != kind or not token.covers(str(scope.get("path", ""))):
            return stripped, None
        extensions = dict(stripped.get("extensions") or {})
        extensions["compliance.jurisdiction"] = token.jurisdiction
        if token.at is not None:
            extensions[TEST_AT_EXTENSION] = token.at
        stripped["extensions"] = extensions
        return stripped, token
