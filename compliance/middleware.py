"""ComplianceMiddleware: the one module that speaks ASGI.

Per request, before the app is called: resolve the reader's jurisdiction, decide
which rules fire (both cached), and leave the jurisdiction in
`scope["state"]["jurisdiction"]`. A page no rule covers goes straight to the app:
its response is not touched at all. On a covered page a per-request `_Responder`
wraps `send`: it adds the cache headers, holds `http.response.start` until the
first body chunk, and streams the body through the HTML rewriter.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compliance.errors import ConfigError
from compliance.observe.audit import FAULT_LOGGER, AuditPolicy, audit_enabled, emit, jurisdiction_fields, network_of
from compliance.observe.metrics import Metrics
from compliance.reader.address import client_address
from compliance.reader.databases import Resolver
from compliance.reader.jurisdiction import UNKNOWN_JURISDICTION, Jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.respond import headers as _headers
from compliance.respond.block import block_response, prefers_json
from compliance.respond.encoding import CorruptBody, Recoder, is_supported
from compliance.respond.html import HtmlRewriter, Insertion
from compliance.respond.json import JsonInserter, notices_json
from compliance.respond.render import (
    charset_from_content_type,
    choose_language,
    codec_for,
    render_notice_html,
    render_style,
    sniff_html,
)
from compliance.rules.decide import Decision, Firing
from compliance.rules.model import HTML_PLACES, Notice, Place, RuleSet
from compliance.sources.reload import RuleSource

__all__ = ["ComplianceMiddleware"]

HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
#: Bytes of the body read before choosing the charset and language (the HTML prescan size).
SNIFF_SIZE: Final = 1024
DEFAULT_HOLDBACK: Final = 256 * 1024
_BODY_END: Final = Place("body-end")


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
        holdback: int = DEFAULT_HOLDBACK,
        resolver: Resolver | None = None,
        request_id_header: str = "x-request-id",
        test_secret: str | None = None,
        reload_interval: float | None = 1.0,
        bundle_cache_dir: str | os.PathLike[str] | None = None,
        bundle_sha256: str | None = None,
        bundle_hmac_key: str | bytes | None = None,
        bundle_headers: dict[str, str] | None = None,
        anonymous_db: str | os.PathLike[str] | None = None,
        audit_sample_unfired: float = 0.0,
        metrics: Metrics | bool = True,
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
        )
        self.resolver = JurisdictionResolver(
            geoip_db=geoip_db,
            trusted_proxies=trusted_proxies,
            country_header=country_header,
            region_header=region_header,
            resolver=resolver,
            anonymous_db=anonymous_db,
            reload_interval=reload_interval,
        )
        self.vary_headers: tuple[str, ...] = tuple(h for h in (country_header, region_header) if h)
        self.holdback = holdback
        self.request_id_header = request_id_header.lower().encode("latin-1")
        self.test_secret = test_secret
        self.audit_policy = AuditPolicy(sample_unfired=audit_sample_unfired)
        self.metrics = metrics if isinstance(metrics, Metrics) else Metrics(enabled=bool(metrics))
        self.metrics.watch_rules(self.rules)
        self._timed = self.metrics.enabled
        self._started = False
        self._plans: dict[int, _Plan] = {}

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
                jurisdiction = _test_jurisdiction(scope, self.test_secret) or self.resolver.resolve(scope)
                state = scope.get("state")
                if state is None:
                    scope["state"] = state = {}
                state["jurisdiction"] = jurisdiction
                decision = engine.decide(jurisdiction, host, scope["path"])
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
            await self._block(scope, send, decision, jurisdiction)
            return
        if not decision.fired and not began and not self.audit_policy.sample_unfired:
            # A covered page and a reader who gets nothing: only the cache headers change.
            await self.app(scope, receive, self._cache_headers_only(send, jurisdiction))
            return
        responder = _Responder(self, scope, send, decision, jurisdiction)
        if began:
            responder.spent = time.perf_counter() - began
        await self.app(scope, receive, responder.send)

    def _start(self) -> None:
        self._started = True
        self.rules.start()
        self.resolver.start()

    def cache_headers(
        self, headers: list[tuple[bytes, bytes]], jurisdiction: Jurisdiction
    ) -> list[tuple[bytes, bytes]]:
        """`Vary` on the CDN header where it was the source, else `Cache-Control: private`."""
        if jurisdiction.source == "header" and self.vary_headers:
            return _headers.vary_on(headers, self.vary_headers)
        return _headers.make_private(headers)

    def _cache_headers_only(self, send: Send, jurisdiction: Jurisdiction) -> Send:
        async def send_with_cache_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
                message = {**message, "headers": self.cache_headers(headers, jurisdiction)}
            await send(message)

        return send_with_cache_headers

    def plan(self, decision: Decision) -> _Plan:
        """What a decision means for a response, worked out once per decision (decisions are cached)."""
        entry = self._plans.get(id(decision))
        if entry is not None and entry.decision is decision:
            return entry
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        entry = self._plans[id(decision)] = _Plan(decision)
        return entry

    async def _block(self, scope: Scope, send: Send, decision: Decision, jurisdiction: Jurisdiction) -> None:
        """Answer 451 for a block rule, without calling the app."""
        assert decision.block is not None
        notice = decision.block.notice
        request_headers = scope.get("headers") or ()
        language = choose_language(notice, None, None, _header_text(request_headers, b"accept-language"))
        extra: list[tuple[bytes, bytes]] = []
        if jurisdiction.source == "header" and self.vary_headers:
            extra = _headers.vary_on([], self.vary_headers)
        status, headers, body = block_response(
            notice,
            language,
            prefers_json=prefers_json(_header_text(request_headers, b"accept")),
            headers_extra=extra,
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
        rules = [
            {
                "rule": decision.block.rule.id,
                "notice": notice.id,
                "mode": "enforce",
                "language": language,
                "outcome": "blocked",
            },
            *(
                {
                    "rule": f.rule.id,
                    "notice": f.notice.id,
                    "mode": f.rule.mode,
                    "outcome": "not-applicable",
                    "why": "the page is blocked",
                }
                for f in decision.fired
            ),
        ]
        self.record(scope, jurisdiction, rules, 0.0)

    def record(self, scope: Scope, jurisdiction: Jurisdiction, rules: list[dict[str, Any]], spent: float) -> None:
        """The metrics and the audit event of one covered response."""
        if self.metrics.enabled:
            where = jurisdiction.country or "unknown"
            self.metrics.observe(((e["rule"], where, e["outcome"]) for e in rules), spent)
        if not audit_enabled() or not self.audit_policy.wants(bool(rules)):
            return
        headers = scope.get("headers") or ()
        request_id = _header_text(headers, self.request_id_header) or uuid.uuid4().hex
        ip, _ = client_address(scope, self.resolver.trusted)
        emit(
            "decision",
            {
                "request_id": request_id[:200],
                "method": scope.get("method"),
                "path": scope.get("path"),
                "jurisdiction": jurisdiction_fields(jurisdiction),
                "network": network_of(ip),
                "rules": rules,
                **({} if rules else {"sample": self.audit_policy.sample_unfired}),
            },
        )


#: An ASGI scope extension that sets the reader's jurisdiction, for `compliance test --app`.
#: A server never puts it in a scope, so it cannot be reached from the network.
TEST_EXTENSION: Final = "compliance.jurisdiction"
#: The request header `compliance test --url` sends to a staging server configured with
#: `test_secret`: `secret=...; country=RU; subdivision=UA-43`. Without the right secret it is ignored.
TEST_HEADER: Final = b"compliance-test-jurisdiction"


def _test_jurisdiction(scope: Scope, secret: str | None) -> Jurisdiction | None:
    extensions = scope.get("extensions")
    if extensions:
        given = extensions.get(TEST_EXTENSION)
        if isinstance(given, Jurisdiction):
            return given
    if secret is None:
        return None
    value = _headers.get(scope.get("headers") or (), TEST_HEADER)
    if value is None:
        return None
    fields = {}
    for part in value.decode("latin-1").split(";"):
        key, _, val = part.partition("=")
        fields[key.strip().lower()] = val.strip()
    if not hmac.compare_digest(fields.get("secret", "").encode(), secret.encode()):
        return None
    country = fields.get("country", "").upper() or None
    if country in ("UNKNOWN", ""):
        country = None
    return Jurisdiction(country, fields.get("subdivision", "").upper() or None, fields.get("anonymous") == "1", "test")


def _host(scope: Scope) -> str:
    for key, value in scope.get("headers") or ():
        if key == b"host":
            text: str = bytes(value).decode("latin-1").strip().lower()
            if text.startswith("["):
                return text[: text.find("]") + 1]
            return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    server = scope.get("server")
    return str(server[0]).lower() if server else ""


_MEDIA_TYPES: dict[bytes, str] = {}


def _media_type(content_type: bytes | None) -> str:
    """The media type of a Content-Type value, lower case (cached: a site sends few distinct values)."""
    if content_type is None:
        return ""
    found = _MEDIA_TYPES.get(content_type)
    if found is None:
        if len(_MEDIA_TYPES) >= 1024:
            _MEDIA_TYPES.clear()
        found = _MEDIA_TYPES[content_type] = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    return found


def _rewritable_status(status: int) -> bool:
    return (200 <= status < 300 and status not in (204, 205, 206)) or 400 <= status < 600


class _Skipped(Exception):
    """The response cannot carry the notices due (the reason is the message)."""


class _Transform(Protocol):
    """A body transform: `feed(data, last=True)` also returns what is left at the end."""

    @property
    def placed(self) -> Any: ...

    def feed(self, data: bytes, last: bool = False) -> bytes: ...

    def close(self) -> bytes: ...


def _is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


_PLAN_CACHE_SIZE: Final = 1024


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
            value = _test_jurisdiction(scope, self._mw.test_secret) or self._mw.resolver.resolve(scope)
        except Exception:
            FAULT_LOGGER.exception("compliance: could not resolve the jurisdiction")
            value = UNKNOWN_JURISDICTION
        self[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key == "jurisdiction" or key in self else default

    def __contains__(self, key: object) -> bool:
        return key == "jurisdiction" or super().__contains__(key)


#: Headers that describe the body as the app sent it, and go when the body is changed.
_DROPPED_WHEN_CHANGED: Final = frozenset({b"content-length", b"etag", b"content-md5", b"accept-ranges"})
_CHARSETS: dict[bytes, str | None] = {}


def _charset(content_type: bytes) -> str | None:
    """The charset parameter of a Content-Type value (cached: a site sends few distinct values)."""
    try:
        return _CHARSETS[content_type]
    except KeyError:
        if len(_CHARSETS) >= _PLAN_CACHE_SIZE:
            _CHARSETS.clear()
        found = _CHARSETS[content_type] = charset_from_content_type(content_type.decode("latin-1"))
        return found


def _html_start_tag(head: bytes) -> bytes:
    """The page's `<html ...>` start tag as written (the language comes from it), or b"" where not found."""
    start = head.find(b"<html")
    if start < 0:
        start = head.lower().find(b"<html")
        if start < 0:
            return b""
    end = head.find(b">", start)
    return head[start : end + 1] if end > 0 else head[start:]


class _Plan:
    """What one decision asks of a response, worked out once and kept with the cached decision."""

    __slots__ = ("decision", "html_due", "json_due", "header_due", "multilingual", "rewriters", "json_values")

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.html_due: list[Firing] = []
        self.json_due: dict[str, list[Firing]] = {}
        self.header_due: dict[str, list[Firing]] = {}
        for firing in decision.fired:
            if not firing.enforced or not firing.rule.placement:
                continue
            first = firing.rule.placement[0]
            if first.kind in HTML_PLACES:
                self.html_due.append(firing)
            elif first.kind == "json" and first.arg:
                self.json_due.setdefault(first.arg, []).append(firing)
            elif first.kind == "header" and first.arg:
                self.header_due.setdefault(first.arg, []).append(firing)
        #: Whether the page's own language (`<html lang>`) can change which text is shown.
        self.multilingual = any(len(f.notice.text) > 1 for f in self.html_due)
        #: (charset, Content-Language, Accept-Language, <html> tag) -> the rewriter's inputs
        self.rewriters: dict[
            tuple[str | None, str | None, str | None, bytes],
            tuple[tuple[Insertion, ...], bytes, tuple[tuple[str, str], ...]],
        ] = {}
        #: (Content-Language, Accept-Language) -> the JSON field's value and each notice's language
        self.json_values: dict[tuple[str | None, str | None], tuple[bytes, list[tuple[Notice, str]]]] = {}


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
        "passing",
        "outcome",
        "media",
        "spent",
        "content_language",
    )

    def __init__(
        self, mw: ComplianceMiddleware, scope: Scope, send: Send, decision: Decision, jurisdiction: Jurisdiction
    ) -> None:
        self.mw = mw
        self.scope = scope
        self._send = send
        self.decision = decision
        self.jurisdiction = jurisdiction
        self.plan = plan = mw.plan(decision)
        self.html_due = plan.html_due
        self.json_due = plan.json_due
        self.header_due = plan.header_due
        self.start: Message | None = None
        self.transform: _Transform | None = None
        self.recoder: Recoder | None = None
        self.pending: list[bytes] = []
        self.raw_pending: list[bytes] = []
        self.pending_size = 0
        self.passing = False
        #: notice id -> what the audit event says of it
        self.outcome: dict[str, dict[str, Any]] = {}
        self.media = ""
        #: Seconds spent in the middleware's own work on this response (for metrics).
        self.spent = 0.0
        self.content_language: str | None = None

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
        else:
            # A body we cannot see (http.response.pathsend, zero-copy send...) or a
            # message out of order: pass what we hold and everything after it as it is.
            await self._give_up("the body was sent in a form that cannot be changed")
            await self._send(message)

    async def _on_start(self, message: Message) -> None:
        began = time.perf_counter()
        headers = []
        content_type = encoding = None
        cache_control = False
        for key, value in message.get("headers", ()):
            key = bytes(key).lower()
            if key == b"content-type":
                content_type = value
            elif key == b"content-encoding":
                encoding = value
            elif key == b"content-language":
                self.content_language = bytes(value).decode("latin-1")
            elif key == b"cache-control":
                cache_control = True
            headers.append((key, bytes(value)))
        if self.decision.dependent:
            if cache_control or self.jurisdiction.source == "header":
                headers = self.mw.cache_headers(headers, self.jurisdiction)
            else:
                headers.append((b"cache-control", b"private"))  # what make_private gives, without the scan
        status = int(message["status"])
        if self.header_due and status >= 200:
            headers = self._notice_headers(headers)
        message = {**message, "headers": headers}
        self.media = _media_type(content_type)
        reason = self._why_untouched(status)
        if reason is not None:
            self.passing = True
            self._audit(missed=reason)
            await self._send(message)
            return
        if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
            name = encoding.decode("latin-1").strip()
            if not is_supported(name):
                self.passing = True
                self._audit(missed=f"the body is encoded as {name!r}, which cannot be decoded")
                await self._send(message)
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
                    self.pending.append(plain)
                    self.pending_size += len(plain)
                if more and self.pending_size < SNIFF_SIZE:
                    return
                plain = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
                self.transform = self._build_transform(plain[:SNIFF_SIZE])
            out = self.transform.feed(plain, last=not more)
            if self.recoder is not None:
                out = self.recoder.encode(out, final=not more)
        except _Skipped as skipped:
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

    def _why_untouched(self, status: int) -> str | None:
        """Why this body takes no notice, or None when it is to be rewritten ("" for: nothing due)."""
        due = self.html_due if self.media in HTML_TYPES else self.json_due if _is_json(self.media) else None
        if not due:
            return ""
        if self.scope.get("method") == "HEAD":
            return "HEAD request: no body"
        if not _rewritable_status(status):
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

    def _languages(self) -> tuple[str | None, str | None]:
        return self.content_language, _header_text(self.scope.get("headers") or (), b"accept-language")

    def _build_transform(self, head: bytes) -> _Transform:
        if self.media in HTML_TYPES:
            return self._build_rewriter(head)
        return self._build_json()

    def _build_json(self) -> _Transform:
        languages_asked = self._languages()
        ((field, firings),) = list(self.json_due.items())[:1]
        built = self.plan.json_values.get(languages_asked)
        if built is None:
            content_language, accept_language = languages_asked
            items = [(f.notice, choose_language(f.notice, content_language, None, accept_language)) for f in firings]
            if len(self.plan.json_values) >= _PLAN_CACHE_SIZE:
                self.plan.json_values.clear()
            built = self.plan.json_values[languages_asked] = (notices_json(items), items)
        value, items = built
        for notice, language in items:
            self.outcome[notice.id] = {"language": language, "place": f"json: {field}"}
        return _JsonTransform(field, value, [f.notice.id for f in firings])

    def _build_rewriter(self, head: bytes) -> _Transform:
        assert self.start is not None
        headers = self.start["headers"]
        charset = _charset(_headers.get(headers, b"content-type") or b"")
        content_language, accept_language = self._languages()
        html_tag = b""
        if charset is None:
            sniffed_charset, _ = sniff_html(head)
            charset = sniffed_charset
        if self.plan.multilingual:
            html_tag = _html_start_tag(head)
        key = (charset, content_language, accept_language, html_tag)
        built = self.plan.rewriters.get(key)
        if built is None:
            built = self.plan.rewriters[key] = self._prepare_rewriter(charset, content_language, accept_language, head)
        insertions, head_markup, languages = built
        for notice_id, language in languages:
            self.outcome[notice_id] = {"language": language}
        return HtmlRewriter(insertions, head_markup, self.mw.holdback)

    def _prepare_rewriter(
        self, charset: str | None, content_language: str | None, accept_language: str | None, head: bytes
    ) -> tuple[tuple[Insertion, ...], bytes, tuple[tuple[str, str], ...]]:
        """The notices' markup for this charset and these languages (cached per decision)."""
        codec = codec_for(charset)
        if codec is None:
            raise _Skipped(f"the page's charset {charset!r} is not known")
        html_lang = sniff_html(head)[1] if self.plan.multilingual else None
        insertions: list[Insertion] = []
        languages: list[tuple[str, str]] = []
        css: list[str] = []
        for firing in self.html_due:
            notice = firing.notice
            language = choose_language(notice, content_language, html_lang, accept_language)
            places = tuple(p for p in firing.rule.placement if p.kind in HTML_PLACES)
            insertions.append(Insertion(notice.id, places, render_notice_html(notice, language, codec)))
            languages.append((notice.id, language))
            if notice.css and notice.css not in css:
                css.append(notice.css)
        head_markup = render_style(css, codec) if css else b""
        if len(self.plan.rewriters) >= _PLAN_CACHE_SIZE:
            self.plan.rewriters.clear()
        return tuple(insertions), head_markup, tuple(languages)

    async def _flush_start(self, *, more: bool, length: int | None = None, modified: bool = False) -> None:
        start, self.start = self.start, None
        if start is None:
            return
        headers = start["headers"]
        if modified:
            headers = [h for h in headers if h[0] not in _DROPPED_WHEN_CHANGED]
            if not more and length is not None:
                headers.append((b"content-length", str(length).encode("latin-1")))
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

    def _audit(self, missed: str | None = None) -> None:
        if not (self.mw.metrics.enabled or audit_enabled()):
            return
        placed: dict[str, Any] = {}
        if self.transform is not None and missed is None:
            placed = {p.key: p for p in self.transform.placed}
        body_due = {f.notice.id for f in self.html_due} | {f.notice.id for fs in self.json_due.values() for f in fs}
        rules = []
        for firing in self.decision.fired:
            notice_id = firing.notice.id
            known = self.outcome.get(notice_id, {})
            entry: dict[str, Any] = {"rule": firing.rule.id, "notice": notice_id, "mode": firing.rule.mode}
            entry.update((k, v) for k, v in known.items() if k == "language")
            if not firing.enforced:
                entry["outcome"] = "report-only"
            elif known.get("outcome") == "injected":
                entry.update(outcome="injected", place=known["place"])
            elif notice_id not in body_due:
                entry.update(outcome="not-applicable", why=f"content type {self.media or '(none)'}")
            elif missed is not None:
                entry.update(outcome="missed" if missed else "not-applicable", why=missed or "no body")
            elif notice_id in placed:
                where = placed[notice_id]
                entry["outcome"] = "fallback" if where.fallback else "injected"
                entry["place"] = str(where.place or "end-of-document")
            else:
                entry.update(outcome="missed", why=getattr(self.transform, "reason", None) or "no place found")
            rules.append(entry)
        self.mw.record(self.scope, self.jurisdiction, rules, self.spent)


@dataclass(frozen=True, slots=True)
class _JsonPlaced:
    key: str
    place: Place | None
    fallback: bool = False


class _JsonTransform:
    """`{json: FIELD}`: the notices as a top-level field of a JSON object body."""

    __slots__ = ("inserter", "ids", "field")

    def __init__(self, field: str, value: bytes, ids: list[str]) -> None:
        self.inserter = JsonInserter(field, value)
        self.ids = ids
        self.field = field

    def feed(self, data: bytes, last: bool = False) -> bytes:
        out = self.inserter.feed(data)
        return out + self.inserter.close() if last else out

    def close(self) -> bytes:
        return self.inserter.close()

    @property
    def reason(self) -> str | None:
        return self.inserter.reason

    @property
    def placed(self) -> list[_JsonPlaced]:
        if not self.inserter.placed:
            return []
        return [_JsonPlaced(i, Place("json", self.field)) for i in self.ids]


def _header_text(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    value = _headers.get(headers, name)
    return None if value is None else value.decode("latin-1")


logging.getLogger("compliance").addHandler(logging.NullHandler())
