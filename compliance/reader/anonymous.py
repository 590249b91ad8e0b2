"""Readers who come through Tor or an anonymizer, from a MaxMind-format anonymous-IP database.

`AnonymousIPDatabase` reads a GeoIP2-Anonymous-IP database (or GeoIP-Anonymous-Plus,
which has the same flags) with geoip2. Which flags make a reader `anonymous`:

- counted by default: `is_tor_exit_node`, `is_anonymous_vpn`, `is_public_proxy`,
  `is_residential_proxy`: the reader chose to hide where they are;
- not counted by default: `is_hosting_provider` (a data centre: crawlers, company
  gateways and cloud desktops as much as VPNs) and `is_anonymous` alone (MaxMind
  sets it whenever any other flag is set, hosting included). Either can be added
  with `flags=`.

Each flag set is also a kind of anonymity a rule can name (`FLAG_KINDS`): `tor`,
`anonymous-vpn`, `public-proxy`, `residential-proxy`, `hosting-provider`, whether
it is counted or not. A Tor exit is read as a CDN's `T1` is: the reader is
`anonymous` and `tor`, their country `unknown`, since the address is the exit's.
Other anonymizers keep the country the address has (a VPN exit in the Netherlands
is `NL` and `anonymous-vpn`), and are `anonymous` besides where a counted flag is
set (`mark`).

Answers are cached per address (a bounded cache). The file is watched like the
rules: when it is replaced (as `geoipupdate` does, by renaming a new file into
place), the new one is opened and swapped in, and the cache starts afresh; a
file that does not open is logged and the one in force stays.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

from geoip2.errors import AddressNotFoundError as _AddressNotFound

from compliance._poll import Poller, reset_after_fork, stamp_files
from compliance.errors import ConfigError
from compliance.reader.jurisdiction import Jurisdiction

__all__ = ["ALL_FLAGS", "DEFAULT_FLAGS", "FLAG_KINDS", "AnonymousIPDatabase"]

logger = logging.getLogger("compliance")

#: The flags a reader is `anonymous` by, unless told otherwise.
DEFAULT_FLAGS: Final = ("is_anonymous_vpn", "is_public_proxy", "is_residential_proxy", "is_tor_exit_node")
#: Every flag the database has.
ALL_FLAGS: Final = frozenset({*DEFAULT_FLAGS, "is_anonymous", "is_hosting_provider"})
TOR_FLAG: Final = "is_tor_exit_node"
#: The kind of anonymity (a jurisdiction a rule can name) each flag stands for.
FLAG_KINDS: Final = {
    "is_tor_exit_node": "tor",
    "is_anonymous_vpn": "anonymous-vpn",
    "is_public_proxy": "public-proxy",
    "is_residential_proxy": "residential-proxy",
    "is_hosting_provider": "hosting-provider",
}

_NONE: Final[frozenset[str]] = frozenset()
#: What the database says of an address: its kinds of anonymity, and the counted flags set.
_Answer = tuple[frozenset[str], frozenset[str]]
_NOTHING: Final[_Answer] = (_NONE, _NONE)


class AnonymousIPDatabase:
    """Anonymizer flags of addresses, from a MaxMind-format anonymous-IP database at `path`.

    `flags` are the database flags that count (see the module's doc);
    `cache_size` bounds the answers kept (0: none); `interval` is the seconds
    between checks that the file was replaced (None: never); `on_reload` is
    called after a new file was put in force (to clear caches built on answers
    from the old one).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flags: Iterable[str] = DEFAULT_FLAGS,
        cache_size: int = 65536,
        interval: float | None = 1.0,
        on_reload: Callable[[], object] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.on_reload = on_reload
        self.flags = frozenset(flags)
        unknown = sorted(self.flags - ALL_FLAGS)
        if unknown or not self.flags:
            raise ConfigError(
                f"anonymous-IP flags {unknown or '(none)'} are not flags of the database; "
                f"choose from {', '.join(sorted(ALL_FLAGS))}"
            )
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigError(f"cache_size must be a whole number of entries, not {cache_size!r}")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0
        ):
            raise ConfigError(f"interval must be a positive number of seconds or None, not {interval!r}")
        self.cache_size = cache_size
        self._stamp = stamp_files([self.path])
        reader, lookup = _open(self.path)
        self.database_type: str = reader.metadata().database_type
        self._state: tuple[Any, Callable[[str], Any], dict[str, _Answer]] = (reader, lookup, {})
        self._lock = threading.Lock()
        self._started = False
        self._poller = None if interval is None else Poller(self, float(interval), "compliance anonymous-IP watcher")
        reset_after_fork(self)

    # -- lookups ---------------------------------------------------------------------------

    def found(self, ip: str) -> frozenset[str]:
        """The counted flags set for `ip` (empty when none is, or the address is not in the database)."""
        return self.lookup(ip)[1]

    def lookup(self, ip: str) -> tuple[frozenset[str], frozenset[str]]:
        """The kinds of anonymity of `ip` (`FLAG_KINDS`, counted or not), and the counted flags set."""
        reader, lookup, cache = self._state
        answer = cache.get(ip)
        if answer is not None:
            return answer
        if not self._started:
            self.start()
        try:
            record = lookup(ip)
        except (ValueError, _AddressNotFound):  # not an address, or one the database has no entry for
            record = None
        except Exception as exc:  # a damaged record: this source does not know
            logger.warning("compliance: an anonymous-IP lookup in %s failed: %s", self.path, exc)
            return _NOTHING
        if record is None:
            answer = _NOTHING
        else:
            kinds = frozenset(kind for flag, kind in FLAG_KINDS.items() if getattr(record, flag, False))
            counted = frozenset(f for f in self.flags if getattr(record, f, False))
            answer = (kinds, counted) if kinds or counted else _NOTHING
        if self.cache_size:
            if len(cache) >= self.cache_size:
                cache.clear()
            cache[ip] = answer
        return answer

    def is_anonymous(self, ip: str) -> bool:
        """Whether the reader at `ip` comes through Tor or an anonymizer (by the counted flags)."""
        return bool(self.found(ip))

    def is_tor_exit(self, ip: str) -> bool:
        return TOR_FLAG in self.found(ip)

    def mark(self, jurisdiction: Jurisdiction, ip: str) -> Jurisdiction:
        """`jurisdiction` as it stands for a reader at `ip`: its kinds of anonymity; anonymous where a
        counted flag is set; a counted Tor exit's country unknown."""
        kinds, counted = self.lookup(ip)
        if not kinds and not counted:
            return jurisdiction
        kinds = kinds | jurisdiction.kinds
        if TOR_FLAG in counted:
            return Jurisdiction(None, None, True, jurisdiction.source, kinds=kinds)
        return Jurisdiction(
            jurisdiction.country,
            jurisdiction.subdivision,
            jurisdiction.anonymous or bool(counted),
            jurisdiction.source,
            kinds=kinds,
        )

    # -- following the file ------------------------------------------------------------------

    def start(self) -> None:
        """Start watching the file (done by the first lookup)."""
        self._started = True
        if self._poller is not None:
            self._poller.start()

    #: The file is checked every interval (nothing is ever deferred).
    retry_in: float | None = None

    def poll(self) -> bool:
        """Open the file again if it was replaced. True when a new database is in force."""
        with self._lock:
            stamp = stamp_files([self.path])
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            try:
                reader, lookup = _open(self.path)
            except ConfigError as exc:
                logger.error("compliance: the anonymous-IP database was not reloaded; the one in force stays: %s", exc)
                return False
            # The old reader is left to the garbage collector: a lookup may still be using it.
            self._state = (reader, lookup, {})
            self.database_type = reader.metadata().database_type
        logger.info("compliance: anonymous-IP database %s reloaded (built %s)", self.path, _built(reader))
        if self.on_reload is not None:
            self.on_reload()
        return True

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._started = False

    def close(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        self._state[0].close()

    def __enter__(self) -> AnonymousIPDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnonymousIPDatabase({self.path!r}, {self.database_type!r})"


def _open(path: str) -> tuple[Any, Callable[[str], Any]]:
    import geoip2.database
    import maxminddb

    try:
        reader = geoip2.database.Reader(path, mode=geoip2.database.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot open anonymous-IP database {path!r}: {reason}") from None
    kind = reader.metadata().database_type
    if "GeoIP2-Anonymous-IP" in kind:
        lookup = reader.anonymous_ip
    elif "GeoIP-Anonymous-Plus" in kind:
        lookup = reader.anonymous_plus
    else:
        reader.close()
        raise ConfigError(f"{path!r} is a {kind!r} database; an anonymous-IP database (GeoIP2-Anonymous-IP) is needed")
    return reader, lookup


def _built(reader: Any) -> str:
    import datetime

    epoch = reader.metadata().build_epoch
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
