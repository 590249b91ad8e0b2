"""The recommended audit handler: the request's thread queues a line, a writer thread writes them in batches.

`AuditFileHandler(path)` is a `logging.Handler` for the `compliance.audit` logger. When it is that
logger's only handler (and the logger neither filters nor propagates), the middleware hands it each
event's line directly, without building a `LogRecord`: the request's thread appends the line to an
in-memory queue and returns. A writer thread takes what is queued every `flush_interval` seconds
(and sooner when the queue is a quarter full), and writes it with one `write` to the file, opened
for appending, so the lines of several worker processes sharing a file never interleave within a
line. At shutdown (`close()`, which `logging.shutdown` calls at exit) it writes what is still queued.

The queue is bounded (`capacity` events). When it is full (the disk cannot keep up), an event is
not queued and its link is not added to the hash chain, so the chain stays whole; the handler counts
it, and as soon as there is room again the writer adds a `dropped` event to the chain, saying how many
events were lost and between which times, and warns on the `compliance` logger. The request is never
made to wait for the disk: a site that stalls while its log volume is full would be down for every
reader, and the gap is recorded, in the chain that `compliance audit verify` checks, rather than lost.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from typing import Final

from compliance.observe.chain import write_linked

__all__ = ["AuditDropped", "AuditFileHandler"]

DEFAULT_CAPACITY: Final = 65536
DEFAULT_FLUSH_INTERVAL: Final = 0.05
_FAULTS: Final = logging.getLogger("compliance")


class AuditDropped(Exception):
    """The queue was full: the event was not written, and the chain did not advance past it."""


class AuditFileHandler(logging.Handler):
    """Appends audit lines to `path` from a writer thread, in batches (see the module's text)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        capacity: int = DEFAULT_CAPACITY,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    ) -> None:
        super().__init__(logging.INFO)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a whole number of events, not {capacity!r}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be a number of seconds above 0, not {flush_interval!r}")
        self.path = os.fspath(path)
        self.capacity = capacity
        self.flush_interval = float(flush_interval)
        #: Events not written because the queue was full, in all (`dropped`) and since the last `dropped` event.
        self.dropped = 0
        self._gap = 0
        self._gap_first = 0.0
        self._gap_last = 0.0
        self._gap_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lines: collections.deque[bytes] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._thread: threading.Thread | None = None
        self._start()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart(ref))

    # The request's side.

    def put(self, line: str) -> None:
        """Queues one event's line; raises `AuditDropped` when the queue is full."""
        lines = self._lines
        queued = len(lines)
        if queued >= self.capacity:
            self._count_drop()
            raise AuditDropped
        lines.append(line.encode("utf-8") + b"\n")
        if queued == self.capacity >> 2:
            self._wake.set()

    def emit(self, record: logging.LogRecord) -> None:
        """An event that comes through the logger (when it has other handlers, filters, or propagates)."""
        try:
            self.put(self.format(record) if self.formatter is not None else record.getMessage())
        except AuditDropped:
            pass  # counted: the `dropped` event records it
        except Exception:
            self.handleError(record)

    def _count_drop(self) -> None:
        now = time.time()
        with self._gap_lock:
            self.dropped += 1
            if not self._gap:
                self._gap_first = now
            self._gap += 1
            self._gap_last = now
        self._wake.set()

    # The writer's side.

    def _start(self) -> None:
        self._stopping = False
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name="compliance-audit-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            stopping = self._stopping
            self._write_queued()
            self._record_gap()
            if stopping:
                self._write_queued()
                return

    def _write_queued(self) -> None:
        with self._write_lock:
            self._write_batch()

    def _write_batch(self) -> None:
        lines = self._lines
        count = len(lines)
        if not count or self._fd < 0:
            return
        pop = lines.popleft
        data = b"".join([pop() for _ in range(count)])
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as error:
            _FAULTS.error(
                "compliance: the audit file %s cannot be written (%s): %d events lost", self.path, error, count
            )

    def _record_gap(self) -> None:
        if not self._gap or len(self._lines) >= self.capacity:
            return
        with self._gap_lock:
            count, first, last = self._gap, self._gap_first, self._gap_last
            self._gap = 0
        record = {
            "event": "dropped",
            "time": round(time.time(), 3),
            "count": count,
            "first": round(first, 3),
            "last": round(last, 3),
        }
        write_linked(record, lambda _record, line: self._lines.append(line.encode("utf-8") + b"\n"))
        _FAULTS.warning(
            "compliance: the audit queue was full: %d events were not written; the `dropped` event in %s says so",
            count,
            self.path,
        )

    def flush(self) -> None:
        """Writes what is queued now (from the calling thread)."""
        self._write_queued()

    def close(self) -> None:
        """Writes what is still queued, ends the writer thread and closes the file."""
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            self._stopping = True
            self._wake.set()
            thread.join()
        self._thread = None
        with self._write_lock:
            self._write_batch()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        super().close()


def _restart(ref: weakref.ref[AuditFileHandler]) -> None:
    """After a fork, the child has its own chain: it drops the parent's queued lines (the parent writes
    them) and starts a writer thread of its own."""
    handler = ref()
    if handler is not None and handler._fd >= 0:
        handler._lines.clear()
        handler._write_lock = threading.Lock()  # the parent's writer may have held them at the fork
        handler._gap_lock = threading.Lock()
        handler._start()
