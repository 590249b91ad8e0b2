"""The apps under test: the bare apps, ours wrapped around them, and the peers.

- bare: raw ASGI apps that send prebuilt bytes (the in-process baseline) and a
  Starlette `HTMLResponse` app (the over-the-wire baseline);
- ours: `ComplianceMiddleware` with the benchmark's rules, `metrics=False`,
  `reload_interval=None` (no Prometheus, no watcher thread);
- the naive peer: a `BaseHTTPMiddleware` that buffers the body and adds the
  same notice with BeautifulSoup, as people write it by hand;
- lol-html through `python-lolhtml`, as a pure ASGI middleware;
- the limit: a pure ASGI middleware that finds the place with one `bytes.find`
  (or `rfind`) and makes one copy of the body.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compliance import ComplianceMiddleware
from compliance.respond.render import codec_for, render_notice_html
from compliance.rules.load import load_rules

__all__ = [
    "LimitMiddleware",
    "LolHtmlMiddleware",
    "NaiveNoticeMiddleware",
    "lolhtml_available",
    "notice_markup",
    "ours",
    "raw_app",
    "starlette_app",
    "streaming_app",
]

HTML = b"text/html; charset=utf-8"


def raw_app(body: bytes, content_type: bytes = HTML, extra: tuple[tuple[bytes, bytes], ...] = ()) -> ASGIApp:
    """A raw ASGI app that sends `body` in one message (headers prebuilt, as a cache would)."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    message = {"type": "http.response.body", "body": body, "more_body": False}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({**start, "headers": list(headers)})
        await send(message)

    return app


def starlette_app(page: bytes, api: bytes) -> ASGIApp:
    """Starlette responses built per request: the page as `HTMLResponse`, `/api/...` as JSON."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        response = Response(api, media_type="application/json") if path.startswith("/api/") else HTMLResponse(page)
        await response(scope, receive, send)

    return app


def streaming_app(pieces: Callable[[], Iterator[bytes]]) -> ASGIApp:
    """Streams what `pieces()` yields, each as one body message, then an empty final one (no Content-Length)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", HTML)]})
        for piece in pieces():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def gzip_body(page: bytes, level: int = 6) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
    """The page gzip-compressed, and the headers that go with it."""
    return gzip.compress(page, level, mtime=0), ((b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding"))


def ours(app: ASGIApp, rules: Path, **options: Any) -> ComplianceMiddleware:
    """Our middleware as the benchmark runs it: no Prometheus, no watcher thread, unless given."""
    options.setdefault("metrics", False)
    options.setdefault("reload_interval", None)
    return ComplianceMiddleware(app, rules=rules, **options)


def notice_markup(rules: Path, notice_id: str = "bench-notice") -> bytes:
    """The exact markup our middleware adds for `notice_id` (in English, UTF-8): what the peers add too."""
    ruleset = load_rules(rules)
    codec = codec_for("utf-8")
    assert codec is not None
    return render_notice_html(ruleset.notices[notice_id], "en", codec)


def _content_length(headers: list[tuple[bytes, bytes]], length: int | None) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"etag")]
    if length is not None:
        kept.append((b"content-length", str(length).encode()))
    return kept


class NaiveNoticeMiddleware(BaseHTTPMiddleware):
    """The naive peer: buffer the whole body, parse it with BeautifulSoup, add the notice, serialise.

    `selector` None appends the notice to `<body>`; else it goes right after the
    first element the CSS selector matches.
    """

    def __init__(self, app: ASGIApp, markup: bytes, selector: str | None = None) -> None:
        super().__init__(app)
        self.markup = markup.decode("utf-8")
        self.selector = selector

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        from bs4 import BeautifulSoup

        response = await call_next(request)
        if not response.headers.get("content-type", "").startswith("text/html"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        soup = BeautifulSoup(body, "html.parser")
        notice = BeautifulSoup(self.markup, "html.parser")
        if self.selector is None:
            assert soup.body is not None
            soup.body.append(notice)
        else:
            anchor = soup.select_one(self.selector)
            assert anchor is not None
            anchor.insert_after(notice)
        out = soup.encode("utf-8")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "etag")}
        return Response(out, status_code=response.status_code, headers=headers)


class LimitMiddleware:
    """The physical limit: one search for the place (`rfind`, or a forward `find`) and one copy of the body."""

    def __init__(self, app: ASGIApp, markup: bytes, needle: bytes, *, forward: bool, after: bool = False) -> None:
        self.app = app
        self.markup = markup
        self.needle = needle
        self.forward = forward
        self.skip = len(needle) if after else 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: list[Message] = []

        async def splice(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
                return
            body = message["body"]
            at = body.find(self.needle) if self.forward else body.rfind(self.needle)
            if at >= 0:
                at += self.skip
                view = memoryview(body)
                body = b"".join((view[:at], self.markup, view[at:]))
            first = start[0]
            await send({**first, "headers": _content_length(first["headers"], len(body))})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, splice)


def lolhtml_available() -> bool:
    try:
        import lolhtml  # noqa: F401
    except ImportError:
        return False
    return True


class LolHtmlMiddleware:
    """lol-html through `python-lolhtml`, streaming, as a pure ASGI middleware.

    `selector` "body" with `append` is the `body-end` placement; `article h1` with
    `after` is `{after: "article h1"}`.
    """

    def __init__(self, app: ASGIApp, markup: bytes, selector: str, action: str) -> None:
        import lolhtml

        self.app = app
        self.selector = selector
        markup_text = markup.decode("utf-8")
        kind = lolhtml.ContentType.HTML

        class Handler:
            def element(self, element: Any) -> None:
                getattr(element, action)(markup_text, kind)

        self.handler = Handler()
        self.rewriter_class = lolhtml.HTMLRewriter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        out: list[Any] = []
        rewriter = self.rewriter_class(out.append)
        rewriter.on(self.selector, self.handler)
        start: list[Message] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
                return
            more = message.get("more_body", False)
            body = message.get("body", b"")
            if body:
                rewriter.write(body)
            if not more:
                rewriter.end()
            chunk = b"".join(out)
            out.clear()
            if start:
                first = start.pop()
                length = None if more else len(chunk)
                await send({**first, "headers": _content_length(first["headers"], length)})
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

        await self.app(scope, receive, rewrite)
