"""Where a reader is: the Jurisdiction value, and the resolvers that find it.

`JurisdictionResolver` is the one object the middleware holds. Per request it
finds the client address (`client_ip`), then asks, in order, the sources that can
tell where that address is, and the first that knows answers:

1. a CDN country header (and region header), believed only from the CDN's hop
   (`cdn_proxies`; where none is named, from any trusted proxy, with a warning);
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
from compliance.reader.address import (
    CLIENT_IP_HEADERS,
    FORWARDING_HEADERS,
    TrustedProxies,
    client_address,
    forwarding_chain,
    is_public,
    normalise_ip,
    single_client,
)
from compliance.reader.databases import DEFAULT_GEOIP_MAX_AGE_DAYS, EmbeddedResolver, GeoIP2Resolver, Resolver
from compliance.reader.edge_headers import COMPOUND_HEADERS, MAX_COMPOUND_LENGTH
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
from compliance.reader.traps import DeploymentTraps

if TYPE_CHECKING:
    from compliance.reader.anonymous import AnonymousIPDatabase


__all__ = ["JurisdictionResolver"]

logger = logging.getLogger("compliance")


#: A CDN's `T1`: a Tor exit, anonymous, its country unknown.
_ANONYMOUS_BY_HEADER: Final = Jurisdiction(None, None, True, "header", kinds=frozenset({"tor"}))
#: A CDN header sent twice with different values: that source does not know.
_CONTRADICTED: Final = b"\x00contradicted"
_CHAIN, _OTHER, _COUNTRY, _REGION = range(4)


class JurisdictionResolver:
    """Finds a reader's jurisdiction from a request: the one object the middleware holds.

    `trusted_proxies` are the peers whose forwarding header is believed:
    `forwarded_header` names the one the proxies write (`x-forwarded-for`, the
    default, or `forwarded`); the other is ignored, so a client cannot send it to
    contradict the proxies. `fastly-client-ip` reads instead the one address Fastly
    sends in `Fastly-Client-IP`, again only from a trusted peer. `country_header` / `region_header` name the CDN
    headers to believe (none by default), and `cdn_proxies` the CDN's own ranges:
    those headers are believed only from the hop that is the CDN (see
    `believes_cdn`). `cdn_proxies` are trusted proxies too. `resolver` replaces the address sources; otherwise they
    are the GeoIP database at `geoip_db` (where given), then the embedded table; a
    database built more than `geoip_max_age_days` ago gives a warning (None: never).
    Answers per address are kept in a cache of `cache_size` entries (0: none).

    `resolve()` never raises on anything a request carries.
    """

    def __init__(
        self,
        *,
        geoip_db: str | os.PathLike[str] | None = None,
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        forwarded_header: str = "x-forwarded-for",
        cdn_proxies: Iterable[str] | None = None,
        country_header: str | None = None,
        region_header: str | None = None,
        resolver: Resolver | None = None,
        cache_size: int = 65536,
        anonymous_db: str | os.PathLike[str] | None = None,
        reload_interval: float | None = 1.0,
        geoip_max_age_days: float | None = DEFAULT_GEOIP_MAX_AGE_DAYS,
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(f"cache_size must be a whole number of entries, not {cache_size!r}")
        if region_header is not None and country_header is None:
            raise ConfigError("region_header is read only together with a country_header")
        self.trusted = (
            trusted_proxies if isinstance(trusted_proxies, TrustedProxies) else TrustedProxies(trusted_proxies)
        )
        choices = (*FORWARDING_HEADERS, *CLIENT_IP_HEADERS)
        if not isinstance(forwarded_header, str) or forwarded_header.strip().lower() not in choices:
            raise ConfigError(
                f"forwarded_header {forwarded_header!r} is not one of {', '.join(choices)}: "
                "name the one header your proxies write"
            )
        self.forwarded_header = forwarded_header.strip().lower()
        #: The forwarding header read, and the one ignored (none beside a CDN's client-address header,
        #: whose CDN writes X-Forwarded-For as well: it is not read, and says nothing worth a warning).
        self.chain_key = self.forwarded_header.encode("latin-1")
        #: The header read names one address (`Fastly-Client-IP`), not a chain of hops.
        self._single = self.forwarded_header in CLIENT_IP_HEADERS
        self._other_key = (
            b"\x00none"
            if self._single
            else next(h for h in FORWARDING_HEADERS if h != self.forwarded_header).encode("latin-1")
        )
        self.cdn: TrustedProxies | None = None
        if cdn_proxies is not None:
            self.cdn = TrustedProxies(cdn_proxies)
            if not self.cdn:
                raise ConfigError("cdn_proxies names no address or network: name the CDN's ranges, or leave it out")
            self.trusted = TrustedProxies([*self.trusted.entries, *self.cdn.entries])
        self._warned: set[str] = set()
        #: Watches the first requests from untrusted peers for deployment traps (None: done).
        self._traps: DeploymentTraps | None = DeploymentTraps(bool(self.trusted))
        self.country_header = _header_name(country_header, "country_header")
        self.region_header = _header_name(region_header, "region_header")
        self._country_key = country_header.lower().encode("latin-1") if country_header else None
        #: Netlify's and Akamai's headers carry the country and the region in one value.
        self._compound = COMPOUND_HEADERS.get(country_header.lower()) if country_header else None
        if self._compound is not None and region_header is not None:
            raise ConfigError(f"{country_header} carries the region itself: leave region_header out")
        self._region_key = region_header.lower().encode("latin-1") if region_header else None
        #: The headers a trusted peer's request is read for, and their slots.
        self._wanted = {self.chain_key: _CHAIN, self._other_key: _OTHER}
        for key, slot in ((self._country_key, _COUNTRY), (self._region_key, _REGION)):
            if key is not None:
                if key in self._wanted:
                    raise ConfigError(f"{key.decode()!r} cannot be a CDN header: it is read for something else")
                self._wanted[key] = slot
        if self._country_key is not None:
            country_codes(), subdivision_codes()  # load the code tables now, not on a request
            if self.cdn is None:
                logger.warning(
                    "compliance: %s is believed from every trusted proxy, so a client that reaches a trusted "
                    "proxy without passing the CDN chooses its own country; name the CDN's ranges in cdn_proxies",
                    country_header,
                )
        self._owned: list[GeoIP2Resolver] = []
        if resolver is not None:
            self._resolvers: tuple[Resolver, ...] = (resolver,)
        elif geoip_db is not None:
            geoip = GeoIP2Resolver(
                geoip_db, interval=reload_interval, on_reload=self._forget, max_age_days=geoip_max_age_days
            )
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

    @property
    def geoip_built(self) -> str | None:
        """The build date (YYYY-MM-DD) of the GeoIP database in force, where one is configured."""
        return self._owned[0].build_date.date().isoformat() if self._owned else None

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

        What `client_address` does for the forwarding header, with the CDN headers
        read in the same pass over the headers.
        """
        client = scope.get("client")
        peer = client[0] if client else None
        trusted = self.trusted
        if peer not in trusted:
            ip = normalise_ip(peer)
            if self._traps is not None and not self._traps.look(scope, ip):
                self._traps = None
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
                chain, other, country, region = found
                if chain is None and other is not None:
                    self._warn_other_header()
                if country is not None and (self.cdn is None or self._from_cdn(peer, chain)):
                    answer = self._from_headers(country, region)
                    if answer is not None:
                        return answer
                if chain is None:
                    ip = normalise_ip(peer)
                elif self._single:
                    ip = single_client(chain)
                elif self.chain_key == b"forwarded":
                    ip = trusted.client_of(peer, chain, None)
                else:
                    ip = trusted.client_of(peer, None, chain)
        if ip is None:
            return UNKNOWN_JURISDICTION
        answer = self._cache.get(ip)
        if answer is None:
            answer = self._lookup(ip)
        return answer

    def client_ip(self, scope: Mapping[str, Any]) -> str | None:
        """The reader's address, as `resolve` finds it (None when unknown)."""
        return client_address(scope, self.trusted, self.chain_key)[0]

    def believes_cdn(self, scope: Mapping[str, Any]) -> bool:
        """Whether the CDN headers (country, region, class) of the request `scope` are believed.

        They are believed only from the hop that is the CDN: walking the
        forwarding chain from the peer leftwards through trusted proxies, the last
        trusted hop (the one the client connected to) must be in `cdn_proxies`.
        Where no `cdn_proxies` are named, from any trusted peer.
        """
        client = scope.get("client")
        peer = client[0] if client else None
        if peer not in self.trusted:
            return False
        if self.cdn is None:
            return True
        chain: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name == self.chain_key:
                chain = value if chain is None else chain + b"," + value
        return self._from_cdn(peer, chain)

    def _from_cdn(self, peer: str | None, chain: bytes | None) -> bool:
        assert self.cdn is not None
        hop = normalise_ip(peer)
        # A client-address header names no hops: the hop the client connected to is the peer.
        hops = forwarding_chain(self.chain_key, chain) if chain is not None and not self._single else []
        for entry in reversed(hops or ()):
            address = normalise_ip(entry) if entry is not None else None
            if address is None or address not in self.trusted:
                break
            hop = address
        return hop is not None and hop in self.cdn

    def _warn_other_header(self) -> None:
        if "other" in self._warned:
            return
        self._warned.add("other")
        other = self._other_key.decode()
        logger.warning(
            "compliance: a trusted proxy sent %s but not %s, which is the header read (forwarded_header); "
            "readers behind it are placed by the proxy's own address. If your proxies write %s, set "
            "forwarded_header=%r",
            other,
            self.forwarded_header,
            other,
            other,
        )

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
        if self._compound is not None:
            codes = self._compound(country) if len(country) <= MAX_COMPOUND_LENGTH else None
            if codes is None or codes[0] is None:
                self._unreadable(self.country_header, country)
                return None
            country, region = codes[0].encode("latin-1", "replace"), (codes[1] or "").encode("latin-1", "replace")
        if len(country) > MAX_CODE_LENGTH:
            self._unreadable(self.country_header, country)
            return None
        if region is not None and len(region) > MAX_CODE_LENGTH:
            self._unreadable(self.region_header, region)
            return _header_answer(country, None)
        answer = _header_answer(country, region)
        if answer is None and country != _CONTRADICTED and country.strip().upper() not in (b"XX", b"ZZ", b""):
            self._unreadable(self.country_header, country)
        if len(self._header_cache) >= CODE_CACHE_SIZE:
            self._header_cache.clear()
        self._header_cache[key] = answer
        return answer

    def _unreadable(self, header: str | None, value: bytes) -> None:
        """Log once per header that a configured CDN header sent a value that cannot be read."""
        if header is None or header in self._warned:
            return
        self._warned.add(header)
        logger.warning(
            "compliance: the configured header %s sent a value that cannot be read (%r); readers with such a "
            "value are placed by their address. Check that the CDN sends the header in the form it documents",
            header,
            value[:64].decode("latin-1"),
        )

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
