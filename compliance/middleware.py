"""ComplianceMiddleware: the one module that speaks ASGI. It reads top to bottom as the request flows.

1. Reader: resolve the reader's jurisdiction (`compliance.reader`), and leave it in
   `scope["state"]["jurisdiction"]`; on a page no rule covers, only when the app reads it.
2. Decision: which rules fire for that reader on this host and path (`compliance.rules`,
   cached). A page no rule covers goes straight to the app, untouched.
3. Response: a block is answered 451 here; otherwise a per-request `_Responder` wraps
   `send`, adds the cache headers, holds `http.response.start` until the first body
   chunk, and streams the body through the transform the decision's `Plan` builds
   (`compliance.respond`). The audit event and metrics are recorded at the end
   (`compliance.observe`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compliance.errors import ConfigError
from compliance.observe.audit import (
    FAULT_LOGGER,
    AuditPolicy,
    audit_enabled,
    block_outcomes,
    emit,
    jurisdiction_fields,
    network_of,
    request_id_of,
    rule_outcomes,
)
from compliance.observe.chain import CHAIN, DEFAULT_CHECKPOINT_EVERY, load_signer
from compliance.observe.metrics import Metrics
from compliance.reader.chosen import chosen_jurisdiction, chosen_moment
from compliance.reader.databases import Resolver
from compliance.reader.jurisdiction import UNKNOWN_JURISDICTION, Jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.reader.token import TokenReader
from compliance.respond import cache as _cache
from compliance.respond import headers as _headers
from compliance.respond.block import block_response, prefers_json
from compliance.respond.encoding import CorruptBody, Recoder, is_supported
from compliance.respond.languages import notice_languages
from compliance.respond.plan import (
    DROPPED_WHEN_CHANGED,
    HTML_TYPES,
    PLAN_CACHE_SIZE,
    Plan,
    Skipped,
    Transform,
    charset_of,
    is_json,
    media_type,
    rewritable_status,
)
from compliance.respond.render import bounded_accept_language
from compliance.rules.classes import ClassTable, JurisdictionClass
from compliance.rules.decide import Decision, Engine
from compliance.rules.model import Place, RuleSet
from compliance.rules.paths import ANY_HOST, read_host
from compliance.sources.reload import RuleSource

__all__ = ["ComplianceMiddleware"]

#: Bytes of the body read before choosing the charset and language (the HTML prescan size).
SNIFF_SIZE: Final = 1024
DEFAULT_HOLDBACK: Final = 256 * 1024
#: ASGI extensions that send a body the middleware cannot see, hidden from the app where a notice is due in it.
_HIDDEN: Final = frozenset({"http.response.pathsend", "http.response.zerocopysend"})
#: How long the first bytes of a page wait for the rest of `SNIFF_SIZE` where the charset is not yet known.
SNIFF_WAIT: Final = 0.05
_BODY_END: Final = Place("body-end")
_NAMED_CACHE_SIZE: Final = 4096
#: Response fields the cache-header policy reads or changes (besides the vendors' `*-CDN-Cache-Control`).
_CACHE_FIELDS: Final = frozenset({b"cache-control", b"etag", b"last-modified"}) | _cache.SHARED_CACHE_FIELDS
_ACCEPT_LANGUAGE: Final = ("Accept-Language",)
_HEAD: Final = "HEAD request: no body"


class EdgeClass:
    """The jurisdiction class an edge keyed its cache on, for one request (see `class_header`)."""

    __slots__ = ("cls", "name", "own", "version")

    def __init__(self, cls: JurisdictionClass, own: JurisdictionClass | None, version: str) -> None:
        self.cls = cls
        self.name = cls.name.encode("ascii")
        #: The class of the middleware's own resolution (None where no class matches it).
        self.own = own
        self.version = version

    @property
    def agreed(self) -> bool:
        return self.own is self.cls

    def audit_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"class": self.cls.name, "class_map": self.version}
        if not self.agreed:
            fields["own_class"] = None if self.own is None else self.own.name
        return fields


class ComplianceMiddleware:
    """Adds the legal notices a reader's jurisdiction calls for.

    `rules` is a YAML rule file or a folder of them (format 1, see docs); rules
    that do not load raise `RuleFileError` here, before any traffic is served.
    Forwarding headers and the CDN country header are believed only from
    `trusted_proxies`. See the README for every option.
    """

    def __init__(
        self,
        app: ASGIApp,
        rules: str | os.PathLike[str],
        geoip_db: str | os.PathLike[str] | None = None,
        trusted_proxies: Iterable[str] = (),
        country_header: str | None = None,
        region_header: str | None = None,
        *,
        forwarded_header: str = "x-forwarded-for",
        cdn_proxies: Iterable[str] | None = None,
        holdback: int = DEFAULT_HOLDBACK,
        resolver: Resolver | None = None,
        request_id_header: str = "x-request-id",
        test_secret: str | None = None,
        reload_interval: float | None = 1.0,
        bundle_cache_dir: str | os.PathLike[str] | None = None,
        bundle_sha256: str | None = None,
        bundle_hmac_key: str | bytes | None = None,
        bundle_headers: dict[str, str] | None = None,
        bundle_public_keys: Iterable[str | os.PathLike[str] | bytes] | None = None,
        bundle_allow_http: bool = False,
        anonymous_db: str | os.PathLike[str] | None = None,
        audit_sample_unfired: float = 0.0,
        audit_signing_key: str | os.PathLike[str] | bytes | None = None,
        audit_checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        metrics: Metrics | bool = True,
        class_header: str | None = None,
    ) -> None:
        if isinstance(holdback, bool) or not isinstance(holdback, int) or holdback < 0:
            raise ConfigError(f"holdback must be a whole number of bytes, not {holdback!r}")
        self.app = app
        self.rules = RuleSource(
            rules,
            interval=reload_interval,
            cache_dir=bundle_cache_dir,
            sha256=bundle_sha256,
            hmac_key=bundle_hmac_key,
            headers=bundle_headers,
            public_keys=bundle_public_keys,
            allow_http=bundle_allow_http,
        )
        self.resolver = JurisdictionResolver(
            geoip_db=geoip_db,
            trusted_proxies=trusted_proxies,
            forwarded_header=forwarded_header,
            cdn_proxies=cdn_proxies,
            country_header=country_header,
            region_header=region_header,
            resolver=resolver,
            anonymous_db=anonymous_db,
            reload_interval=reload_interval,
        )
        self.vary_headers: tuple[str, ...] = tuple(h for h in (country_header, region_header) if h)
        if class_header is not None and (
            not isinstance(class_header, str)
            or not class_header.strip()
            or not all(33 <= ord(c) < 127 and c not in '"(),/:;<=>?@[\\]{}' for c in class_header)
        ):
            raise ConfigError(f"class_header {class_header!r} is not an HTTP header name")
        #: The request header the edge sends the reader's jurisdiction class in (None: no edge does).
        self.class_header = class_header
        self._class_key = class_header.lower().encode("latin-1") if class_header else None
        self._class_vary: tuple[str, ...] = (class_header,) if class_header else ()
        self._classes: ClassTable | None = None
        self._named: dict[tuple[Jurisdiction, str], Jurisdiction] = {}
        self.holdback = holdback
        self.request_id_header = request_id_header.lower().encode("latin-1")
        self.test_secret = test_secret
        #: Verifies and strips test and preview tokens (None: no secret, no token is read).
        self.tokens = None if test_secret is None else TokenReader(test_secret)
        self.audit_policy = AuditPolicy(sample_unfired=audit_sample_unfired)
        if audit_signing_key is not None:
            CHAIN.configure(load_signer(audit_signing_key), audit_checkpoint_every)
        self.metrics = metrics if isinstance(metrics, Metrics) else Metrics(enabled=bool(metrics))
        self.metrics.watch_rules(self.rules)
        self._timed = self.metrics.enabled
        self._started = False
        self._plans: dict[int, Plan] = {}

    @property
    def ruleset(self) -> RuleSet:
        """The rule set in force."""
        return self.rules.engine.ruleset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._started:
            self._start()
        if self.tokens is not None:
            scope, send = self._take_token(scope, send)
        began = time.perf_counter() if self._timed else 0.0
        try:
            engine = self.rules.engine
            host = _host(scope) if engine.uses_hosts else ""
            if not engine.covers(host, scope["path"]):
                # No rule covers this page: the app gets it untouched, and the jurisdiction
                # only if it asks for it.
                scope["state"] = _LazyState(scope.get("state"), self, scope)
                uncovered = True
            else:
                uncovered = False
                chosen = chosen_jurisdiction(scope)
                jurisdiction = chosen or self.resolver.resolve(scope)
                edge: EdgeClass | None = None
                reader = jurisdiction
                now = time.time() if chosen is None else chosen_moment(scope) or time.time()
                if self._class_key is not None and chosen is None:
                    edge = self._edge_class(scope, engine, jurisdiction, now)
                    if edge is not None:
                        jurisdiction = self._name_class(jurisdiction, edge.cls.name)
                        if not edge.agreed:
                            # The edge's class wins: the cache already keyed this response on it.
                            reader = edge.cls.representative
                            self.metrics.disagreed()
                state = scope.get("state")
                if state is None:
                    scope["state"] = state = {}
                state["jurisdiction"] = jurisdiction
                decision = engine.decide(reader, host, scope["path"], now)
                if decision.dependent:
                    request_headers = _cache.conditional_request(
                        scope.get("headers") or (),
                        None if edge is None else edge.name,
                        bool(decision.fired) and self.plan(decision).body_due,
                    )
                    if request_headers is not None:
                        scope = {**scope, "headers": request_headers}
        except Exception:
            FAULT_LOGGER.exception(
                "compliance: could not decide for %s; the page is served as the app sent it", scope.get("path")
            )
            await self.app(scope, receive, send)
            return
        if uncovered or not decision.covered:
            await self.app(scope, receive, send)
            return
        if decision.block is not None:
            await self._block(scope, send, decision, jurisdiction, edge)
            return
        if not decision.fired and not began and not self.audit_policy.sample_unfired:
            # A covered page and a reader who gets nothing: only the cache headers change.
            await self.app(scope, receive, self._cache_headers_only(send, jurisdiction, edge, chosen is not None))
            return
        responder = _Responder(self, scope, send, decision, jurisdiction, edge, chosen is not None)
        if began:
            responder.spent = time.perf_counter() - began
        extensions = scope.get("extensions")
        if extensions and responder.plan.body_due and not _HIDDEN.isdisjoint(extensions):
            # A body sent as a path (granian's pathsend) or zero-copy cannot take a notice: the app
            # is told they are not there, and sends the bytes.
            scope = {**scope, "extensions": {k: v for k, v in extensions.items() if k not in _HIDDEN}}
        try:
            await self.app(scope, receive, responder.send)
        except BaseException:
            responder.app_failed()
            raise

    def _take_token(self, scope: Scope, send: Send) -> tuple[Scope, Send]:
        """The request without its test or preview token; `send` says so where the token was honoured."""
        stripped, token = self.tokens.take(scope, time.time()) if self.tokens is not None else (None, None)
        if stripped is None:
            return scope, send
        if token is None:
            return stripped, send

        async def honoured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _cache.for_a_token(message.get("headers") or ())}
            await send(message)

        return stripped, honoured

    def _start(self) -> None:
        self._started = True
        self.rules.start()
        self.resolver.start()

    def _edge_class(self, scope: Scope, engine: Engine, own: Jurisdiction, now: float) -> EdgeClass | None:
        """The class the edge sent, where it is believed and names a class of the map in force now."""
        if not self.resolver.believes_cdn(scope):
            return None
        key = self._class_key
        value = None
        for name, found in scope.get("headers") or ():
            if name == key:
                if value is not None and found != value:
                    return None  # two different classes: neither is believed
                value = found
        if value is None:
            return None
        table = self._classes
        if table is None or table.engine is not engine:
            table = self._classes = ClassTable(engine)
        classes = table.at(now)
        cls = classes.by_header.get(bytes(value))
        if cls is None:
            return None
        return EdgeClass(cls, classes.class_of(own), classes.version)

    def _name_class(self, jurisdiction: Jurisdiction, name: str) -> Jurisdiction:
        """The reader's own jurisdiction, naming the class the edge sent."""
        key = (jurisdiction, name)
        named = self._named.get(key)
        if named is None:
            if len(self._named) >= _NAMED_CACHE_SIZE:
                self._named.clear()
            j = jurisdiction
            named = self._named[key] = Jurisdiction(j.country, j.subdivision, j.anonymous, j.source, name)
        return named

    def cache_headers(
        self,
        headers: list[tuple[bytes, bytes]],
        jurisdiction: Jurisdiction,
        edge: EdgeClass | None = None,
        chosen: bool = False,
    ) -> list[tuple[bytes, bytes]]:
        """The cache headers of a jurisdiction-dependent response (`compliance.respond.cache`).

        Keyed on the edge's class where it sent one; `Vary` on the CDN header where
        that was the source; else for this reader only (`private`, and `no-store`
        for a request decided by a test token).
        """
        if chosen:
            return _cache.for_one_reader(headers, no_store=True)
        if edge is not None:
            return _cache.keyed_on_class(headers, self._class_vary, edge.name)
        if jurisdiction.source == "header" and self.vary_headers:
            return _cache.varied_on_headers(headers, self.vary_headers)
        return _cache.for_one_reader(headers)

    def _cache_headers_only(self, send: Send, jurisdiction: Jurisdiction, edge: EdgeClass | None, chosen: bool) -> Send:
        async def send_with_cache_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
                message = {**message, "headers": self.cache_headers(headers, jurisdiction, edge, chosen)}
            await send(message)

        return send_with_cache_headers

    def plan(self, decision: Decision) -> Plan:
        """What a decision means for a response, worked out once per decision (decisions are cached)."""
        entry = self._plans.get(id(decision))
        if entry is not None and entry.decision is decision:
            return entry
        if len(self._plans) >= PLAN_CACHE_SIZE:
            self._plans.clear()
        entry = self._plans[id(decision)] = Plan(decision)
        return entry

    async def _block(
        self, scope: Scope, send: Send, decision: Decision, jurisdiction: Jurisdiction, edge: EdgeClass | None
    ) -> None:
        """Answer 451 for a block rule, without calling the app."""
        assert decision.block is not None
        notice = decision.block.notice
        request_headers = scope.get("headers") or ()
        accept_language = bounded_accept_language(_header_text(request_headers, b"accept-language"))
        language, *also = notice_languages(decision.block.rule, notice, None, None, accept_language)
        extra: list[tuple[bytes, bytes]] = []
        if edge is not None:
            extra = _headers.vary_on([], self._class_vary)
        elif jurisdiction.source == "header" and self.vary_headers:
            extra = _headers.vary_on([], self.vary_headers)
        status, headers, body = block_response(
            notice,
            language,
            prefers_json=prefers_json(_header_text(request_headers, b"accept")),
            headers_extra=extra,
            also=tuple(also),
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
        rules = block_outcomes(decision, (language, *also))
        self.record(scope, jurisdiction, rules, 0.0, edge)

    def record(
        self,
        scope: Scope,
        jurisdiction: Jurisdiction,
        rules: list[dict[str, Any]],
        spent: float,
        edge: EdgeClass | None = None,
    ) -> None:
        """The metrics and the audit event of one covered response."""
        if self.metrics.enabled:
            where = jurisdiction.country or "unknown"
            self.metrics.observe(((e["rule"], where, e["outcome"]) for e in rules), spent)
        if not audit_enabled() or not self.audit_policy.wants(bool(rules)):
            return
        headers = scope.get("headers") or ()
        request_id = request_id_of(_header_text(headers, self.request_id_header))
        ip = self.resolver.client_ip(scope)
        emit(
            "preview" if jurisdiction.source == "preview" else "decision",
            {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "jurisdiction": jurisdiction_fields(jurisdiction),
                "network": network_of(ip),
                "rules": rules,
                **({} if edge is None else edge.audit_fields()),
                **({} if rules else {"sample": self.audit_policy.sample_unfired}),
            },
        )


def _host(scope: Scope) -> str:
    """The request's host, normalised; `ANY_HOST` when it cannot be read, so it escapes no host-scoped rule."""
    for key, value in scope.get("headers") or ():
        if key == b"host":
            return read_host(bytes(value))
    return ANY_HOST


class _LazyState(dict[str, Any]):
    """`scope["state"]` on a page no rule covers: the jurisdiction is resolved when first read.

    `scope["state"]["jurisdiction"]` and Starlette's `request.state.jurisdiction`
    read it as on any other page; a page that never asks costs no resolution.
    """

    __slots__ = ("_mw", "_client", "_headers", "_extensions")

    def __init__(self, state: dict[str, Any] | None, mw: ComplianceMiddleware, scope: Scope) -> None:
        super().__init__(state or ())
        self._mw = mw
        self._client = scope.get("client")
        self._headers = scope.get("headers")
        self._extensions = scope.get("extensions")

    def __missing__(self, key: str) -> Any:
        if key != "jurisdiction":
            raise KeyError(key)
        scope = {"client": self._client, "headers": self._headers, "extensions": self._extensions}
        try:
            value = chosen_jurisdiction(scope) or self._mw.resolver.resolve(scope)
        except Exception:
            FAULT_LOGGER.exception("compliance: could not resolve the jurisdiction")
            value = UNKNOWN_JURISDICTION
        self[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key == "jurisdiction" or key in self else default

    def __contains__(self, key: object) -> bool:
        return key == "jurisdiction" or super().__contains__(key)


class _Responder:
    """The per-request state of one covered response."""

    __slots__ = (
        "mw",
        "scope",
        "_send",
        "decision",
        "jurisdiction",
        "html_due",
        "json_due",
        "header_due",
        "plan",
        "start",
        "transform",
        "recoder",
        "pending",
        "raw_pending",
        "pending_size",
        "held_since",
        "passing",
        "outcome",
        "media",
        "spent",
        "content_language",
        "edge",
        "chosen",
        "vary_language",
        "audited",
    )

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
        #: Whether a notice's language followed the reader's Accept-Language.
        self.vary_language = False
        self.scope = scope
        self._send = send
        self.decision = decision
        self.jurisdiction = jurisdiction
        self.plan = plan = mw.plan(decision)
        self.html_due = plan.html_due
        self.json_due = plan.json_due
        self.header_due = plan.header_due
        self.start: Message | None = None
        self.transform: Transform | None = None
        self.recoder: Recoder | None = None
        self.pending: list[bytes] = []
        self.raw_pending: list[bytes] = []
        self.pending_size = 0
        self.held_since = 0.0  # when the first bytes of the body were held back
        self.passing = False
        #: notice id -> what the audit event says of it
        self.outcome: dict[str, dict[str, Any]] = {}
        self.media = ""
        #: Seconds spent in the middleware's own work on this response (for metrics).
        self.spent = 0.0
        self.content_language: str | None = None
        self.audited = False

    # -- ASGI send ------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        if self.passing:
            await self._send(message)
            return
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif kind == "http.response.body" and (self.start is not None or self.transform is not None):
            await self._on_body(message)
        elif kind == "http.response.trailers" and self.start is None and self.transform is not None:
            await self._send(message)  # after the last body message: the response is already audited
        else:
            # A body we cannot see (http.response.pathsend, zero-copy send...) or a
            # message out of order: pass what we hold and everything after it as it is.
            await self._give_up("the body was sent in a form that cannot be changed")
            await self._send(message)

    async def _on_start(self, message: Message) -> None:
        began = time.perf_counter()
        headers = []
        content_type = encoding = None
        cache_fields = False
        for key, value in message.get("headers", ()):
            key = bytes(key).lower()
            if key == b"content-type":
                content_type = value
            elif key == b"content-encoding":
                # two lines are one stacked coding (`gzip` then `br`): read as one list
                encoding = value if encoding is None else bytes(encoding) + b", " + bytes(value)
            elif key == b"content-language":
                self.content_language = bytes(value).decode("latin-1")
            elif key in _CACHE_FIELDS or key.endswith(b"cdn-cache-control"):
                cache_fields = True
            headers.append((key, bytes(value)))
        if self.decision.dependent:
            if cache_fields or self.edge is not None or self.chosen or self.jurisdiction.source == "header":
                headers = self.mw.cache_headers(headers, self.jurisdiction, self.edge, self.chosen)
            else:
                headers.append((b"cache-control", b"private"))  # what for_one_reader gives, without the scan
        status = int(message["status"])
        if self.header_due and status >= 200:
            headers = self._notice_headers(headers)
        self.media = media_type(content_type)
        reason = self._why_untouched(status)
        if reason == _HEAD:
            # A GET would carry the notices: what describes the app's body does not describe that one.
            headers = [h for h in headers if h[0] not in DROPPED_WHEN_CHANGED]
            if self.plan.languages_may_vary:
                headers = _headers.vary_on(headers, _ACCEPT_LANGUAGE)
        message = {**message, "headers": headers}
        if reason is not None:
            self.passing = True
            await self._send(message)
            self._audit(missed=reason)
            return
        if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
            name = encoding.decode("latin-1").strip()
            if not is_supported(name):
                self.passing = True
                await self._send(message)
                self._audit(missed=f"the body is encoded as {name!r}, which cannot be decoded")
                return
            self.recoder = Recoder(name)
        self.start = message
        self.spent += time.perf_counter() - began

    async def _on_body(self, message: Message) -> None:
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
                if more and self.pending_size < SNIFF_SIZE and not self._may_begin(began):
                    return
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
            if not out and more:
                return
            await self._flush_start(more=more, length=len(out), modified=True)
        await self._send({"type": "http.response.body", "body": out, "more_body": more})
        if not more:
            self._audit()

    # -- helpers --------------------------------------------------------------------

    def _may_begin(self, now: float) -> bool:
        """Whether to choose the transform before `SNIFF_SIZE` bytes arrived, so that a page streamed in
        small pieces keeps streaming.

        At once where nothing is left to learn from the first bytes (a JSON body; a page whose charset the
        Content-Type gives, and whose notices' language cannot follow `<html lang>`); else once the first
        bytes have waited `SNIFF_WAIT` seconds for more.
        """
        if not self.pending:
            return False
        if now - self.held_since >= SNIFF_WAIT:
            return True
        if self.media not in HTML_TYPES:
            return True
        assert self.start is not None
        if charset_of(_headers.get(self.start["headers"], b"content-type") or b"") is None:
            return False
        return not self.plan.multilingual or self.content_language is not None

    def _why_untouched(self, status: int) -> str | None:
        """Why this body takes no notice, or None when it is to be rewritten ("" for: nothing due)."""
        due = self.html_due if self.media in HTML_TYPES else self.json_due if is_json(self.media) else None
        if not due:
            return ""
        if self.scope.get("method") == "HEAD":
            return _HEAD
        if not rewritable_status(status):
            return f"status {status}"
        return None

    def _notice_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        for name, firings in self.header_due.items():
            key = name.lower().encode("latin-1")
            ids = [f.notice.id for f in firings]
            headers = [*_headers.remove(headers, key), (key, ", ".join(ids).encode("ascii"))]
            for firing in firings:
                self.outcome[firing.notice.id] = {"outcome": "injected", "place": f"header: {name}"}
        return headers

    def _build_transform(self, head: bytes) -> Transform:
        accept_language = bounded_accept_language(_header_text(self.scope.get("headers") or (), b"accept-language"))
        if self.media not in HTML_TYPES:
            transform, self.vary_language = self.plan.json_transform(
                self.content_language, accept_language, self.outcome
            )
            return transform
        assert self.start is not None
        content_type = _headers.get(self.start["headers"], b"content-type") or b""
        transform, self.vary_language = self.plan.html_transform(
            content_type, self.content_language, accept_language, head, self.mw.holdback, self.outcome
        )
        return transform

    async def _flush_start(self, *, more: bool, length: int | None = None, modified: bool = False) -> None:
        start, self.start = self.start, None
        if start is None:
            return
        headers = start["headers"]
        if modified:
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
        if not self.audited:
            self._audit(missed="the app failed before its response ended")

    def _audit(self, missed: str | None = None) -> None:
        self.audited = True
        if not (self.mw.metrics.enabled or audit_enabled()):
            return
        placed = self.transform.placed if self.transform is not None and missed is None else ()
        reason = getattr(self.transform, "reason", None)
        rules = rule_outcomes(self.plan, self.outcome, placed, self.media, missed, reason)
        self.mw.record(self.scope, self.jurisdiction, rules, self.spent, self.edge)


def _header_text(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    value = _headers.get(headers, name)
    return None if value is None else value.decode("latin-1")


logging.getLogger("compliance").addHandler(logging.NullHandler())
