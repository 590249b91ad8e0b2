"""Attacks on the test token and preview links: each performed on a real uvicorn over loopback."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from compliance import ComplianceMiddleware
from compliance.errors import ConfigError
from compliance.reader.token import mint
from tests.conftest import US_IP, rule_file
from tests.server import serve

SECRET = "a-staging-secret-that-is-long-enough"
RULES = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    paths: ["/news/**"]
  - id: ru-later
    notice: warning
    jurisdictions: [FR]
    paths: ["/news/**"]
    from: 2031-01-01
"""


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """An HTML page that shows the request headers and query string the app was given."""
    seen = {
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        "query": scope.get("query_string", b"").decode("latin-1"),
    }
    body = f"<html><body><pre>{json.dumps(seen)}</pre></body></html>".encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"public, max-age=600, s-maxage=3600"),
        (b"surrogate-control", b"max-age=3600"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def seen_by_app(response: httpx.Response) -> dict[str, Any]:
    text = response.text
    start = text.index("<pre>") + 5
    seen: dict[str, Any] = json.loads(text[start : text.index("</pre>")])
    return seen


@contextmanager
def staging(tmp_path: Path, secret: str = SECRET) -> Iterator[httpx.Client]:
    mw = ComplianceMiddleware(echo, rules=rule_file(tmp_path, RULES), reload_interval=None, test_secret=secret)
    # The reader is in the United States (uvicorn's own proxy handling is off, so the peer is the client).
    with serve(mw) as url, httpx.Client(base_url=url, headers={"X-Forwarded-For": US_IP}) as client:
        yield client


def noticed(response: httpx.Response) -> bool:
    return 'data-legal-notice="warning"' in response.text


def token(country: str | None = "RU", **options: Any) -> dict[str, str]:
    return {"Compliance-Test-Jurisdiction": mint(SECRET, "test", country, **options)}


@pytest.mark.parametrize("secret", ["", "s3cret", "fifteen-chars!!"])
def test_a_test_secret_shorter_than_16_characters_is_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        ComplianceMiddleware(echo, rules=rule_file(tmp_path, RULES), reload_interval=None, test_secret=secret)


def test_the_old_static_secret_header_chooses_nothing(tmp_path: Path) -> None:
    # Attack: the secret itself, replayed from a log, in the header's old form.
    with staging(tmp_path) as client:
        response = client.get("/news/a", headers={"Compliance-Test-Jurisdiction": f"secret={SECRET}; country=RU"})
    assert not noticed(response)
    assert "compliance-test" not in response.headers


def test_a_token_is_honoured_said_so_and_never_stored(tmp_path: Path) -> None:
    with staging(tmp_path) as client:
        response = client.get("/news/a", headers=token(scope="/news/a"))
    assert noticed(response)
    assert response.headers["compliance-test"] == "honoured"
    assert response.headers["cache-control"] == "private, max-age=600, no-store"
    assert "surrogate-control" not in response.headers


def test_the_token_never_reaches_the_app(tmp_path: Path) -> None:
    # Attack: the app logs or echoes request headers, and a token in them is replayed.
    with staging(tmp_path) as client:
        good = client.get("/news/a?x=1", headers=token())
        forged = client.get("/other", headers={"Compliance-Test-Jurisdiction": "forged"})
        preview = client.get(f"/news/a?x=1&compliance-preview={mint(SECRET, 'preview', 'RU')}&y=2")
    for response in (good, forged):
        assert "compliance-test-jurisdiction" not in seen_by_app(response)["headers"]
    assert seen_by_app(good)["query"] == "x=1"
    assert seen_by_app(preview)["query"] == "x=1&y=2"


def test_a_token_that_expired_was_tampered_with_or_is_for_another_path_is_not_honoured(tmp_path: Path) -> None:
    expired = mint(SECRET, "test", "RU", ttl=60, now=time.time() - 120)
    body, _, mac = mint(SECRET, "test", "US").partition(".")
    tampered = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"c=US", b"c=RU")
    ).rstrip(b"=")
    other_key = mint("another-secret-as-long-as-it-is", "test", "RU")
    with staging(tmp_path) as client:
        for value in (expired, f"{tampered.decode()}.{mac}", other_key, mint(SECRET, "test", "RU", scope="/news/b")):
            response = client.get("/news/a", headers={"Compliance-Test-Jurisdiction": value})
            assert not noticed(response), value
            assert "compliance-test" not in response.headers
        # A token for /news/a does not follow a path spelled to reach elsewhere.
        spelled = client.get("/news/a/../b", headers=token(scope="/news/a/**"))
        assert not noticed(spelled)
        # A preview token is not a test token, nor the other way round.
        assert not noticed(
            client.get("/news/a", headers={"Compliance-Test-Jurisdiction": mint(SECRET, "preview", "RU")})
        )
        assert not noticed(client.get(f"/news/a?compliance-preview={mint(SECRET, 'test', 'RU')}"))


def test_a_token_longer_than_a_day_is_not_minted_nor_honoured(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        mint(SECRET, "test", "RU", ttl=8 * 24 * 3600)
    later = mint(SECRET, "test", "RU", ttl=3600, now=time.time() + 7 * 24 * 3600)  # minted with a clock set ahead
    with staging(tmp_path) as client:
        assert not noticed(client.get("/news/a", headers={"Compliance-Test-Jurisdiction": later}))


def test_a_token_carries_the_moment(tmp_path: Path) -> None:
    later = time.mktime((2031, 6, 1, 0, 0, 0, 0, 0, 0))
    with staging(tmp_path) as client:
        assert not noticed(client.get("/news/a", headers=token("FR")))
        assert noticed(client.get("/news/a", headers=token("FR", at=later)))
