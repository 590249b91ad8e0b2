"""Where a reader is: the Jurisdiction value, and the resolvers that find it.

`JurisdictionResolver` is the one object the middleware holds. Per request it
finds the client address (`client_ip`), then asks, in order, the sources that can
tell where that address is, and the first that knows answers:

1. a CDN country header (and region header), believed only from a trusted proxy;
2. the GeoIP database, where one is configured (`GeoIP2Resolver`);
3. the embedded offline table (`EmbeddedResolver`, the `iptocc` package).

A `Resolver` given explicitly (a `StaticResolver` in tests and on the command
line) replaces 2 and 3. Private, loopback, link-local, multicast, reserved and
documentation addresses are always `unknown`: no source is asked about them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal, Protocol

from .client_ip import TrustedProxies, client_address, normalise_ip
from .errors import ConfigError

__all__ = [
    "UNKNOWN_JURISDICTION",
    "EmbeddedResolver",
    "GeoIP2Resolver",
    "Jurisdiction",
    "JurisdictionResolver",
    "Resolver",
    "Source",
    "StaticResolver",
    "is_public",
    "normalise_country",
    "normalise_subdivision",
]

logger = logging.getLogger("compliance")

#: How a jurisdiction was found.
Source = Literal["header", "geoip", "embedded", "static", "test", "none"]


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A reader's jurisdiction, as the rules see it.

    `country` is an ISO 3166-1 alpha-2 code, or None when no source knew it
    ("unknown" in rules). `subdivision` is a full ISO 3166-2 code (`UA-43`) or None.
    `anonymous` is True for a Tor exit or anonymizer. `source` says which source
    answered.
    """

    country: str | None
    subdivision: str | None = None
    anonymous: bool = False
    source: Source = "none"

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
_MAX_CODE_LENGTH: Final = 16
_CODE_CACHE_SIZE: Final = 1024


def is_public(ip: str) -> bool:
    """Whether `ip` is a globally routed unicast address, one a database can place.

    Private, loopback, link-local, multicast, reserved, unspecified, shared (CGNAT)
    and documentation addresses are not; nor is anything that is not an address.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@cache
def _countries() -> frozenset[str]:
    import pycountry

    return frozenset(country.alpha_2 for country in pycountry.countries) | {"XK"}


@cache
def _subdivisions() -> frozenset[str]:
    import pycountry

    return frozenset(subdivision.code for subdivision in pycountry.subdivisions)


def normalise_country(value: str) -> str | None:
    """A CDN country header value as an ISO 3166-1 alpha-2 code, or None.

    ` ru ` is `RU`; `XK` (Kosovo) is a country; `T1` (Tor) is returned as `T1`
    for the caller to read as anonymous. `XX`, `ZZ`, an empty value and anything
    that is not a country code are None: this source does not know.
    """
    if not isinstance(value, str) or len(value) > _MAX_CODE_LENGTH:
        return None
    code = value.strip().upper()
    if code == TOR:
        return TOR
    if code in _NOT_A_COUNTRY or code not in _countries():
        return None
    return code


def normalise_subdivision(country: str, value: str) -> str | None:
    """A CDN region header value as a full ISO 3166-2 code, or None.

    Takes the part after the dash (`43`, as CloudFront's
    `CloudFront-Viewer-Country-Region` and Cloudflare's `cf-region-code` send it)
    or the full code (`UA-43`); either way the code must be a subdivision of
    `country` that ISO 3166-2 knows.
    """
    if not isinstance(value, str) or len(value) > _MAX_CODE_LENGTH:
        return None
    part = value.strip().upper()
    if not part:
        return None
    code = part if "-" in part else f"{country}-{part}"
    if not code.startswith(country + "-") or code not in _subdivisions():
        return None
    return code


class Resolver(Protocol):
    """A source that can tell where an address is.

    `lookup` gets a canonical address (as `normalise_ip` returns it) and answers a
    Jurisdiction, or None when this source does not know. It must not raise for
    an address it has no entry for.
    """

    def lookup(self, ip: str) -> Jurisdiction | None: ...


class GeoIP2Resolver:
    """Addresses looked up in a MaxMind GeoIP2 / GeoLite2 database (or one of its shape).

    One `geoip2.database.Reader` is opened here, memory-mapped through the C
    extension where it is installed (MODE_AUTO), and kept until `close()`.
    Country, City and Enterprise databases are read; the reader's `country` is
    used, never `registered_country` (where the network is registered, not where
    the reader is). The subdivision is the country code, `-`, and the most
    specific subdivision's code: `UA` + `43` is `UA-43`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import geoip2.database
        import maxminddb

        self.path = os.fspath(path)
        try:
            self._reader = geoip2.database.Reader(self.path, mode=geoip2.database.MODE_AUTO)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot open GeoIP database {self.path!r}: {reason}") from None
        self.database_type: str = self._reader.metadata().database_type
        if "Anonymous" in self.database_type or not any(
            kind in self.database_type for kind in ("City", "Enterprise", "Country")
        ):
            self._reader.close()
            raise ConfigError(
                f"GeoIP database {self.path!r} is a {self.database_type!r} database; "
                "a Country, City or Enterprise database is needed"
            )
        # The records of all three shapes carry `country` and (City, Enterprise)
        # `subdivisions`; reading the record's dict directly costs a third of
        # building geoip2's model, and a miss is a None rather than an exception.
        self._get = self._reader._db_reader.get
        self._invalid = maxminddb.InvalidDatabaseError
        self._answers: dict[tuple[str, str | None], Jurisdiction] = {}

    def lookup(self, ip: str) -> Jurisdiction | None:
        try:
            record = self._get(ip)
        except (ValueError, self._invalid) as exc:
            logger.warning("compliance: GeoIP lookup of %s in %s failed: %s", ip, self.path, exc)
            return None
        if not isinstance(record, dict):
            return None
        country = record.get("country")
        code = country.get("iso_code") if isinstance(country, dict) else None
        if not isinstance(code, str) or not code:
            return None
        subdivision = None
        subdivisions = record.get("subdivisions")
        if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[-1], dict):
            part = subdivisions[-1].get("iso_code")
            if isinstance(part, str) and part:
                subdivision = f"{code}-{part}"
        key = (code, subdivision)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = Jurisdiction(code, subdivision, False, "geoip")
        return answer

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> GeoIP2Resolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GeoIP2Resolver({self.path!r}, {self.database_type!r})"


class EmbeddedResolver:
    """Addresses looked up in the embedded regional internet registry table (`iptocc`).

    Works offline with nothing to download. The registries record the country a
    network was assigned in, which is coarser than a GeoIP database: no
    subdivisions, and no record of where a network is actually used.
    """

    def __init__(self) -> None:
        import iptocc

        self._country_code = iptocc.country_code
        self._answers: dict[str, Jurisdiction] = {}

    def lookup(self, ip: str) -> Jurisdiction | None:
        code = self._country_code(ip)
        if code is None:
            return None
        answer = self._answers.get(code)
        if answer is None:
            if code not in _countries():
                return None
            answer = self._answers[code] = Jurisdiction(code, None, False, "embedded")
        return answer

    def __repr__(self) -> str:
        return "EmbeddedResolver()"


class StaticResolver:
    """Addresses looked up in a fixed table: for tests and the command line.

    Keys are addresses or networks (`"95.173.136.0/24"`); values a country (`RU`),
    a subdivision (`UA-43`), `unknown` or `anonymous`. The most specific network
    that holds an address answers; an address in none of them is not known.
    """

    def __init__(self, mapping: Mapping[str, str]) -> None:
        networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Jurisdiction]] = []
        for key, value in mapping.items():
            try:
                network = ipaddress.ip_network(normalise_ip(key) or key.strip(), strict=True)
            except (ValueError, TypeError, AttributeError):
                raise ConfigError(f"static jurisdiction key {key!r} is not an IP address or network") from None
            networks.append((network, _static_answer(key, value)))
        networks.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self._networks = tuple(networks)

    def lookup(self, ip: str) -> Jurisdiction | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for network, answer in self._networks:
            if address.version == network.version and address in network:
                return answer
        return None

    def __repr__(self) -> str:
        return f"StaticResolver({ {str(network): str(answer) for network, answer in self._networks}!r})"


def _static_answer(key: str, value: str) -> Jurisdiction:
    if not isinstance(value, str):
        raise ConfigError(f"static jurisdiction for {key!r} is {value!r}, not a code")
    code = value.strip()
    if code == "unknown":
        return Jurisdiction(None, None, False, "static")
    if code == "anonymous":
        return Jurisdiction(None, None, True, "static")
    if code.count("-") == 1:
        country = code.partition("-")[0]
        if country in _countries() and normalise_subdivision(country, code) == code:
            return Jurisdiction(country, code, False, "static")
    elif code != TOR and normalise_country(code) == code:
        return Jurisdiction(code, None, False, "static")
    raise ConfigError(
        f"static jurisdiction for {key!r} is {value!r}: expected a country (RU), "
        "a subdivision (UA-43), 'unknown' or 'anonymous'"
    )


_ANONYMOUS_BY_HEADER: Final = Jurisdiction(None, None, True, "header")


class JurisdictionResolver:
    """Finds a reader's jurisdiction from a request: the one object the middleware holds.

    `trusted_proxies` are the peers whose forwarding and CDN headers are
    believed. `country_header` / `region_header` name the CDN headers to believe
    (none by default). `resolver` replaces the address sources; otherwise they
    are the GeoIP database at `geoip_db` (where given), then the embedded table.
    Answers per address are kept in a cache of `cache_size` entries (0: none).

    `resolve()` never raises on anything a request carries.
    """

    def __init__(
        self,
        *,
        geoip_db: str | os.PathLike[str] | None = None,
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        country_header: str | None = None,
        region_header: str | None = None,
        resolver: Resolver | None = None,
        cache_size: int = 65536,
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(f"cache_size must be a whole number of entries, not {cache_size!r}")
        if region_header is not None and country_header is None:
            raise ConfigError("region_header is read only together with a country_header")
        self.trusted = (
            trusted_proxies if isinstance(trusted_proxies, TrustedProxies) else TrustedProxies(trusted_proxies)
        )
        self.country_header = _header_name(country_header, "country_header")
        self.region_header = _header_name(region_header, "region_header")
        self._country_key = country_header.lower().encode("latin-1") if country_header else None
        self._region_key = region_header.lower().encode("latin-1") if region_header else None
        if self._country_key is not None:
            _countries(), _subdivisions()  # load the code tables now, not on a request
        self._owned: list[GeoIP2Resolver] = []
        if resolver is not None:
            self._resolvers: tuple[Resolver, ...] = (resolver,)
        elif geoip_db is not None:
            geoip = GeoIP2Resolver(geoip_db)
            self._owned.append(geoip)
            self._resolvers = (geoip, EmbeddedResolver())
        else:
            self._resolvers = (EmbeddedResolver(),)
        self.cache_size = cache_size
        self._cache: dict[str, Jurisdiction] = {}
        self._header_cache: dict[tuple[bytes, bytes | None], Jurisdiction | None] = {}

    @property
    def uses_header(self) -> bool:
        """Whether a CDN country header is believed (answers then vary with that header)."""
        return self._country_key is not None

    @property
    def resolvers(self) -> tuple[Resolver, ...]:
        """The address sources, asked in order."""
        return self._resolvers

    def resolve(self, scope: Mapping[str, Any]) -> Jurisdiction:
        """The jurisdiction of the reader who sent the request `scope` (ASGI HTTP scope)."""
        ip, peer_trusted = client_address(scope, self.trusted)
        if peer_trusted and self._country_key is not None:
            answer = self._from_headers(scope)
            if answer is not None:
                return answer
        if ip is None:
            return UNKNOWN_JURISDICTION
        answer = self._cache.get(ip)
        if answer is None:
            answer = self._lookup(ip)
        return answer

    def resolve_ip(self, ip: str) -> Jurisdiction:
        """The jurisdiction of an address (any form `normalise_ip` reads), by the address sources alone."""
        address = normalise_ip(ip)
        if address is None:
            return UNKNOWN_JURISDICTION
        answer = self._cache.get(address)
        if answer is None:
            answer = self._lookup(address)
        return answer

    def _lookup(self, ip: str) -> Jurisdiction:
        answer: Jurisdiction | None = None
        if is_public(ip):
            for resolver in self._resolvers:
                answer = resolver.lookup(ip)
                if answer is not None:
                    break
        if answer is None:
            answer = UNKNOWN_JURISDICTION
        if self.cache_size:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[ip] = answer
        return answer

    def _from_headers(self, scope: Mapping[str, Any]) -> Jurisdiction | None:
        """What the CDN headers say, or None where they do not know."""
        country: bytes | None = None
        region: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name == self._country_key:
                if country is not None and value != country:
                    return None  # contradictory values: this source does not know
                country = value
            elif name == self._region_key:
                region = b"" if region is not None and value != region else value  # contradictory: ignored
        if country is None:
            return None
        key = (country, region)
        try:
            return self._header_cache[key]
        except KeyError:
            pass
        answer = _header_answer(country, region)
        if len(self._header_cache) >= _CODE_CACHE_SIZE:
            self._header_cache.clear()
        self._header_cache[key] = answer
        return answer

    def close(self) -> None:
        """Close the GeoIP database this resolver opened (a given `resolver` is left open)."""
        for resolver in self._owned:
            resolver.close()
        self._cache.clear()

    def __enter__(self) -> JurisdictionResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _header_answer(country_value: bytes, region_value: bytes | None) -> Jurisdiction | None:
    if len(country_value) > _MAX_CODE_LENGTH:
        return None
    country = normalise_country(country_value.decode("latin-1"))
    if country is None:
        return None
    if country == TOR:
        return _ANONYMOUS_BY_HEADER
    subdivision = None
    if region_value and len(region_value) <= _MAX_CODE_LENGTH:
        subdivision = normalise_subdivision(country, region_value.decode("latin-1"))
    return Jurisdiction(country, subdivision, False, "header")


def _header_name(name: str | None, option: str) -> str | None:
    if name is None:
        return None
    if (
        not isinstance(name, str)
        or not name.strip()
        or not all(33 <= ord(char) < 127 and char not in '"(),/:;<=>?@[\\]{}' for char in name)
    ):
        raise ConfigError(f"{option} {name!r} is not an HTTP header name")
    return name
