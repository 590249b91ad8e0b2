"""`when:` conditions: whether a request carries what a rule's condition asks for, in words too.

A condition is checked after the decision (which is cached per host, path, jurisdiction and
time), and only for the rules that carry one, so rule sets without `when:` pay nothing. The
request is read lazily: the Accept-Language list and the cookies are parsed only when a
condition asks for them, once per request, and bounded in entries whatever a client sends.

How a request is read:

- `accept_language`: the primary subtag of each entry of every `Accept-Language` field
  (`ru-RU` and `RU` are `ru`), whose quality is above 0; `*` names no language. At most
  `MAX_LANGUAGES` entries are read.
- `headers`: a header name matches in any case; the value is compared exactly (case and
  all) after the spaces around it are trimmed. A header sent more than once holds only
  where every copy has the value.
- `cookies`: the `name=value` pairs of every `Cookie` field, names and values compared
  exactly after the spaces around them are trimmed; a cookie sent more than once holds only
  where every copy has the value. At most `MAX_COOKIES` pairs are read.

Pure: raw ASGI header pairs (lower-case names) in, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from compliance.rules.model import Condition

__all__ = ["MAX_COOKIES", "MAX_LANGUAGES", "RequestFacts", "audit_labels", "holds", "raw_headers", "words"]

MAX_LANGUAGES: Final = 32
MAX_COOKIES: Final = 200


class RequestFacts:
    """What conditions read of one request: its headers, languages and cookies, parsed on first use."""

    __slots__ = ("_cookies", "_headers", "_languages")

    def __init__(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self._headers = headers
        self._languages: frozenset[str] | None = None
        self._cookies: dict[str, list[str]] | None = None

    @property
    def headers(self) -> Iterable[tuple[bytes, bytes]]:
        return self._headers

    def values(self, name: bytes) -> list[str]:
        """Every value of header `name` (lower case), trimmed."""
        return [bytes(value).decode("latin-1").strip(" \t") for key, value in self._headers if key == name]

    @property
    def languages(self) -> frozenset[str]:
        if self._languages is None:
            found: set[str] = set()
            entries = 0
            for value in self.values(b"accept-language"):
                for entry in value.split(",", MAX_LANGUAGES - entries)[: MAX_LANGUAGES - entries]:
                    entries += 1
                    tag, _, params = entry.partition(";")
                    primary = tag.strip().partition("-")[0].lower()
                    if primary and primary != "*" and _quality(params) > 0:
                        found.add(primary)
                if entries >= MAX_LANGUAGES:
                    break
            self._languages = frozenset(found)
        return self._languages

    @property
    def cookies(self) -> dict[str, list[str]]:
        if self._cookies is None:
            found: dict[str, list[str]] = {}
            pairs = 0
            for value in self.values(b"cookie"):
                for pair in value.split(";", MAX_COOKIES - pairs)[: MAX_COOKIES - pairs]:
                    pairs += 1
                    name, equals, text = pair.partition("=")
                    if equals:
                        found.setdefault(name.strip(" \t"), []).append(text.strip(" \t"))
                if pairs >= MAX_COOKIES:
                    break
            self._cookies = found
        return self._cookies


def _quality(params: str) -> float:
    """The `q` of an Accept-Language entry's parameters: 1 where absent, 0 where it cannot be read."""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def holds(condition: Condition, request: RequestFacts) -> bool:
    """Whether every part of `condition` holds for this request."""
    if condition.accept_language and request.languages.isdisjoint(condition.accept_language):
        return False
    for key, value in condition.raw_headers:
        sent = False
        for name, found in request.headers:
            # Compared as bytes, as sent (latin-1, as the values are read everywhere else), trimmed.
            if name == key:
                if found.strip(b" \t") != value:
                    return False
                sent = True
        if not sent:
            return False
    if condition.cookies:
        cookies = request.cookies
        for cookie, text in condition.cookies:
            carried = cookies.get(cookie)
            if not carried or any(v != text for v in carried):
                return False
    return True


def raw_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header pairs as written (a case file's, a command line's) in the ASGI form conditions read."""
    return [(name.strip().lower().encode("latin-1"), value.encode("latin-1", "replace")) for name, value in pairs]


def words(condition: Condition) -> str:
    """The condition in words: `only when the reader's browser sends Sec-GPC: 1`."""
    parts = []
    if condition.accept_language:
        parts.append(f"the reader's browser asks for {' or '.join(condition.accept_language)} (Accept-Language)")
    parts.extend(f"the reader's browser sends {name}: {value}" for name, value in condition.headers)
    parts.extend(f"the request carries the cookie {name}={value}" for name, value in condition.cookies)
    return "only when " + " and ".join(parts)


def audit_labels(condition: Condition) -> list[str]:
    """What the audit records of a condition that held: never a cookie's value (it may be personal)."""
    return [
        *([f"accept-language: {', '.join(condition.accept_language)}"] if condition.accept_language else []),
        *(f"header {name}: {value}" for name, value in condition.headers),
        *(f"cookie {name}" for name, _ in condition.cookies),
    ]
