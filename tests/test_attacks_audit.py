"""Attacks on the audit trail: each performed on a real uvicorn over loopback."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from compliance import ComplianceMiddleware
from compliance.observe.chain import event_hash
from tests.conftest import RU_IP, rule_file
from tests.server import serve

RULES = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    paths: ["/news/**"]
  - id: everyone
    notice: warning
    jurisdictions: ["*"]
    paths: ["/imprint"]
"""


async def site(scope: Any, receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/news/moved":
        await send({"type": "http.response.start", "status": 302, "headers": [(b"location", b"/news/a")]})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"<html><body><p>story</p></body></html>"
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/news/broken":
        await send({"type": "http.response.body", "body": body[:10], "more_body": True})
        raise RuntimeError("the app failed mid-stream")
    await send({"type": "http.response.body", "body": body})


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.records]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


class Raising(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise OSError("the log collector is down")


@contextmanager
def audited(tmp_path: Path, *handlers: logging.Handler) -> Iterator[httpx.Client]:
    logger = logging.getLogger("compliance.audit")
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    mw = ComplianceMiddleware(
        site, rules=rule_file(tmp_path, RULES), reload_interval=None, trusted_proxies=["127.0.0.1"]
    )
    try:
        with serve(mw) as url, httpx.Client(base_url=url, headers={"X-Forwarded-For": RU_IP}) as client:
            yield client
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_raising_log_handler_never_breaks_a_response(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Attack: the log pipeline fails (a full disk, a collector down) while readers are served.
    collect = Collect()
    with caplog.at_level(logging.ERROR, "compliance"), audited(tmp_path, Raising(), collect) as client:
        head = client.head("/news/a")
        moved = client.get("/news/moved")
        page = client.get("/news/a")
        again = client.get("/news/a")
    assert head.status_code == 200
    assert moved.status_code == 302 and moved.headers["location"] == "/news/a"
    assert page.status_code == 200 and 'data-legal-notice="warning"' in page.text
    assert again.status_code == 200
    reports = [r for r in caplog.records if r.name == "compliance" and "audit event failed" in r.getMessage()]
    assert len(reports) == 1


def test_line_separators_in_a_path_do_not_split_an_event(tmp_path: Path) -> None:
    # Attack: U+2028, U+2029 and U+0085 in the path cut one event into several for a line splitter.
    collect = Collect()
    with audited(tmp_path, collect) as client:
        client.get("/news/a%E2%80%A8b%E2%80%A9c%C2%85d")
    (line,) = collect.lines()
    assert len(line.splitlines()) == 1
    assert "\u2028" not in line and "\u2029" not in line and "\u0085" not in line
    event = json.loads(line)
    assert event["path"] == "/news/a\u2028b\u2029c\u0085d"
    # The chain still verifies: the hash is over the event, not over its escaping.
    assert event_hash({**event, "prev": event["prev"]}) == event_hash(collect.records[0].compliance)  # type: ignore[attr-defined]


@pytest.mark.parametrize("given", ["a" * 129, "id with spaces", 'id"with"quotes', "id\u2028x", "<script>", "ok\\back"])
def test_a_request_id_from_the_client_is_bounded(tmp_path: Path, given: str) -> None:
    collect = Collect()
    with audited(tmp_path, collect) as client:
        client.get("/news/a", headers={"X-Request-Id": given.encode("utf-8")})
        client.get("/news/a", headers={"X-Request-Id": "req-42.a_b:c"})
    first, second = collect.events()
    assert first["request_id"] != given and len(first["request_id"]) == 32
    assert second["request_id"] == "req-42.a_b:c"


def _teredo(ip: str) -> str:
    client = int(ipaddress.IPv4Address(ip)) ^ 0xFFFFFFFF
    server = int(ipaddress.IPv4Address("65.54.227.120"))
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (server << 64) | (0x8000 << 48) | (0x63BF << 32) | client))


@pytest.mark.parametrize("reader", ["2002:5fad:8846::1", "2002:5fad:8846:1234:5678::9", _teredo(RU_IP)])
def test_a_6to4_or_teredo_reader_is_logged_as_an_ipv4_network(tmp_path: Path, reader: str) -> None:
    # Attack on privacy: a 6to4 address's "/48" is the reader's whole IPv4 address.
    collect = Collect()
    with audited(tmp_path, collect) as client:
        client.get("/imprint", headers={"X-Forwarded-For": reader})
    (event,) = collect.events()
    assert event["network"] == "95.173.136.0/24"
    assert RU_IP not in json.dumps(event)


def test_an_app_failing_mid_stream_leaves_an_event(tmp_path: Path) -> None:
    collect = Collect()
    with audited(tmp_path, collect) as client, contextlib.suppress(httpx.HTTPError):  # or the connection closed
        assert client.get("/news/broken").status_code == 500  # nothing had gone out yet
    (event,) = collect.events()
    (rule,) = event["rules"]
    assert rule["outcome"] == "missed" and "app failed" in rule["why"]


def test_the_event_is_passed_as_structured_data(tmp_path: Path) -> None:
    collect = Collect()
    with audited(tmp_path, collect) as client:
        client.get("/news/a")
    (record,) = collect.records
    fields = record.compliance  # type: ignore[attr-defined]
    assert fields == json.loads(record.getMessage())
    assert fields["rules"][0]["rule"] == "ru-warning" and fields["seq"] >= 1
