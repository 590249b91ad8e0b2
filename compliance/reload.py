"""The rule set in force, and how it is replaced when the rules change.

`RuleSource` loads the rules once at start-up (a failure raises `RuleFileError`,
or `ConfigError` for a bundle URL that cannot be reached with nothing cached) and
holds the compiled `Engine`. The middleware reads `source.engine` once per
request: replacing it is one reference swap, made only after the new rule set has
loaded completely, so no request ever sees half a rule set.

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
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final, Protocol

from .bundle import BundleOrigin, describe, is_url
from .errors import ConfigError
from .rules import load_rules
from .rules.decide import Engine
from .rules.model import RuleSet

__all__ = ["Poller", "RuleSource", "Stamp", "reset_after_fork", "rule_paths", "stamp_files"]

logger = logging.getLogger("compliance")

#: A stat entry: path, then (mtime_ns, ctime_ns, size, inode, device), or None for a path that is gone.
Stamp = tuple[tuple[str, tuple[int, int, int, int, int] | None], ...]

#: A file modified less than this long ago may change again within the file system's
#: timestamp granularity without its stat changing: its content is checked too.
_RACY_NS: Final = 2_000_000_000
#: A change is loaded once the files have been still this long (at most the interval),
#: so that a file written in place is not read while half written.
SETTLE: Final = 0.25


# --- watching files ---------------------------------------------------------------------------


def rule_paths(root: str) -> tuple[list[str], list[str]]:
    """The folders and rule files a rule set at `root` is read from (the loader's selection)."""
    if not os.path.isdir(root):
        return [], [root]
    folders: list[str] = []
    files: list[str] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name != "tests" and not name.startswith("."))
        folders.append(folder)
        files.extend(
            os.path.join(folder, name)
            for name in sorted(names)
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
        )
    return folders, files


def stamp_files(paths: list[str]) -> Stamp:
    """The stat of each path, following symlinks: any write, rename or symlink swap changes it."""
    entries: list[tuple[str, tuple[int, int, int, int, int] | None]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            entries.append((path, None))
        else:
            entries.append((path, (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)))
    return tuple(entries)


def _newest(stamp: Stamp) -> int:
    return max((max(entry[0], entry[1]) for _, entry in stamp if entry is not None), default=0)


def _is_racy(stamp: Stamp) -> bool:
    return _newest(stamp) >= time.time_ns() - _RACY_NS


class _FileOrigin:
    """Where the rules come from when `rules` is a file or folder."""

    def __init__(self, path: str, settle: float = SETTLE) -> None:
        self.path = path
        self.display = path
        self.settle_ns = int(settle * 1e9)
        #: Set when a change was seen but not yet loaded: seconds until it can be.
        self.retry_in: float | None = None
        self.standing_error: Exception | None = None
        self._stamp: Stamp = ()
        self._racy = False
        self._seen: str | None = None

    def _snapshot(self) -> tuple[Stamp, list[str]]:
        folders, files = rule_paths(self.path)
        return stamp_files(folders + files), files

    def _digest(self, files: list[str]) -> str:
        """The content digest of the rule files (a file that is gone counts as gone)."""
        digest = hashlib.sha256()
        for file in files:
            name = os.path.relpath(file, self.path) if file != self.path else os.path.basename(file)
            try:
                with open(file, "rb") as stream:
                    data = stream.read()
            except OSError as exc:
                digest.update(f"{name}\0unreadable {exc.errno}\0".encode())
                continue
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()

    def _being_written(self, stamp: Stamp, files: list[str]) -> bool:
        """Whether a file may be half written: changed within the settling time, or freshly emptied.

        A file written in place is first truncated, then written: read in between, it
        would take every rule it holds out of force. An empty file is loaded once it
        has stayed empty for a while.
        """
        now = time.time_ns()
        newest = _newest(stamp)
        if newest > now - self.settle_ns:
            self.retry_in = (newest + self.settle_ns - now) / 1e9 + 0.005
            return True
        names = set(files)
        emptied = [
            max(entry[0], entry[1]) for path, entry in stamp if path in names and entry is not None and entry[2] == 0
        ]
        if emptied and max(emptied) > now - _RACY_NS:
            self.retry_in = (max(emptied) + _RACY_NS - now) / 1e9 + 0.005
            return True
        return False

    def initial(self) -> tuple[RuleSet, str, Exception | None]:
        stamp, files = self._snapshot()
        digest = self._digest(files)
        ruleset = load_rules(self.path)
        self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
        return ruleset, digest, None

    def check(self, version: str, force: bool = False) -> tuple[RuleSet, str] | None:
        self.retry_in = None
        stamp, files = self._snapshot()
        if stamp == self._stamp and not (self._racy or force):
            return None
        if not force and self._being_written(stamp, files):
            return None  # look again once settled (see `retry_in`)
        digest = self._digest(files)
        if digest == self._seen or digest == version:
            # The same content (touched, or put back as it is in force): nothing to load.
            if digest == version:
                self.standing_error = None
            self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
            return None
        try:
            ruleset = load_rules(self.path)
        except Exception as exc:
            if self._snapshot()[0] != stamp:
                return None  # changed while loading: look again next time
            self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
            self.standing_error = exc
            raise
        if self._snapshot()[0] != stamp:
            return None  # changed while loading: the set may mix two versions
        self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
        self.standing_error = None
        return ruleset, digest

    def close(self) -> None:
        pass

    def after_fork(self) -> None:
        pass


class _Origin(Protocol):
    display: str
    standing_error: Exception | None
    retry_in: float | None

    def initial(self) -> tuple[RuleSet, str, Exception | None]: ...

    def check(self, version: str, force: bool = False) -> tuple[RuleSet, str] | None: ...

    def close(self) -> None: ...

    def after_fork(self) -> None: ...


# --- the polling thread -----------------------------------------------------------------------


class _Pollable(Protocol):
    def poll(self) -> object: ...

    @property
    def retry_in(self) -> float | None:
        """Seconds until the next poll, where sooner than the interval; else None."""


class Poller:
    """Calls `target.poll()` every `interval` seconds in one daemon thread, while `target` lives.

    The thread holds `target` by a weak reference, and only for the time of a
    poll: it ends at `stop()`, or soon after `target` is garbage-collected.
    `start()` is idempotent and thread-safe. After a fork, the child has no thread
    and `start()` makes one again.
    """

    def __init__(self, target: _Pollable, interval: float, name: str) -> None:
        self._ref = weakref.ref(target)
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        weakref.finalize(target, self._stop.set)
        _POLLERS.add(self)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=_run, args=(self._ref, self._stop, self.interval, self.name), name=self.name, daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._thread = None


def _run(ref: Callable[[], _Pollable | None], stop: threading.Event, interval: float, name: str) -> None:
    wait = interval
    while not stop.wait(wait):
        target = ref()
        if target is None:
            return
        wait = interval
        try:
            target.poll()
            sooner = target.retry_in
            if sooner is not None:
                wait = max(0.001, min(interval, sooner))
        except Exception:
            logger.exception("compliance: %s failed; trying again in %s s", name, interval)
        del target


class _ForkAware(Protocol):
    def _after_fork(self) -> None: ...


_POLLERS: weakref.WeakSet[Poller] = weakref.WeakSet()
_FORK_AWARE: weakref.WeakSet[_ForkAware] = weakref.WeakSet()


def reset_after_fork(target: _ForkAware) -> None:
    """Have `target._after_fork()` called in a child process after a fork, while `target` lives.

    A child inherits no thread: whatever started one must be able to start it again.
    """
    _FORK_AWARE.add(target)


def _after_fork_in_child() -> None:
    for poller in list(_POLLERS):
        poller._after_fork()
    for target in list(_FORK_AWARE):
        target._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    ) -> None:
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0
        ):
            raise ConfigError(f"reload_interval must be a positive number of seconds or None, not {interval!r}")
        self.location = rules
        self.interval = None if interval is None else float(interval)
        self._origin: _Origin
        if is_url(rules):
            assert isinstance(rules, str)
            self._origin = BundleOrigin(rules, cache_dir=cache_dir, sha256=sha256, hmac_key=hmac_key, headers=headers)
        else:
            given = [
                name
                for name, value in (
                    ("bundle_cache_dir", cache_dir),
                    ("bundle_sha256", sha256),
                    ("bundle_hmac_key", hmac_key),
                    ("bundle_headers", headers),
                )
                if value is not None
            ]
            if given:
                raise ConfigError(f"{', '.join(given)} apply to a rules URL only, and the rules are at {rules!r}")
            settle = SETTLE if self.interval is None else min(SETTLE, self.interval)
            self._origin = _FileOrigin(os.fspath(rules), settle)
        ruleset, version, error = self._origin.initial()
        self.engine = Engine(ruleset)
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
