"""The rule set in force, and how it is replaced when the rules change.

`RuleSource` loads the rules once at start-up (a failure raises `RuleFileError`,
or `ConfigError` for a bundle URL that cannot be reached with nothing cached) and
holds the compiled `Engine`. The middleware reads `source.engine` once per
request: replacing it is one reference swap, made only after the new rule set has
loaded completely, so no request ever sees half a rule set. The build runs with
the cyclic collector paused and ends with `gc.freeze()` (`rules/collector.py`):
no full collection walks hundreds of thousands of new objects on a serving
thread while or after a rule set loads.

Watching runs in one daemon thread per source, started by the first request
(`start()`; every later call is one attribute check), so it works under any
event loop and costs requests nothing. Each `interval` seconds it looks for a
change: for files, the `stat` (following symlinks) of every rule file and
folder, so an editor's write-to-temporary-and-rename and a Kubernetes ConfigMap's
`..data` symlink swap are both seen; for a URL, a conditional GET (see
`bundle.py`). A change that does not load is logged on the `compliance` logger
at ERROR, one line per problem (`FILE:LINE:COL: ...`), and the rules in force stay.

The thread holds its source only through a weak reference: it never keeps a
middleware alive, and ends when the source is closed or collected. `Poller` is
the same machinery for any other file a server should follow (a GeoIP database
that `geoipupdate` replaces, for one).

`shared_source` hands every middleware in a process over the same rules (the same
location and source options) one `RuleSource`: one engine, one watcher thread and one
set of metrics, however many instances a framework builds (Litestar builds one per
route handler). The registry holds each source by a weak reference, so a source no
middleware uses any more is freed, and a closed source is never handed out again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Hashable, Iterable

from compliance._poll import Poller, reset_after_fork
from compliance.errors import ConfigError
from compliance.rules import collector
from compliance.rules.decide import Engine
from compliance.rules.model import RuleSet
from compliance.sources.bundle import BundleOrigin, describe, is_url
from compliance.sources.files import SETTLE, FileOrigin, Origin

__all__ = ["RuleSource", "shared_source"]

logger = logging.getLogger("compliance")

# --- the rule source --------------------------------------------------------------------------


class RuleSource:
    """The rules in force, from a file, a folder or a bundle URL, kept up to date.

    `rules` is a YAML file, a folder of them, or an `http(s)://` bundle URL (see
    `bundle.py` for `cache_dir`, `sha256`, `hmac_key` and `headers`, which apply to
    URLs only). `interval` is the seconds between checks for a change, or None
    never to check.

    Attributes: `engine` (the compiled rule set in force), `version` (the SHA-256
    of its content: the bundle's bytes, or the rule files' names and bytes),
    `loaded_at` (when it was put in force, POSIX seconds) and `last_error` (why the
    latest change was refused or the bundle server could not be reached, or None).
    """

    def __init__(
        self,
        rules: str | os.PathLike[str],
        *,
        interval: float | None = 1.0,
        cache_dir: str | os.PathLike[str] | None = None,
        sha256: str | None = None,
        hmac_key: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        public_keys: Iterable[str | os.PathLike[str] | bytes] | None = None,
        allow_http: bool = False,
    ) -> None:
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0
        ):
            raise ConfigError(f"reload_interval must be a positive number of seconds or None, not {interval!r}")
        self.location = rules
        self.interval = None if interval is None else float(interval)
        self._origin: Origin
        if is_url(rules):
            assert isinstance(rules, str)
            self._origin = BundleOrigin(
                rules,
                cache_dir=cache_dir,
                sha256=sha256,
                hmac_key=hmac_key,
                headers=headers,
                public_keys=public_keys,
                allow_http=allow_http,
            )
        else:
            given = [
                name
                for name, value in (
                    ("bundle_cache_dir", cache_dir),
                    ("bundle_sha256", sha256),
                    ("bundle_hmac_key", hmac_key),
                    ("bundle_headers", headers),
                    ("bundle_public_keys", public_keys),
                    ("bundle_allow_http", allow_http or None),
                )
                if value is not None
            ]
            if given:
                raise ConfigError(f"{', '.join(given)} apply to a rules URL only, and the rules are at {rules!r}")
            settle = SETTLE if self.interval is None else min(SETTLE, self.interval)
            self._origin = FileOrigin(os.fspath(rules), settle)
        # Loading and compiling with the collector paused, and frozen before it resumes: its first
        # pass would otherwise walk every object the build made. (A reload, below, lets the collector
        # run first: what serving threads left meanwhile is collected, not frozen.)
        with collector.collector_paused():
            ruleset, version, error = self._origin.initial()
            self.engine = Engine(ruleset)
            collector.settle()
        self.version: str = version
        self.loaded_at: float = time.time()
        self.last_error: Exception | None = error
        self._logged: str | None = None if error is None else describe(error)
        self._warn(ruleset)
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._poller = None if self.interval is None else Poller(self, self.interval, "compliance rules watcher")
        # A source dropped without close() still lets go of its connections.
        weakref.finalize(self, self._origin.close)
        reset_after_fork(self)

    def start(self) -> None:
        """Start watching for changes (called on every request: after the first call, one check)."""
        if self._started:
            return
        self._started = True
        if self._poller is not None and not self._closed:
            self._poller.start()

    def close(self) -> None:
        """Stop watching (the rules in force stay in force)."""
        self._closed = True
        if self._poller is not None:
            self._poller.stop()
        with self._lock:
            self._origin.close()

    def poll(self) -> bool:
        """Look for a change once, and put it in force if it loads. True when the rules changed."""
        return self._check(force=False)

    def reload_now(self) -> bool:
        """Read the rules again now, whatever the stat or ETag says. True when the rules changed."""
        return self._check(force=True)

    @property
    def retry_in(self) -> float | None:
        """Seconds until a change seen but not yet loaded (a file still being written) can be."""
        return self._origin.retry_in

    @property
    def watching(self) -> bool:
        """Whether the watching thread is running."""
        return self._poller is not None and self._poller.running

    def _check(self, force: bool) -> bool:
        with self._lock:
            if self._closed:
                return False
            try:
                found = self._origin.check(self.version, force)
                # Loading pauses the cyclic collector too (`load_rules`): no full pass walks the
                # half-built rule set while requests are served from other threads.
                with collector.collector_paused():
                    engine = None if found is None else Engine(found[0])
            except Exception as exc:
                self._failed(exc)
                return False
            if found is None or engine is None:
                self._settled(self._origin.standing_error)
                return False
            ruleset, version = found
            # One reference swap: a request reads either the old engine or the new one.
            self.engine = engine
            self.version = version
            self.loaded_at = time.time()
            self.last_error = None
            self._logged = None
        collector.settle()  # the new rule set out of the collector's later full passes
        logger.info(
            "compliance: rules from %s in force: version %s, %d rules, %d notices",
            self._origin.display,
            version,
            len(ruleset.rules),
            len(ruleset.notices),
        )
        self._warn(ruleset)
        return True

    def _failed(self, exc: Exception) -> None:
        # Kept for reading, not re-raising: without its traceback it holds no frame (nor this source).
        exc.__traceback__ = None
        text = describe(exc)
        if text != self._logged:  # else said already
            self._logged = text
            logger.error(
                "compliance: the rules at %s were not reloaded; the rules in force (version %s) stay:\n%s",
                self._origin.display,
                self.version,
                text,
            )
        self.last_error = exc

    def _settled(self, standing: Exception | None) -> None:
        if standing is not None:
            self._failed(standing)
            return
        if self.last_error is not None:
            logger.warning(
                "compliance: the rules at %s can be read again; the rules in force (version %s) are current",
                self._origin.display,
                self.version,
            )
        self.last_error = None
        self._logged = None

    def _warn(self, ruleset: RuleSet) -> None:
        for problem in ruleset.warnings:
            logger.warning("compliance: %s", problem)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._origin.after_fork()

    def __repr__(self) -> str:
        return f"RuleSource({self._origin.display!r}, version={self.version[:12]!r})"


# --- one source per rule location in a process ---------------------------------------------------

_SHARED: weakref.WeakValueDictionary[Hashable, RuleSource] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_source(
    rules: str | os.PathLike[str],
    *,
    interval: float | None = 1.0,
    cache_dir: str | os.PathLike[str] | None = None,
    sha256: str | None = None,
    hmac_key: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    public_keys: Iterable[str | os.PathLike[str] | bytes] | None = None,
    allow_http: bool = False,
) -> RuleSource:
    """The process's `RuleSource` for these rules and options: made on first use, then shared.

    A source found already in use is checked for a change on disk (one `stat` per file)
    before it is handed out, so an instance made after the rules changed sees them.
    Options that cannot be compared (a key list that is not a sequence) get a source
    of their own.
    """
    keys = None if public_keys is None else tuple(public_keys)

    def make() -> RuleSource:
        return RuleSource(
            rules,
            interval=interval,
            cache_dir=cache_dir,
            sha256=sha256,
            hmac_key=hmac_key,
            headers=headers,
            public_keys=keys,
            allow_http=allow_http,
        )

    try:
        key: Hashable = (
            rules if is_url(rules) else os.path.abspath(os.fspath(rules)),
            interval,
            None if cache_dir is None else os.path.abspath(os.fspath(cache_dir)),
            sha256,
            hmac_key,
            None if headers is None else tuple(sorted(headers.items())),
            None if keys is None else tuple(k if isinstance(k, bytes) else os.fspath(k) for k in keys),
            allow_http,
        )
        hash(key)
    except TypeError:
        return make()  # the source's own checks say what is wrong with the options
    with _SHARED_LOCK:
        source = _SHARED.get(key)
        if source is None or source._closed:
            source = _SHARED[key] = make()
            return source
    if not is_url(rules):
        source.poll()
    return source


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
