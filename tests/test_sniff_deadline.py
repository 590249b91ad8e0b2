"""The first bytes of a page whose charset is not yet known wait at most `SNIFF_WAIT`, even when the app pauses.

Over a real server (uvicorn, on asyncio and on uvloop) and in-process, on asyncio and on trio; the
other servers (hypercorn on trio among them) run the same page in tests/test_servers.py.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from compliance import ComplianceMiddleware
from compliance.middleware.responder import SNIFF_WAIT, Responder
from tests.conftest import RU_IP, http_scope, rule_file, run_asgi
from tests.server import serve

RULES = """
rules:
  - {id: r, notice: warning, jurisdictions: [RU]}
"""
#: A page whose first 16 bytes carry what the rewriter reads (`<html lang>`), and no `<meta charset>`.
PAGE = b'<html lang="ru"><head><title>Live</title></head><body><p>First.</p><p>Second.</p></body></html>'
PIECE = 16
PAUSE = 0.5
NOTICE = b'data-legal-notice="warning"'


def trickle(content_type: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> Any:
    """The page 16 bytes every `PAUSE` seconds on `/`, in one message on `/whole`."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        headers = [(b"content-type", content_type), *(extra or [])]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["path"] == "/whole":
            await send({"type": "http.response.body", "body": PAGE, "more_body": False})
            return
        for at in range(0, len(PAGE), PIECE):
            if at:
                await anyio.sleep(PAUSE)
            await send({"type": "http.response.body", "body": PAGE[at : at + PIECE], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize(
    ("content_type", "extra"),
    [(b"text/html", []), (b"text/html; charset=utf-8", [(b"content-language", b"ru")])],
    ids=["charset-unknown", "charset-known"],
)
def test_a_page_streamed_in_small_pieces_reaches_the_reader_at_once(
    tmp_path: Path, loop: str, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    app = ComplianceMiddleware(
        trickle(content_type, extra), rules=rule_file(tmp_path, RULES), trusted_proxies=["127.0.0.1"]
    )
    headers = {"X-Forwarded-For": RU_IP}
    with serve(app, loop=loop) as url, httpx.Client(base_url=url, timeout=30) as client:
        whole = client.get("/whole", headers=headers).content
        began = time.monotonic()
        with client.stream("GET", "/", headers=headers) as r:
            parts = [(time.monotonic() - began, part) for part in r.iter_raw() if part]
    assert parts[0][0] < 0.3, parts[:2]  # the app's next piece comes only after 0.5 s
    assert parts[0][1].startswith(b'<html lang="ru">')
    assert parts[-1][0] >= PAUSE * 4
    streamed = b"".join(part for _, part in parts)
    assert streamed == whole
    assert streamed.count(NOTICE) == 1 and "Читатели".encode() in streamed
    assert "content-length" not in r.headers


def _run(
    app: Any,
    path: str = "/",
    client_waits: float = 0.0,
    out: list[tuple[float, dict[str, Any]]] | None = None,
    backend: str = "asyncio",
) -> list[tuple[float, dict[str, Any]]]:
    """Call `app` in-process on `backend`; every message it sends with the time it was sent (into `out` if given)."""
    sent: list[tuple[float, dict[str, Any]]] = [] if out is None else out

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def main() -> None:
        began = time.monotonic()

        async def send(message: dict[str, Any]) -> None:
            sent.append((time.monotonic() - began, message))

        try:
            await app(http_scope(path), receive, send)
        finally:
            await anyio.sleep(client_waits)  # the client stays a while after the app ended

    anyio.run(main, backend=backend)
    return sent


def _body(out: list[tuple[float, dict[str, Any]]]) -> bytes:
    return b"".join(m.get("body", b"") for _, m in out if m["type"] == "http.response.body")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_deadline_gives_the_bytes_one_message_gives(tmp_path: Path, backend: str) -> None:
    mw = ComplianceMiddleware(trickle(b"text/html"), rules=rule_file(tmp_path, RULES))
    whole = run_asgi(mw, http_scope("/whole"))
    out = _run(mw, backend=backend)
    start_at, start = out[0]
    assert start["type"] == "http.response.start"
    assert start_at < SNIFF_WAIT + 0.2 and out[1][0] < SNIFF_WAIT + 0.2
    assert out[1][1]["body"].startswith(b'<html lang="ru">')
    assert _body(out) == whole.body
    assert not any(k == b"content-length" for k, _ in start["headers"])
    assert dict(whole.messages[0]["headers"])[b"content-length"] == str(len(whole.body)).encode()


def test_a_page_sent_in_one_message_or_with_its_charset_arms_no_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    armed: list[bool] = []
    monkeypatch.setattr(Responder, "_arm_deadline", lambda self: armed.append(True))
    rules = rule_file(tmp_path, RULES)
    run_asgi(ComplianceMiddleware(trickle(b"text/html"), rules=rules), http_scope("/whole"))
    assert armed == []
    headers = [(b"content-language", b"ru")]
    _run(ComplianceMiddleware(trickle(b"text/html; charset=utf-8", headers), rules=rules))
    assert armed == []
    _run(ComplianceMiddleware(trickle(b"text/html"), rules=rules))
    assert armed == [True]  # once per response, not once per held piece


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("fails", [True, False])
def test_nothing_is_sent_after_the_app_ended(tmp_path: Path, fails: bool, backend: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": PAGE[:PIECE], "more_body": True})
        if fails:
            raise RuntimeError("the app failed while its first bytes were held")

    out: list[tuple[float, dict[str, Any]]] = []
    mw = ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES))
    if fails:
        with pytest.raises(RuntimeError):
            _run(mw, client_waits=SNIFF_WAIT * 3, out=out, backend=backend)
    else:
        _run(mw, client_waits=SNIFF_WAIT * 3, out=out, backend=backend)
    assert out == []


def test_without_an_event_loop_it_knows_the_wait_ends_with_the_next_piece(tmp_path: Path) -> None:
    """Under an event loop neither asyncio nor trio no deadline is armed: the first bytes go with a later piece."""
    out: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        for at in range(0, len(PAGE), PIECE):
            await send({"type": "http.response.body", "body": PAGE[at : at + PIECE], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    mw = ComplianceMiddleware(app, rules=rule_file(tmp_path, RULES))
    _drive(mw(http_scope(), receive, send))  # no event loop runs: nothing here may wait on one
    body = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
    assert (
        body
        == run_asgi(
            ComplianceMiddleware(trickle(b"text/html"), rules=rule_file(tmp_path, RULES)), http_scope("/whole")
        ).body
    )


def _drive(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        while True:
            coroutine.send(None)
    except StopIteration:
        pass


def test_a_compressed_page_is_flushed_at_the_deadline_and_stays_whole(tmp_path: Path) -> None:
    import gzip
    import zlib

    packer = zlib.compressobj(wbits=31)
    pieces = [packer.compress(PAGE[:PIECE]) + packer.flush(zlib.Z_SYNC_FLUSH), packer.compress(PAGE[PIECE:])]
    pieces.append(packer.flush())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, piece in enumerate(pieces):
            if i:
                await anyio.sleep(PAUSE / 2)
            await send({"type": "http.response.body", "body": piece, "more_body": i < len(pieces) - 1})

    rules = rule_file(tmp_path, RULES)
    out = _run(ComplianceMiddleware(app, rules=rules))
    assert out[1][0] < SNIFF_WAIT + 0.2 and out[1][1]["body"]
    whole = run_asgi(ComplianceMiddleware(trickle(b"text/html"), rules=rules), http_scope("/whole"))
    assert gzip.decompress(_body(out)) == whole.body
