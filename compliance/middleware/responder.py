"""The per-request side of the middleware: the `send` wrapper of a covered response.

`Responder` wraps `send` for one covered response: it adds the cache headers, holds
`http.response.start` until the first body chunk (or until the page's charset is
known, or for at most `SNIFF_WAIT` seconds), streams the body through the transform
the decision's `Plan` builds, and records the audit event at the end. (`lazy.py` holds
`scope["state"]` of a page no rule covers.)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from starlette.types import Message, Scope, Send

from compliance.observe.audit import (
    FAULT_LOGGER,
    audit_enabled,
    outcomes_of,
)
from compliance.reader.jurisdiction import Jurisdiction
from compliance.respond import cache as _cache
from compliance.respond import headers as _headers
from compliance.respond.encoding import CorruptBody, Recoder, is_supported
from compliance.respond.plan import (
    DROPPED_WHEN_CHANGED,
    HTML_TYPES,
    Skipped,
    Transform,
    charset_of,
    media_type,
    rewritable_status,
)
from compliance.respond.render import bounded_accept_language
from compliance.rules.classes import EdgeClass
from compliance.rules.decide import Decision

if TYPE_CHECKING:
    from compliance.middleware import ComplianceMiddleware

__all__ = ["Responder", "header_text"]


class _TrioTask:
    """The deadline's task under trio, as an asyncio task is used: cancelled, waited for."""

    __slots__ = ("scope", "done")

    def __init__(self, trio: Any) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()

    def cancel(self) -> None:
        self.scope.cancel()

    async def wait(self) -> None:
        await self.done.wait()


def _running_trio() -> Any:
    """The `trio` module where this code runs in a trio task, else None (trio is never imported here)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return None
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return None
    return trio


#: Bytes of the body read before choosing the charset and language (the HTML prescan size).
SNIFF_SIZE: Final = 1024
#: How long the first bytes of a page wait for the rest of `SNIFF_SIZE` where the charset is not yet known.
SNIFF_WAIT: Final = 0.05
#: Response fields the cache-header policy reads or changes (besides the vendors' `*-CDN-Cache-Control`).
_CACHE_FIELDS: Final = frozenset({b"cache-control", b"etag", b"last-modified"}) | _cache.SHARED_CACHE_FIELDS
_ACCEPT_LANGUAGE: Final = ("Accept-Language",)
_HEAD: Final = "HEAD request: no body"
#: What the deadline feeds the rewriter: no more bytes, the body goes on.
_NOTHING_YET: Final[Message] = {"type": "http.response.body", "body": b"", "more_body": True}


#: What `_on_start` reads of a response field, by its lower-case name (`_kind_of`), kept per name.
_PLAIN, _TYPE, _ENCODING, _LANGUAGE, _CACHE, _TRANSFER = range(6)
_KINDS: dict[bytes, int] = {}


def _kind_of(name: bytes) -> int:
    """What `_on_start` reads of the lower-case field `name`; kept (response names come from the app: few)."""
    if name == b"content-type":
        kind = _TYPE
    elif name == b"content-encoding":
        kind = _ENCODING
    elif name == b"content-language":
        kind = _LANGUAGE
    elif name in _CACHE_FIELDS or name.endswith(b"cdn-cache-control"):
        kind = _CACHE
    elif name == b"transfer-encoding":
        kind = _TRANSFER
    else:
        kind = _PLAIN
    if len(_KINDS) < 1024:
        _KINDS[name] = kind
    return kind


class Responder:
    """The per-request state of one covered response.

    Fields that start alike on every response are class attributes, set on the
    instance only when they change: one is built per covered response, before the
    app is called.
    """

    #: Whether a notice's language followed the reader's Accept-Language.
    vary_language = False
    #: The app's `http.response.start`, held (None once sent), and the headers it goes with.
    start: Message | None = None
    start_headers: list[tuple[bytes, bytes]] = []  # (replaced per response, never changed in place)
    #: Those headers as a changed body takes them (without `DROPPED_WHEN_CHANGED`), built in the
    #: same pass, or None where the list was rewritten since; and whether it has Transfer-Encoding.
    changed_headers: list[tuple[bytes, bytes]] | None = None
    chunked = False
    #: The first Content-Type the app sent (its charset is the page's).
    content_type = b""
    transform: Transform | None = None
    recoder: Recoder | None = None
    pending_size = 0
    held_since = 0.0  # when the first bytes of the body were held back
    passing = False
    media = ""
    #: Seconds spent in the middleware's own work on this response (for metrics).
    spent = 0.0
    content_language: str | None = None
    audited = False
    #: A HEAD answered with GET's headers: the app's body (without the notices) is not passed on.
    bodiless = False
    #: The deadline of held first bytes (an asyncio timer, or a trio cancel scope), and the task
    #: that sends them when it passes (an asyncio task, or a trio event set when it is over).
    _timer: asyncio.TimerHandle | Any = None
    _flushing: asyncio.Task[None] | _TrioTask | None = None
    #: Set once a deadline was armed: the deadline's flush and the app's sends then take turns.
    _lock: asyncio.Lock | Any = None
    #: What sending at the deadline raised (the client went away...): the app's next send raises it.
    _late_error: Exception | None = None

    def __init__(
        self,
        mw: ComplianceMiddleware,
        scope: Scope,
        send: Send,
        decision: Decision,
        jurisdiction: Jurisdiction,
        edge: EdgeClass | None = None,
        chosen: bool = False,
    ) -> None:
        self.mw = mw
        self.edge = edge
        self.chosen = chosen
        self.scope = scope
        self._send = send
        self.decision = decision
        self.jurisdiction = jurisdiction
        self.plan = mw.plan(decision)
        self.pending: list[bytes] = []
        self.raw_pending: list[bytes] = []
        #: notice id -> what the audit event says of it
        self.outcome: dict[str, dict[str, Any]] = {}

    # -- ASGI send ------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        lock = self._lock
        if lock is None:
            await self._send_one(message)
            return
        async with lock:
            if self._late_error is not None:
                raise self._late_error
            await self._send_one(message)

    async def _send_one(self, message: Message) -> None:
        if self.passing:
            if self.bodiless and message["type"] == "http.response.body" and message.get("body"):
                # Some servers count a HEAD body into Content-Length: it would be the page without the notices.
                message = {**message, "body": b""}
            await self._send(message)
            return
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif kind == "http.response.body" and (self.start is not None or self.transform is not None):
            if self.transform is None and self.recoder is None and not self.pending and not message.get("more_body"):
                await self._on_whole(bytes(message.get("body", b"")))
            else:
                await self._on_body(message)
        elif kind == "http.response.trailers" and self.start is None and self.transform is not None:
            await self._send(message)  # after the last body message: the response is already audited
        else:
            # A body we cannot see (http.response.pathsend, zero-copy send...) or a
            # message out of order: pass what we hold and everything after it as it is.
            await self._give_up("the body was sent in a form that cannot be changed")
            await self._send(message)

    async def _on_start(self, message: Message) -> None:
        timed = self.mw._timed
        began = time.perf_counter() if timed else 0.0
        # One pass: the headers lower-cased (only names that are not already), what the
        # policies read noted, and the list a changed body takes built beside.
        headers = []
        changed = []
        content_type = encoding = None
        cache_fields = chunked = False
        for key, value in message.get("headers", ()):
            kind = _KINDS.get(key) if type(key) is bytes else None
            if kind is None:
                key = bytes(key).lower()
                kind = _kind_of(key)
            if type(value) is not bytes:
                value = bytes(value)
            if kind:
                if kind == _TYPE:
                    if content_type is None:
                        self.content_type = value
                    content_type = value
                elif kind == _ENCODING:
                    # two lines are one stacked coding (`gzip` then `br`): read as one list
                    encoding = value if encoding is None else encoding + b", " + value
                elif kind == _LANGUAGE:
                    self.content_language = value.decode("latin-1")
                elif kind == _CACHE:
                    cache_fields = True
                else:
                    chunked = True
            headers.append((key, value))
            if key not in DROPPED_WHEN_CHANGED:
                changed.append((key, value))
        vary = self.decision.vary
        kept: list[tuple[bytes, bytes]] | None = changed
        if self.decision.dependent or vary:
            if cache_fields or vary or self.edge is not None or self.chosen or self.jurisdiction.source == "header":
                headers = self.mw.cache_headers(headers, self.jurisdiction, self.edge, self.chosen, vary)
                kept = None
            else:
                # what for_one_reader gives, without the scan
                headers.append((b"cache-control", b"private"))
                changed.append((b"cache-control", b"private"))
        status = int(message["status"])
        if self.plan.header_due and status >= 200:
            headers = self._notice_headers(headers)
            kept = None
        self.media = media_type(content_type)
        reason = self._why_untouched(status)
        if reason == _HEAD:
            # A GET would carry the notices: what describes the app's body does not describe that one.
            headers = [h for h in headers if h[0] not in DROPPED_WHEN_CHANGED]
            self.bodiless = True
            if self.plan.languages_may_vary:
                headers = _headers.vary_on(headers, _ACCEPT_LANGUAGE)
        if reason is not None:
            self.passing = True
            await self._send({**message, "headers": headers})
            self._audit(missed=reason)
            return
        if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
            name = encoding.decode("latin-1").strip()
            if not is_supported(name):
                self.passing = True
                await self._send({**message, "headers": headers})
                self._audit(missed=f"the body is encoded as {name!r}, which cannot be decoded")
                return
            self.recoder = Recoder(name)
        self.start = message
        self.start_headers = headers
        self.changed_headers = kept
        self.chunked = chunked
        if timed:
            self.spent += time.perf_counter() - began

    async def _on_whole(self, body: bytes) -> None:
        """The straight line of the usual page: the whole body in one message, not encoded, nothing held
        before it, so no list of pieces, no deadline, and one send of the start and one of the body."""
        timed = self.mw._timed
        began = time.perf_counter() if timed else 0.0
        try:
            transform = self.transform = self._build_transform(body[:SNIFF_SIZE])
            out = transform.feed(body, last=True)
        except Skipped as skipped:
            await self._give_up(str(skipped), False, body)
            return
        except Exception:
            self._fault()
            await self._give_up("a fault in the middleware (logged on the compliance logger)", False, body)
            return
        if timed:
            self.spent += time.perf_counter() - began
        await self._flush_start(more=False, length=len(out), modified=True)
        await self._send({"type": "http.response.body", "body": out, "more_body": False})
        self._audit()

    async def _on_body(self, message: Message, deadline: bool = False) -> None:
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        unsent = self.start is not None  # nothing of this response has gone out yet
        began = time.perf_counter()
        if unsent and body:
            self.raw_pending.append(body)
        try:
            plain = body if self.recoder is None else self.recoder.decode(body, final=not more)
            if self.transform is None:
                if plain:
                    if not self.pending:
                        self.held_since = began
                    self.pending.append(plain)
                    self.pending_size += len(plain)
                if more and self.pending_size < SNIFF_SIZE and not deadline and not self._may_begin(began):
                    if self._lock is None and self.pending:
                        self._arm_deadline()
                    return
                self._disarm()
                plain = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
                self.transform = self._build_transform(plain[:SNIFF_SIZE])
            out = self.transform.feed(plain, last=not more)
            if self.recoder is not None:
                out = self.recoder.encode(out, final=not more)
        except Skipped as skipped:
            await self._give_up(str(skipped), more, b"" if unsent else body)
            return
        except CorruptBody as corrupt:
            await self._give_up(f"the encoded body is corrupt ({corrupt})", more, b"" if unsent else body)
            return
        except Exception:
            self._fault()
            reason = "a fault in the middleware (logged on the compliance logger)"
            await self._give_up(reason, more, b"" if unsent else body)
            return
        self.pending = []
        self.raw_pending = []
        self.spent += time.perf_counter() - began
        if self.start is not None:
            if not out and more and not deadline:
                return
            await self._flush_start(more=more, length=len(out), modified=True)
            if not out and more:
                return  # the deadline: the response starts, the rewriter still holds every byte it has
        await self._send({"type": "http.response.body", "body": out, "more_body": more})
        if not more:
            self._audit()

    # -- the deadline of held first bytes -------------------------------------------

    def _arm_deadline(self) -> None:
        """Send the held first bytes `SNIFF_WAIT` seconds after they arrived, even if the app sends nothing more.

        Under asyncio (uvloop included) a timer of the loop; under trio, which has no timer callbacks
        (and the middleware no nursery of the request's), a system task that sleeps in a cancel scope.
        Under any other event loop the wait is checked when the next piece arrives.
        """
        delay = max(0.0, SNIFF_WAIT - (time.perf_counter() - self.held_since))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            trio = _running_trio()
            if trio is not None:
                self._lock = trio.Lock()
                self._timer = timer = trio.CancelScope()
                self._flushing = task = _TrioTask(trio)
                context = contextvars.copy_context()
                trio.lowlevel.spawn_system_task(self._trio_deadline, trio, delay, timer, task, context=context)
            return
        self._lock = asyncio.Lock()
        self._timer = loop.call_later(delay, self._on_deadline, loop)

    async def _trio_deadline(self, trio: Any, delay: float, timer: Any, task: _TrioTask) -> None:
        """The deadline under trio: `timer` is cancelled where the wait ends otherwise, `task` where the app failed."""
        try:
            with task.scope:
                with timer:
                    await trio.sleep(delay)
                if not timer.cancelled_caught:
                    self._timer = None
                    await self._flush_held()
        finally:
            self._flushing = None
            task.done.set()

    def _on_deadline(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._flushing = loop.create_task(self._flush_held())

    async def _flush_held(self) -> None:
        assert self._lock is not None
        try:
            async with self._lock:
                # The app's own sends may have begun the body (or given up) while this task waited its turn.
                if self.start is not None and self.transform is None and self.pending and not self.passing:
                    await self._on_body(_NOTHING_YET, deadline=True)
        except Exception as error:
            self._late_error = error
        finally:
            self._flushing = None

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def held(self) -> bool:
        """Whether a deadline is armed, or its flush is running."""
        return self._timer is not None or self._flushing is not None

    async def settle(self) -> None:
        """The app returned: no deadline may send after it; a flush already sending is let finish."""
        self._disarm()
        flushing = self._flushing
        if isinstance(flushing, asyncio.Task):
            await flushing
        elif flushing is not None:  # trio's: set when the deadline's task is over
            await flushing.wait()

    # -- helpers --------------------------------------------------------------------

    def _may_begin(self, now: float) -> bool:
        """Whether to choose the transform before `SNIFF_SIZE` bytes arrived, so that a page streamed in
        small pieces keeps streaming.

        At once where nothing is left to learn from the first bytes (a JSON body; a page whose charset the
        Content-Type gives, and whose notices' language cannot follow `<html lang>`); else once the first
        bytes have waited `SNIFF_WAIT` seconds for more. Under asyncio a deadline (`_arm_deadline`) sends
        them then even if the app sends nothing more; elsewhere they go with the next piece after it.
        """
        if not self.pending:
            return False
        if now - self.held_since >= SNIFF_WAIT:
            return True
        if self.media not in HTML_TYPES:
            return True
        assert self.start is not None
        if charset_of(self.content_type) is None:
            return False
        return not self.plan.multilingual or self.content_language is not None

    def _why_untouched(self, status: int) -> str | None:
        """Why this body takes no notice, or None when it is to be rewritten ("" for: nothing due)."""
        due = self.plan.html_due if self.media in HTML_TYPES else self.plan.due_for(self.media)
        if not due:
            return ""
        if self.scope.get("method") == "HEAD":
            return _HEAD
        if not rewritable_status(status):
            return f"status {status}"
        return None

    def _notice_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        for name, firings in self.plan.header_due.items():
            key = name.lower().encode("latin-1")
            ids = [f.notice.id for f in firings]
            headers = [*_headers.remove(headers, key), (key, ", ".join(ids).encode("ascii"))]
            for firing in firings:
                self.outcome[firing.notice.id] = {"outcome": "injected", "place": f"header: {name}"}
        return headers

    def _build_transform(self, head: bytes) -> Transform:
        if self.media in HTML_TYPES and not self.plan.multilingual:
            accept_language = None  # the notices' languages do not follow the reader's
        else:
            accept_language = bounded_accept_language(header_text(self.scope.get("headers") or (), b"accept-language"))
        if self.media not in HTML_TYPES and self.plan.due_for(self.media)[0].rule.placement[0].kind == "feed":
            transform, self.vary_language = self.plan.feed_transform(
                self.media, self.content_language, accept_language, self.outcome
            )
            return transform
        if self.media not in HTML_TYPES:
            transform, self.vary_language = self.plan.json_transform(
                self.content_language, accept_language, self.outcome
            )
            return transform
        transform, self.vary_language = self.plan.html_transform(
            self.content_type, self.content_language, accept_language, head, self.mw.holdback, self.outcome
        )
        return transform

    async def _flush_start(self, *, more: bool, length: int | None = None, modified: bool = False) -> None:
        start, self.start = self.start, None
        if start is None:
            return
        headers = self.start_headers
        if modified:
            kept = self.changed_headers
            if kept is not None:
                headers, chunked = kept, self.chunked
            else:
                headers = [h for h in headers if h[0] not in DROPPED_WHEN_CHANGED]
                chunked = any(h[0] == b"transfer-encoding" for h in headers)
            if not more and length is not None and not chunked:  # never both (RFC 9112, 6.3)
                headers.append((b"content-length", str(length).encode("latin-1")))
            if self.vary_language:
                headers = _headers.vary_on(headers, _ACCEPT_LANGUAGE)
        await self._send({**start, "headers": headers})

    async def _give_up(self, reason: str, more: bool = True, body: bytes = b"") -> None:
        """Send what is held as the app sent it, and pass the rest of the response through.

        Before anything went out, that is the whole response as the app sent it; a
        fault in the middle of a stream loses what the rewriter held.
        """
        self.passing = True
        self._disarm()
        held, self.raw_pending, self.pending = self.raw_pending, [], []
        if body:
            held.append(body)
        await self._flush_start(more=True)
        if held or not more:
            await self._send({"type": "http.response.body", "body": b"".join(held), "more_body": more})
        self._audit(missed=reason)

    def _fault(self) -> None:
        FAULT_LOGGER.exception(
            "compliance: fault while adding notices (rules %s) to %s; the page is served as the app sent it",
            ", ".join(f.rule.id for f in self.decision.fired),
            self.scope.get("path"),
        )

    def app_failed(self) -> None:
        """The app raised (or was cancelled) before its response ended: the event says so."""
        self._disarm()
        if self._flushing is not None:
            self._flushing.cancel()
        if not self.audited:
            self._audit(missed="the app failed before its response ended")

    def _audit(self, missed: str | None = None) -> None:
        self.audited = True
        mw = self.mw
        if not (mw.metrics.enabled or audit_enabled()):
            return
        transform = self.transform
        placed = transform.placed if transform is not None and missed is None else ()
        reason = getattr(transform, "reason", None)
        outcomes = outcomes_of(mw.outcomes, self.plan, self.outcome, placed, self.media, missed, reason)
        mw.record(self.scope, self.jurisdiction, outcomes, self.spent, self.edge)


def header_text(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    value = _headers.get(headers, name)
    return None if value is None else value.decode("latin-1")


logging.getLogger("compliance").addHandler(logging.NullHandler())
