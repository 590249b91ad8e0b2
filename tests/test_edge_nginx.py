"""A real nginx, doing its own GeoIP2 lookup, with the configuration `compliance edge` writes, in front of the app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest_geo import GB_WSM_V4, RU_V4, UA_43_V4, US_V4, fixture_city_db, fixture_geo_dir  # noqa: F401

from compliance import ComplianceMiddleware
from compliance.cli import main
from compliance.cli.edge import EdgeConfigError, nginx_http, varnish_vcl
from compliance.reader.token import mint
from compliance.rules import load_rules
from compliance.rules.classes import ClassTable
from compliance.rules.decide import Engine
from tests.edge_servers import nginx
from tests.server import serve

#: Real nginx and Varnish from the system: on the main Python only (see scripts/other_pythons.py).
pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parent.parent
PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Story</p></body></html>"
NOTICE = 'data-legal-notice="undesirable-organization"'
TEST_SECRET = "a-test-secret-of-32-characters!!"


def news_app(cache_control: bytes = b"public, max-age=600") -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"cache-control", cache_control),
            (b"content-length", str(len(PAGE)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE})

    return app


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, city_db: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("edge-nginx")
    assert main(["edge", "--rules", str(ROOT / "rules"), "--out", str(tmp / "out"), "--geoip-db", str(city_db)]) == 0
    classes = json.loads((tmp / "out" / "classes.json").read_text())
    app = ComplianceMiddleware(
        news_app(),
        rules=ROOT / "rules",
        geoip_db=city_db,
        trusted_proxies=["127.0.0.1"],
        class_header="Compliance-Class",
        test_secret=TEST_SECRET,
        metrics=False,
    )
    http = (tmp / "out" / "nginx-http.conf").read_text()
    location = (tmp / "out" / "nginx-location.conf").read_text()
    # A load balancer in front of nginx tells it the reader's address.
    realip = "set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;"
    with serve(app, proxy_headers=False) as upstream, nginx(tmp, http, location, upstream, extra_http=realip) as url:
        yield url, classes


def get(url: str, path: str, reader: str, **headers: str) -> httpx.Response:
    return httpx.get(url + path, headers={"X-Forwarded-For": reader, **headers}, timeout=10)


def test_one_cached_copy_per_class_and_every_reader_gets_their_class_copy(edge: tuple[str, dict[str, Any]]) -> None:
    url, _ = edge
    ru = get(url, "/news/one", RU_V4)
    assert NOTICE in ru.text and ru.headers["x-cache"] == "MISS"
    assert ru.headers["cache-control"] == "public, max-age=600"
    # Occupied Ukraine is in Russia's class: it is served the copy cached for Russia, with the notice.
    ua = get(url, "/news/one", UA_43_V4)
    assert NOTICE in ua.text and ua.headers["x-cache"] == "HIT"
    us = get(url, "/news/one", US_V4)
    assert NOTICE not in us.text and us.headers["x-cache"] == "MISS"
    gb = get(url, "/news/one", GB_WSM_V4)
    assert NOTICE not in gb.text and gb.headers["x-cache"] == "HIT"
    assert get(url, "/news/one", RU_V4).headers["x-cache"] == "HIT"


def test_a_class_or_geo_header_the_client_sends_is_overwritten(edge: tuple[str, dict[str, Any]]) -> None:
    url, classes = edge
    ru_value = classes["classes"][classes["members"]["RU"]]["value"]
    none_value = classes["classes"][classes["members"]["US"]]["value"]
    # A reader in the US claims Russia's class first, on a page no one has fetched: the copy cached is the US one.
    spoofed = get(url, "/news/two", US_V4, **{"Compliance-Class": ru_value, "X-Compliance-Country": "RU"})
    assert NOTICE not in spoofed.text
    # A reader in Russia claims the class without the notice: still the notice, never a copy without it.
    hiding = get(url, "/news/two", RU_V4, **{"Compliance-Class": none_value, "X-Compliance-Country": "US"})
    assert NOTICE in hiding.text
    # Nothing the attacker sent poisoned the cache for honest readers.
    assert NOTICE in get(url, "/news/two", RU_V4).text
    assert NOTICE not in get(url, "/news/two", US_V4).text


def test_a_request_with_a_test_token_is_never_cached(edge: tuple[str, dict[str, Any]]) -> None:
    url, _ = edge
    token = {"compliance-test-jurisdiction": mint(TEST_SECRET, "test", "RU", scope="/news/three")}
    first = get(url, "/news/three", US_V4, **token)
    assert NOTICE in first.text  # decided by the token
    assert first.headers["x-cache"] == "BYPASS"
    assert "no-store" in first.headers["cache-control"]
    # The cache holds nothing from it: a US reader gets a fresh US copy.
    after = get(url, "/news/three", US_V4)
    assert NOTICE not in after.text and after.headers["x-cache"] == "MISS"


def test_a_preview_link_is_never_cached(edge: tuple[str, dict[str, Any]]) -> None:
    url, _ = edge
    link = "/news/four?compliance-preview=" + mint(TEST_SECRET, "preview", "RU", scope="/news/four")
    first = get(url, link, US_V4)
    assert NOTICE in first.text  # the page as a reader in Russia gets it
    assert first.headers["x-cache"] == "BYPASS"
    assert "no-store" in first.headers["cache-control"]
    # The same link again is answered afresh, never from a stored copy.
    assert get(url, link, US_V4).headers["x-cache"] == "BYPASS"
    assert get(url, "/news/four", US_V4).headers["x-cache"] == "MISS"


def test_nothing_given_to_the_command_can_inject_configuration() -> None:
    classes = ClassTable(Engine(load_rules(ROOT / "rules"))).maps[-1]
    with pytest.raises(EdgeConfigError):
        nginx_http(classes, geoip_db='/tmp/x"; include /etc/passwd; #')
    with pytest.raises(EdgeConfigError):
        nginx_http(classes, country_header="CF-IPCountry; include /etc/passwd")
    with pytest.raises(EdgeConfigError):
        varnish_vcl(classes, header='X"; }')
    with pytest.raises(EdgeConfigError):
        varnish_vcl(classes, geo_from=('127.0.0.1"; }',))
    assert main(["edge", "--rules", str(ROOT / "rules"), "--header", "A B", "--geoip-db", "/x"]) == 2
