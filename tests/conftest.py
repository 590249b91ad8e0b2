"""Shared test helpers: drive an ASGI app in-process with a chosen client address."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from compliance.reader.chosen import TEST_EXTENSION
from compliance.reader.jurisdiction import given_jurisdiction

# pytester: the pytest plugin's tests run pytest on projects of their own.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
RU_IP = "95.173.136.70"  # Russia in the embedded table
US_IP = "8.8.8.8"  # United States in the embedded table

NOTICE_YAML = """\
notices:
  warning:
    title: Test warning
    text:
      en: "Readers here: take care."
      ru: "Читатели здесь: будьте осторожны."
    link: {href: "https://example.org/why", text: {en: "Why?", ru: "Почему?"}}
"""


def write_rules(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def rule_file(tmp_path: Path, rules: str, notices: str = NOTICE_YAML) -> Path:
    return write_rules(tmp_path, notices + textwrap.dedent(rules))


def fetch(
    app: Any,
    path: str = "/",
    *,
    client: tuple[str, int] = (RU_IP, 40000),
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request through httpx's ASGI transport, on a fresh event loop."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://news.example") as http:
            return await http.request(method, path, headers=headers)

    return asyncio.run(go())


def fetch_audited(caplog: pytest.LogCaptureFixture, app: Any, path: str) -> tuple[str, list[Any]]:
    """A reader in Russia's page at path, and the rules of the one audit event it made."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(app, path, client=(RU_IP, 1)).text
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    return text, event["rules"]


class AsReader:
    """An app as a reader in `country` gets it: the jurisdiction in the scope, as `compliance test` puts it."""

    def __init__(self, app: Any, country: str) -> None:
        self.app = app
        self.jurisdiction = given_jurisdiction(country)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), TEST_EXTENSION: self.jurisdiction}}
        await self.app(scope, receive, send)


@dataclass
class Sent:
    """Everything an app sent through a middleware, message by message."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def start(self) -> dict[str, Any]:
        return next(m for m in self.messages if m["type"] == "http.response.start")

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.start["headers"]]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name.lower().encode():
                return v.decode("latin-1")
        return None

    @property
    def bodies(self) -> list[bytes]:
        return [bytes(m.get("body", b"")) for m in self.messages if m["type"] == "http.response.body"]

    @property
    def body(self) -> bytes:
        return b"".join(self.bodies)


def http_scope(
    path: str = "/",
    *,
    client: tuple[str, int] | None = (RU_IP, 40000),
    method: str = "GET",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"news.example"), *headers],
        "client": client,
        "server": ("127.0.0.1", 8000),
    }


def run_asgi(app: Any, scope: dict[str, Any]) -> Sent:
    """Call an ASGI app directly and collect every message it sends, as a server would see them."""
    sent = Sent()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # the client stays connected until the response is complete
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.messages.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def chunked_app(
    chunks: Sequence[bytes],
    *,
    status: int = 200,
    content_type: bytes = b"text/html; charset=utf-8",
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
    content_length: bool = True,
) -> Callable[..., Any]:
    """An ASGI app that sends `chunks` as separate body messages."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", content_type), *extra_headers]
        if content_length:
            headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})
        if not chunks:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


@pytest.fixture
def example_rules() -> Path:
    return ROOT / "rules"
