"""ComplianceMiddleware: the one module that speaks ASGI. It reads top to bottom as the request flows.

1. Reader: resolve the reader's jurisdiction (`compliance.reader`), and leave it in
   `scope["state"]["jurisdiction"]`; on a page no rule covers, only when the app reads it.
2. Decision: which rules fire for that reader on this host and path (`compliance.rules`,
   cached). A page no rule covers goes straight to the app, untouched.
3. Response: a block is answered 451 here; otherwise a per-request `Responder` (`responder.py`) wraps
   `send`, adds the cache headers, holds `http.response.start` until the first body
   chunk, and streams the body through the transform the decision's `Plan` builds
   (`compliance.respond`). The audit event and metrics are recorded at the end
   (`compliance.observe`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Iterable
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compliance.errors import ConfigError
from compliance.middleware.lazy import LazyState
from compliance.middleware.responder import Responder, header_text
from compliance.observe.audit import (
    FAULT_LOGGER,
    AuditPolicy,
    Outcomes,
    audit_enabled,
    block_outcomes,
    emit_prepared,
    jurisdiction_fields,
    network_of,
    request_id_of,
)
from compliance.observe.chain import CHAIN, DEFAULT_CHECKPOINT_EVERY, load_signer
from compliance.observe.metrics import Metrics
from compliance.reader.chosen import chosen_jurisdiction, chosen_moment
from compliance.reader.databases import DEFAULT_GEOIP_MAX_AGE_DAYS, Resolver
from compliance.reader.jurisdiction import Jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.reader.token import TokenReader
from compliance.respond import cache as _cache
from compliance.respond import headers as _headers
from compliance.respond.block import block_response, prefers_json
from compliance.respond.languages import notice_languages
from compliance.respond.plan import PLAN_CACHE_SIZE, Plan
from compliance.respond.render import bounded_accept_language
from compliance.rules.classes import ClassTable, EdgeClass
from compliance.rules.decide import Decision, Engine
from compliance.rules.model import RuleSet
from compliance.rules.paths import ANY_HOST, read_host
from compliance.sources.reload import shared_source

__all__ = ["ComplianceMiddleware"]

DEFAULT_HOLDBACK: Final = 256 * 1024
#: ASGI extensions that send a body the middleware cannot see, hidden from the app where a notice is due in it.
_HIDDEN: Final = frozenset({"http.response.pathsend", "http.response.zerocopysend"})
_NAMED_CACHE_SIZE: Final = 4096
#: Paths kept with whether a rule covers them (where no rule names hosts), and the longest kept:
#: a page no rule covers is then told from one dict lookup on the raw path. Bounded in bytes.
_KNOWN_PATHS: Final = 4096
_KNOWN_PATH: Final = 256
#: Host header values kept read (`read_host`): a site answers to few names.
_KNOWN_HOSTS: Final = 256


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
        geoip_max_age_days: float | None = DEFAULT_GEOIP_MAX_AGE_DAYS,
    ) -> None:
        if isinstance(holdback, bool) or not isinstance(holdback, int) or holdback < 0:
            raise ConfigError(f"holdback must be a whole number of bytes, not {holdback!r}")
        self.app = app
        # One source per rule location in a process, however many instances a framework builds.
        self.rules = shared_source(
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
            geoip_max_age_days=geoip_max_age_days,
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
        #: The engine in force when these were kept, and whether each raw path is uncovered (None where
        #: some rule names hosts: the host takes part).
        self._known: tuple[Engine | None, dict[str, bool] | None] = (None, None)
        self._hosts: dict[bytes, str] = {}
        #: What audit events and metrics say of a response's rules, per plan and outcome (`outcomes_of`).
        self.outcomes: dict[Hashable, Outcomes] = {}

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
            known = self._known
            if known[0] is not engine:
                # One reference: a request on another thread reads either the old pair or the new one.
                known = self._known = (engine, {} if not engine.uses_hosts else None)
            covered = known[1]
            if covered is None:  # some rule names hosts
                host = self._host(scope)
                uncovered = not engine.covers(host, scope["path"])
            else:
                host = ""
                path = scope["path"]
                uncovered = covered.get(path)  # type: ignore[assignment]
                if uncovered is None:
                    uncovered = not engine.covers("", path)
                    if len(path) <= _KNOWN_PATH:
                        if len(covered) >= _KNOWN_PATHS:
                            covered.clear()
                        covered[path] = uncovered
            if uncovered:
                # No rule covers this page: the app gets it untouched, and the jurisdiction
                # only if it asks for it.
                state = scope.get("state")
                lazy = scope["state"] = LazyState(state) if state else LazyState()
                lazy.mw, lazy.client = self, scope.get("client")
                lazy.headers, lazy.extensions = scope.get("headers"), scope.get("extensions")
            else:
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
                if decision.vary:
                    # Rules with `when:` reach this reader here: keep those whose condition the request meets.
                    decision = engine.narrow(decision, scope.get("headers") or ())
                if decision.dependent or decision.vary:
                    request_headers = _cache.conditional_request(
                        scope.get("headers") or (),
                        None if edge is None or decision.vary else edge.name,
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
        if uncovered:
            await self.app(scope, receive, send)
            return
        if not decision.covered:
            await self.app(scope, receive, send)
            return
        if decision.block is not None:
            await self._block(scope, send, decision, jurisdiction, edge)
            return
        if not decision.fired and not began and not self.audit_policy.sample_unfired:
            # A covered page and a reader who gets nothing: only the cache headers change.
            await self.app(
                scope, receive, self._cache_headers_only(send, jurisdiction, edge, chosen is not None, decision.vary)
            )
            return
        responder = Responder(self, scope, send, decision, jurisdiction, edge, chosen is not None)
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
        if responder.held:
            await responder.settle()

    def _host(self, scope: Scope) -> str:
        """The request's host, normalised; `ANY_HOST` when it cannot be read, so it escapes no host-scoped rule."""
        for key, value in scope.get("headers") or ():
            if key == b"host":
                value = bytes(value)
                host = self._hosts.get(value)
                if host is None:
                    host = read_host(value)
                    if len(value) > _KNOWN_PATH:
                        return host
                    if len(self._hosts) >= _KNOWN_HOSTS:
                        self._hosts.clear()
                    self._hosts[value] = host
                return host
        return ANY_HOST

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
            named = self._named[key] = jurisdiction.named(name)
        return named

    def cache_headers(
        self,
        headers: list[tuple[bytes, bytes]],
        jurisdiction: Jurisdiction,
        edge: EdgeClass | None = None,
        chosen: bool = False,
        vary: tuple[str, ...] = (),
    ) -> list[tuple[bytes, bytes]]:
        """The cache headers of a jurisdiction-dependent response (`compliance.respond.cache`).

        Keyed on the edge's class where it sent one; `Vary` on the CDN header where
        that was the source; else for this reader only (`private`, and `no-store`
        for a request decided by a test token). Where a rule with `when:` could apply
        (`vary`: the request headers its condition reads), for this reader only, with
        `Vary` on those headers: not every shared cache keys on `Vary`.
        """
        if chosen:
            return _cache.for_one_reader(headers, no_store=True)
        if vary:
            if edge is not None:
                vary = (*self._class_vary, *vary)
            elif jurisdiction.source == "header":
                vary = (*self.vary_headers, *vary)
            return _cache.for_one_reader(_headers.vary_on(headers, vary))
        if edge is not None:
            return _cache.keyed_on_class(headers, self._class_vary, edge.name)
        if jurisdiction.source == "header" and self.vary_headers:
            return _cache.varied_on_headers(headers, self.vary_headers)
        return _cache.for_one_reader(headers)

    def _cache_headers_only(
        self, send: Send, jurisdiction: Jurisdiction, edge: EdgeClass | None, chosen: bool, vary: tuple[str, ...] = ()
    ) -> Send:
        # Where the policy is `for_one_reader` (the usual case), an app's list that names no cache
        # field takes `Cache-Control: private` appended, without the general path's rewrite.
        plain = not (chosen or vary or edge is not None or (jurisdiction.source == "header" and self.vary_headers))

        async def send_with_cache_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _cache.for_one_reader_plain(message.get("headers", ())) if plain else None
                if headers is None:
                    lowered = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
                    headers = self.cache_headers(lowered, jurisdiction, edge, chosen, vary)
                message = {**message, "headers": headers}
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
        accept_language = bounded_accept_language(header_text(request_headers, b"accept-language"))
        language, *also = notice_languages(decision.block.rule, notice, None, None, accept_language)
        extra: list[tuple[bytes, bytes]] = []
        if edge is not None:
            extra = _headers.vary_on([], self._class_vary)
        elif jurisdiction.source == "header" and self.vary_headers:
            extra = _headers.vary_on([], self.vary_headers)
        status, headers, body = block_response(
            notice,
            language,
            prefers_json=prefers_json(header_text(request_headers, b"accept")),
            headers_extra=extra,
            also=tuple(also),
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
        rules = block_outcomes(decision, (language, *also))
        self.record(scope, jurisdiction, Outcomes(rules), 0.0, edge)

    def record(
        self,
        scope: Scope,
        jurisdiction: Jurisdiction,
        outcomes: Outcomes,
        spent: float,
        edge: EdgeClass | None = None,
    ) -> None:
        """The metrics and the audit event of one covered response."""
        rules = outcomes.rules
        if self.metrics.enabled:
            self.metrics.observe(outcomes.labels(jurisdiction.country or "unknown"), spent)
        if not audit_enabled() or not self.audit_policy.wants(bool(rules)):
            return
        headers = scope.get("headers") or ()
        request_id = request_id_of(header_text(headers, self.request_id_header))
        network = network_of(self.resolver.client_ip(scope))
        event = "preview" if jurisdiction.source == "preview" else "decision"
        method = scope.get("method")
        path: str = scope["path"]
        built = self.resolver.geoip_built
        edge_fields = None if edge is None else edge.audit_fields()
        sample = None if rules else self.audit_policy.sample_unfired
        j = jurisdiction
        # What the event repeats from one response to the next with the same plan and outcomes: its
        # template (line and chain bytes) is encoded once, and only time, request id, path and network
        # are added (the network where the recommended handler takes the line: see `emit_prepared`).
        same = (
            event,
            method,
            (j.country, j.subdivision, j.anonymous, j.source, tuple(sorted(j.kinds)) if j.kinds else None),
            built,
            None if edge_fields is None else tuple(edge_fields.items()),
            sample,
            outcomes,
        )

        def fields() -> dict[str, Any]:
            return {
                "request_id": request_id,
                "method": method,
                "path": path,
                "jurisdiction": jurisdiction_fields(jurisdiction),
                "network": network,
                "rules": rules,
                **({} if built is None else {"geoip_built": built}),
                **({} if edge_fields is None else edge_fields),
                **({} if sample is None else {"sample": sample}),
            }

        emit_prepared(event, same, request_id, path, network, fields)
