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

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from compliance.errors import ConfigError
from compliance.reader.address import TrustedProxies, is_public, normalise_ip
from compliance.reader.databases import EmbeddedResolver, GeoIP2Resolver, Resolver
from compliance.reader.jurisdiction import (
    CODE_CACHE_SIZE,
    MAX_CODE_LENGTH,
    TOR,
    UNKNOWN_JURISDICTION,
    Jurisdiction,
    country_codes,
    normalise_country,
    normalise_subdivision,
    subdivision_codes,
)

if TYPE_CHECKING:
    from compliance.reader.anonymous import AnonymousIPDatabase


__all__ = ["JurisdictionResolver"]

logger = logging.getLogger("compliance")


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
            country_codes(), subdivision_codes()  # load the code tables now, not on a request
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
            from compliance.reader.anonymous import AnonymousIPDatabase

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

    def believes_cdn(self, scope: Mapping[str, Any]) -> bool:
        """Whether this request's CDN headers are believed: the country and region headers, and
        the middleware's jurisdiction-class header, follow this one rule (the peer is a trusted proxy)."""
        client = scope.get("client")
        return client is not None and client[0] in self.trusted

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
                if country is not None and self.believes_cdn(scope):
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
        if len(country) > MAX_CODE_LENGTH:
            return None
        if region is not None and len(region) > MAX_CODE_LENGTH:
            return _header_answer(country, None)
        answer = _header_answer(country, region)
        if len(self._header_cache) >= CODE_CACHE_SIZE:
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
