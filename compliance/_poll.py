"""A small generic poller: a daemon thread that calls `poll()` on a target every interval.

It serves rule files, rule bundles and databases alike (a GeoIP database that
`geoipupdate` replaces, for one). The thread holds its target only through a weak
reference: it never keeps a middleware alive, and ends when the target is closed or
collected. After a fork the child starts its own threads on first use
(`reset_after_fork`). `stamp_files` is the `stat` of a list of files, to tell when
one changed.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["Poller", "Stamp", "reset_after_fork", "stamp_files"]

logger = logging.getLogger("compliance")

#: A stat entry: path, then (mtime_ns, ctime_ns, size, inode, device), or None for a path that is gone.
Stamp = tuple[tuple[str, tuple[int, int, int, int, int] | None], ...]


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
