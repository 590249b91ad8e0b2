"""Sources that can tell where an address is: a GeoIP2 database, the embedded table, a static map.

Each is a `Resolver`: `lookup(ip)` answers a Jurisdiction, or None when the source does not know.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final, Protocol

from compliance.errors import ConfigError
from compliance.reader.address import normalise_ip
from compliance.reader.jurisdiction import (
    TOR,
    Jurisdiction,
    country_codes,
    normalise_country,
    normalise_subdivision,
)

__all__ = ["DEFAULT_GEOIP_MAX_AGE_DAYS", "EmbeddedResolver", "GeoIP2Resolver", "Resolver", "StaticResolver"]

logger = logging.getLogger("compliance")

#: A GeoIP database built longer ago than this gives a warning when it is opened.
DEFAULT_GEOIP_MAX_AGE_DAYS: Final = 45.0


class Resolver(Protocol):
    """A source that can tell where an address is.

    `lookup` gets a canonical address (as `normalise_ip` returns it) and answers a
    Jurisdiction, or None when this source does not know. It must not raise for
    an address it has no entry for.
    """

    def lookup(self, ip: str) -> Jurisdiction | None: ...


class GeoIP2Resolver:
    """Addresses looked up in a MaxMind GeoIP2 / GeoLite2 database (or one of its shape).

    The file is opened once with `maxminddb` (the reader library geoip2 is built
    on), memory-mapped through its C extension where it is installed (MODE_AUTO),
    and kept until `close()`.
    Country, City and Enterprise databases are read; the reader's `country` is
    used, never `registered_country` (where the network is registered, not where
    the reader is). The subdivision is the country code, `-`, and the most
    specific subdivision's code: `UA` + `43` is `UA-43`.

    `build_date` is when the database was built (its metadata's build epoch), UTC;
    one built more than `max_age_days` before it is opened (or reopened) gives a
    warning (None: never).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval: float | None = None,
        on_reload: Callable[[], object] | None = None,
        max_age_days: float | None = DEFAULT_GEOIP_MAX_AGE_DAYS,
    ) -> None:
        if max_age_days is not None and (
            isinstance(max_age_days, bool) or not isinstance(max_age_days, int | float) or not max_age_days > 0
        ):
            raise ConfigError(f"geoip_max_age_days must be a number of days above 0, or None, not {max_age_days!r}")
        self.path = os.fspath(path)
        self.on_reload = on_reload
        self.max_age_days = max_age_days
        from compliance._poll import Poller, stamp_files

        self._stamp = stamp_files([self.path])
        self._open()
        self._answers: dict[tuple[str, str | None], Jurisdiction] = {}
        self._closed = False
        self._poller = None if interval is None else Poller(self, float(interval), "compliance GeoIP watcher")

    #: The file is checked every interval (nothing is ever deferred); see `compliance._poll.Poller`.
    retry_in: float | None = None

    def start(self) -> None:
        """Start watching the file for replacement (as `geoipupdate` replaces it)."""
        if self._poller is not None:
            self._poller.start()

    def poll(self) -> bool:
        """Open the file again if it was replaced. True when a new database is in force."""
        from compliance._poll import stamp_files

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
        import maxminddb

        try:
            reader = maxminddb.open_database(self.path, maxminddb.MODE_AUTO)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot open GeoIP database {self.path!r}: {reason}") from None
        database_type = reader.metadata().database_type
        if "Anonymous" in database_type or not any(kind in database_type for kind in ("City", "Enterprise", "Country")):
            reader.close()
            raise ConfigError(
                f"GeoIP database {self.path!r} is a {database_type!r} database; "
                "a Country, City or Enterprise database is needed"
            )
        self._reader = reader
        self.database_type: str = database_type
        self.build_date = datetime.fromtimestamp(int(reader.metadata().build_epoch), UTC)
        #: Whether the database can tell subdivisions (City and Enterprise databases; not Country).
        self.subdivisions = "Country" not in database_type
        age = (time.time() - self.build_date.timestamp()) / 86400
        if self.max_age_days is not None and age > self.max_age_days:
            logger.warning(
                "compliance: the GeoIP database %s was built on %s, %d days ago (more than %s): readers may be "
                "placed where their addresses were, not where they are; update it (geoipupdate), or set "
                "geoip_max_age_days",
                self.path,
                self.build_date.date().isoformat(),
                age,
                f"{self.max_age_days:g}",
            )
        # The records of all three shapes carry `country` and (City, Enterprise)
        # `subdivisions`. The raw record costs a third of building geoip2's model,
        # and a miss is a None rather than an exception (0.4 against 3 µs).
        self._get = reader.get
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
            if code not in country_codes():
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
        if country in country_codes() and normalise_subdivision(country, code) == code:
            return Jurisdiction(country, code, False, "static")
    elif code != TOR and normalise_country(code) == code:
        return Jurisdiction(code, None, False, "static")
    raise ConfigError(
        f"static jurisdiction for {key!r} is {value!r}: expected a country (RU), "
        "a subdivision (UA-43), 'unknown' or 'anonymous'"
    )
