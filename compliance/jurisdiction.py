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
import socket
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from .client_ip import TrustedProxies, normalise_ip
from .errors import ConfigError

if TYPE_CHECKING:
    from .anonymous import AnonymousIPDatabase

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
_MAX_CODE_LENGTH: Final = 16
_CODE_CACHE_SIZE: Final = 1024


#: Where no database can place a reader (IANA special-purpose registries): private,
#: shared (CGNAT), loopback, link-local, documentation, benchmarking, multicast and
#: reserved space. Of IPv6, only global unicast (2000::/3) is looked at.
_NOT_PUBLIC_V4: Final = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
_NOT_PUBLIC_V6: Final = (
    "::/3",  # unspecified, loopback, IPv4-compatible, NAT64, discard, ...
    "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID)
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
    "4000::/2",  # not allocated; above them ULA, link-local, site-local, multicast
    "8000::/1",
)


def _ranges(networks: Iterable[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted first and last addresses of `networks`, as integers, for bisect."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in map(ipaddress.ip_network, networks))
    return tuple(first for first, _ in spans), tuple(last for _, last in spans)


_NOT_PUBLIC_RANGES: Final = {4: _ranges(_NOT_PUBLIC_V4), 6: _ranges(_NOT_PUBLIC_V6)}


def is_public(ip: str) -> bool:
    """Whether `ip` is a globally routed unicast address, one a database can place.

    Private, shared (CGNAT), loopback, link-local, multicast, reserved,
    unspecified, benchmarking and documentation addresses are not (192.0.2.0/24,
    198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 included); nor is anything that
    is not an address. `::ffff:a.b.c.d` is read as `a.b.c.d`.
    """
    try:  # inet_pton: a fifth of the cost of ipaddress, and as strict
        if ":" in ip:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
            version = 6
            if value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
                value, version = value & 0xFFFFFFFF, 4
        else:
            value, version = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big"), 4
    except (OSError, ValueError, TypeError):
        return False
    firsts, lasts = _NOT_PUBLIC_RANGES[version]
    index = bisect_right(firsts, value) - 1
    return index < 0 or value > lasts[index]


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

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval: float | None = None,
        on_reload: Callable[[], object] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.on_reload = on_reload
        from .reload import Poller, stamp_files

        self._stamp = stamp_files([self.path])
        self._open()
        self._answers: dict[tuple[str, str | None], Jurisdiction] = {}
        self._closed = False
        self._poller = None if interval is None else Poller(self, float(interval), "compliance GeoIP watcher")

    #: The file is checked every interval (nothing is ever deferred); see `compliance.reload.Poller`.
    retry_in: float | None = None

    def start(self) -> None:
        """Start watching the file for replacement (as `geoipupdate` replaces it)."""
        if self._poller is not None:
            self._poller.start()

    def poll(self) -> bool:
        """Open the file again if it was replaced. True when a new database is in force."""
        from .reload import stamp_files

        stamp = stamp_files([self.path])
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        old = self._reader
        try:
            self._open()
        except ConfigError as exc:
            logger.error("compliance: the GeoIP database was not reloaded; the one in force stays: %s", exc)
            return False
        del old  # left to the garbage collector: a lookup may still be using it
        logger.info("compliance: GeoIP database %s reloaded (%s)", self.path, self.database_type)
        if self.on_reload is not None:
            self.on_reload()
        return True

    def _open(self) -> None:
        import geoip2.database
        import maxminddb

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
        # `subdivisions`. Reading the record from the Reader's underlying
        # maxminddb reader costs a third of building geoip2's model, and a miss
        # is a None there rather than an exception (0.4 against 3 µs).
        self._get = self._reader._db_reader.get
        self._invalid = maxminddb.InvalidDatabaseError

    def lookup(self, ip: str) -> Jurisdiction | None:
        try:
            record = self._get(ip)
        except self._invalid as exc:  # a damaged record: this source does not know
            logger.warning("compliance: a GeoIP lookup in %s failed: %s", self.path, exc)
            return None
        except ValueError:
            if self._closed:
                raise
            return None  # not an address
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
        self._closed = True
        if self._poller is not None:
            self._poller.stop()
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
#: A CDN header sent twice with different values: that source does not know.
_CONTRADICTED: Final = b"\x00contradicted"
_FORWARDED, _X_FORWARDED_FOR, _COUNTRY, _REGION = range(4)


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
        anonymous_db: str | os.PathLike[str] | None = None,
        reload_interval: float | None = 1.0,
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
        #: The headers a trusted peer's request is read for, and their slots.
        self._wanted = {b"forwarded": _FORWARDED, b"x-forwarded-for": _X_FORWARDED_FOR}
        for key, slot in ((self._country_key, _COUNTRY), (self._region_key, _REGION)):
            if key is not None:
                if key in self._wanted:
                    raise ConfigError(f"{key.decode()!r} cannot be a CDN header: it is read for something else")
                self._wanted[key] = slot
        if self._country_key is not None:
            _countries(), _subdivisions()  # load the code tables now, not on a request
        self._owned: list[GeoIP2Resolver] = []
        if resolver is not None:
            self._resolvers: tuple[Resolver, ...] = (resolver,)
        elif geoip_db is not None:
            geoip = GeoIP2Resolver(geoip_db, interval=reload_interval, on_reload=self._forget)
            self._owned.append(geoip)
            self._resolvers = (geoip, EmbeddedResolver())
        else:
            self._resolvers = (EmbeddedResolver(),)
        self.cache_size = cache_size
        self._cache: dict[str, Jurisdiction] = {}
        self._header_cache: dict[tuple[bytes, bytes | None], Jurisdiction | None] = {}
        self.anonymous: AnonymousIPDatabase | None = None
        if anonymous_db is not None:
            from .anonymous import AnonymousIPDatabase

            self.anonymous = AnonymousIPDatabase(anonymous_db, interval=reload_interval, on_reload=self._forget)

    def _forget(self) -> None:
        """Empty the per-address cache (a database was replaced)."""
        self._cache = {}

    def start(self) -> None:
        """Start watching the databases for replacement (the middleware calls it on each request)."""
        if self._started:
            return
        self._started = True
        for resolver in self._owned:
            resolver.start()
        if self.anonymous is not None:
            self.anonymous.start()

    _started = False

    @property
    def uses_header(self) -> bool:
        """Whether a CDN country header is believed (answers then vary with that header)."""
        return self._country_key is not None

    @property
    def resolvers(self) -> tuple[Resolver, ...]:
        """The address sources, asked in order."""
        return self._resolvers

    def resolve(self, scope: Mapping[str, Any]) -> Jurisdiction:
        """The jurisdiction of the reader who sent the request `scope` (ASGI HTTP scope).

        What `client_address` does, with the CDN headers read in the same pass
        over the headers.
        """
        client = scope.get("client")
        peer = client[0] if client else None
        trusted = self.trusted
        if peer not in trusted:
            ip = normalise_ip(peer)
        else:
            found: list[bytes | None] | None = None
            wanted = self._wanted.get
            for name, value in scope.get("headers") or ():
                slot = wanted(name)
                if slot is not None:
                    if found is None:
                        found = [None, None, None, None]
                    seen = found[slot]
                    if seen is None:
                        found[slot] = value
                    elif slot < _COUNTRY:  # forwarding headers: every instance, in order
                        found[slot] = seen + b"," + value
                    elif value != seen:  # CDN headers: two different values mean nothing
                        found[slot] = _CONTRADICTED
            if found is None:
                ip = normalise_ip(peer)
            else:
                forwarded, x_forwarded_for, country, region = found
                if country is not None:
                    answer = self._from_headers(country, region)
                    if answer is not None:
                        return answer
                ip = trusted.client_of(peer, forwarded, x_forwarded_for)
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
        if self.anonymous is not None and is_public(ip):
            answer = self.anonymous.mark(answer, ip)
        if self.cache_size:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[ip] = answer
        return answer

    def _from_headers(self, country: bytes, region: bytes | None) -> Jurisdiction | None:
        """What the CDN headers say, or None where they do not know."""
        key = (country, region)
        try:
            return self._header_cache[key]
        except KeyError:
            pass
        if len(country) > _MAX_CODE_LENGTH:
            return None
        if region is not None and len(region) > _MAX_CODE_LENGTH:
            return _header_answer(country, None)
        answer = _header_answer(country, region)
        if len(self._header_cache) >= _CODE_CACHE_SIZE:
            self._header_cache.clear()
        self._header_cache[key] = answer
        return answer

    def close(self) -> None:
        """Close the GeoIP database this resolver opened (a given `resolver` is left open)."""
        for resolver in self._owned:
            resolver.close()
        if self.anonymous is not None:
            self.anonymous.close()
        self._cache.clear()

    def __enter__(self) -> JurisdictionResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _header_answer(country_value: bytes, region_value: bytes | None) -> Jurisdiction | None:
    if country_value == _CONTRADICTED:
        return None
    country = normalise_country(country_value.decode("latin-1"))
    if country is None:
        return None
    if country == TOR:
        return _ANONYMOUS_BY_HEADER
    subdivision = None
    if region_value and region_value != _CONTRADICTED:
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
