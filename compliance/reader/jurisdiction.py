"""Where a reader is, as the rules see it: the `Jurisdiction` value, and the codes a CDN may send."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    pass


__all__ = ["UNKNOWN_JURISDICTION", "Jurisdiction", "Source", "normalise_country", "normalise_subdivision"]

logger = logging.getLogger("compliance")

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
    is not part of the value's identity.
    """

    country: str | None
    subdivision: str | None = None
    anonymous: bool = False
    source: Source = "none"
    jurisdiction_class: str | None = field(default=None, compare=False)
    # Computed once: the value keys the per-page decision cache on every request.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.country, self.subdivision, self.anonymous, self.source)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def codes(self) -> frozenset[str]:
        """The jurisdiction codes a rule can name that this reader matches (besides "*")."""
        codes = {self.country if self.country is not None else "unknown"}
        if self.subdivision is not None:
            codes.add(self.subdivision)
        if self.anonymous:
            codes.add("anonymous")
        return frozenset(codes)

    def __str__(self) -> str:
        where = self.subdivision or self.country or "unknown"
        return f"{where}{' (anonymous)' if self.anonymous else ''} via {self.source}"


UNKNOWN_JURISDICTION = Jurisdiction(None, None, False, "none")


#: CDN country values that mean "this source does not know".
_NOT_A_COUNTRY: Final = frozenset({"XX", "ZZ"})
#: The CDN country value for a Tor exit.
TOR: Final = "T1"
#: Header values longer than this are not codes and are not looked at.
MAX_CODE_LENGTH: Final = 16
CODE_CACHE_SIZE: Final = 1024


@cache
def country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(country.alpha_2 for country in pycountry.countries) | {"XK"}


@cache
def subdivision_codes() -> frozenset[str]:
    import pycountry

    return frozenset(subdivision.code for subdivision in pycountry.subdivisions)


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
    `CloudFront-Viewer-Country-Region` and Cloudflare's `cf-region-code` send it)
    or the full code (`UA-43`); either way the code must be a subdivision of
    `country` that ISO 3166-2 knows.
    """
    if not isinstance(value, str) or len(value) > MAX_CODE_LENGTH:
        return None
    part = value.strip().upper()
    if not part:
        return None
    code = part if "-" in part else f"{country}-{part}"
    if not code.startswith(country + "-") or code not in subdivision_codes():
        return None
    return code
