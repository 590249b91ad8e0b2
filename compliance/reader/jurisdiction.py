"""Where a reader is, as the rules see it: the `Jurisdiction` value, and the codes a CDN may send."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    pass


__all__ = [
    "ANONYMITY_KINDS",
    "UNKNOWN_JURISDICTION",
    "Jurisdiction",
    "Source",
    "anonymity_kind",
    "given_jurisdiction",
    "normalise_country",
    "normalise_subdivision",
]

logger = logging.getLogger("compliance")

#: The kinds of anonymity a rule can name, each a jurisdiction of its own: a Tor exit, a VPN that
#: hides its users, an open proxy, a proxy through residential addresses, a hosting provider's network.
ANONYMITY_KINDS: Final = ("tor", "anonymous-vpn", "public-proxy", "residential-proxy", "hosting-provider")
#: Short forms a test case or `explain --anonymous` may write.
_KIND_ALIASES: Final = {"vpn": "anonymous-vpn", "proxy": "public-proxy"}

#: How a jurisdiction was found.
Source = Literal["header", "geoip", "embedded", "static", "test", "preview", "edge", "none"]


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A reader's jurisdiction, as the rules see it.

    `country` is an ISO 3166-1 alpha-2 code, or None when no source knew it
    ("unknown" in rules). `subdivision` is a full ISO 3166-2 code (`UA-43`) or None.
    `anonymous` is True for a Tor exit or anonymizer. `source` says which source
    answered. `jurisdiction_class` names the reader's jurisdiction class where
    the middleware was given one by the edge (see `compliance.rules.classes`); it
    is not part of the value's identity. `kinds` are the kinds of anonymity found
    (`ANONYMITY_KINDS`): a VPN reader keeps the exit's country and is
    `anonymous-vpn` besides; a Tor reader's country is unknown.
    """

    country: str | None
    subdivision: str | None = None
    anonymous: bool = False
    source: Source = "none"
    jurisdiction_class: str | None = field(default=None, compare=False)
    kinds: frozenset[str] = frozenset()
    # Computed once: the value keys the per-page decision cache on every request.
    _hash: int = field(init=False, repr=False, compare=False)
    _codes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_hash", hash((self.country, self.subdivision, self.anonymous, self.source, self.kinds))
        )
        codes = {self.country if self.country is not None else "unknown", *self.kinds}
        if self.subdivision is not None:
            codes.add(self.subdivision)
        if self.anonymous:
            codes.add("anonymous")
        object.__setattr__(self, "_codes", frozenset(codes))

    def __hash__(self) -> int:
        return self._hash

    @property
    def codes(self) -> frozenset[str]:
        """The jurisdiction codes a rule can name that this reader matches (besides "*")."""
        return self._codes

    def named(self, jurisdiction_class: str) -> Jurisdiction:
        """This reader, naming the jurisdiction class an edge sent."""
        return Jurisdiction(self.country, self.subdivision, self.anonymous, self.source, jurisdiction_class, self.kinds)

    def __str__(self) -> str:
        where = self.subdivision or self.country or "unknown"
        how = ", ".join(sorted(self.kinds)) or "anonymous"
        return f"{where}{f' ({how})' if self.anonymous or self.kinds else ''} via {self.source}"


UNKNOWN_JURISDICTION = Jurisdiction(None, None, False, "none")


def anonymity_kind(value: str) -> str | None:
    """The kind of anonymity `value` names (`tor`, `vpn` or `anonymous-vpn`, ...), or None."""
    word = value.strip().lower()
    word = _KIND_ALIASES.get(word, word)
    return word if word in ANONYMITY_KINDS else None


def given_jurisdiction(
    country: str | None, subdivision: str | None = None, anonymity: str | None = None, source: Source = "test"
) -> Jurisdiction:
    """The reader a test case or `explain` states: `country` a code, `unknown` or `anonymous` (a Tor exit);
    `anonymity` a kind of `ANONYMITY_KINDS`. A Tor reader's country is unknown; any other kind keeps it.
    A hosting provider's reader is not `anonymous` (as the anonymous-IP database counts by default)."""
    if country in ("unknown", None):
        country = None
    if country == "anonymous":
        country, anonymity = None, anonymity or "tor"
    if anonymity is None:
        return Jurisdiction(country, subdivision, False, source)
    if anonymity == "tor":
        return Jurisdiction(None, None, True, source, kinds=frozenset({"tor"}))
    return Jurisdiction(country, subdivision, anonymity != "hosting-provider", source, kinds=frozenset({anonymity}))


#: CDN country values that mean "this source does not know".
_NOT_A_COUNTRY: Final = frozenset({"XX", "ZZ"})
#: The CDN country value for a Tor exit.
TOR: Final = "T1"
#: Header values longer than this are not codes and are not looked at.
MAX_CODE_LENGTH: Final = 16
CODE_CACHE_SIZE: Final = 1024


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code, and XK (Kosovo)."""
    return database_codes("3166-1", "alpha_2") | {"XK"}


@cache
def subdivision_codes() -> frozenset[str]:
    """Every ISO 3166-2 subdivision code."""
    return database_codes("3166-2", "code")


def database_codes(standard: str, field: str) -> frozenset[str]:
    """Every value of `field` in pycountry's database of an ISO standard (`3166-1`, `3166-2`, `639-3`),
    as its JSON file writes it.

    Read from the JSON file pycountry ships, without importing pycountry: its import costs a
    worker about 25 ms (it reads its own version through `importlib.metadata`), and its first
    use of a database builds an object and an index entry per field for each of its thousands
    of entries (about 45 ms for the subdivisions), for a set of codes.
    """
    spec = importlib.util.find_spec("pycountry")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pycountry is not installed")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "databases", f"iso{standard}.json")
    with open(path, encoding="utf-8") as stream:
        entries = json.load(stream)[standard]
    return frozenset(entry[field] for entry in entries if field in entry)


def normalise_country(value: str) -> str | None:
    """A CDN country header value as an ISO 3166-1 alpha-2 code, or None.

    ` ru ` is `RU`; `XK` (Kosovo) is a country; `T1` (Tor) is returned as `T1`
    for the caller to read as anonymous. `XX`, `ZZ`, an empty value and anything
    that is not a country code are None: this source does not know.
    """
    if not isinstance(value, str) or len(value) > MAX_CODE_LENGTH:
        return None
    code = value.strip().upper()
    if code == TOR:
        return TOR
    if code in _NOT_A_COUNTRY or code not in country_codes():
        return None
    return code


def normalise_subdivision(country: str, value: str) -> str | None:
    """A CDN region header value as a full ISO 3166-2 code, or None.

    Takes the part after the dash (`43`, as CloudFront's
    `CloudFront-Viewer-Country-Region` and Cloudflare's `cf-region-code` send it),
    the full code (`UA-43`) or the code without its dash (`UA43`, as Google Cloud's
    `X-Client-Region-Subdivision` sends it); either way the code must be a subdivision of
    `country` that ISO 3166-2 knows.
    """
    if not isinstance(value, str) or len(value) > MAX_CODE_LENGTH:
        return None
    part = value.strip().upper()
    if not part:
        return None
    code = part if "-" in part else f"{country}-{part}"
    if code not in subdivision_codes() and "-" not in part and part.startswith(country) and len(part) > len(country):
        code = f"{country}-{part[len(country) :]}"  # Google Cloud's form: `UA43`
    if not code.startswith(country + "-") or code not in subdivision_codes():
        return None
    return code
