"""A rule with `when:` behind a real nginx that keys its cache on the jurisdiction class.

Two readers of one class, one whose browser sends `Sec-GPC: 1` and one whose does not, each
get their own variant, in any order: a copy one of them was served never reaches the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest_geo import RU_V4, US_V4, fixture_city_db, fixture_geo_dir  # noqa: F401

from compliance import ComplianceMiddleware
from compliance.cli import main
from tests.edge_servers import nginx
from tests.server import serve
from tests.test_edge_nginx import news_app

pytestmark = pytest.mark.real

RULES = """
notices:
  label:
    title: Label
    text: {en: "A label every reader here gets."}
  gpc-honoured:
    title: Opt-out honoured
    text: {en: "Your Global Privacy Control signal was received."}
rules:
  - id: label
    notice: label
    jurisdictions: [RU]
  - id: gpc-honoured
    notice: gpc-honoured
    jurisdictions: [RU]
    paths: ["/news/**"]
    when: {headers: {Sec-GPC: "1"}}
"""
LABEL = 'data-legal-notice="label"'
GPC = 'data-legal-notice="gpc-honoured"'


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, city_db: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("edge-when")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    assert main(["edge", "--rules", str(rules), "--out", str(tmp / "out"), "--geoip-db", str(city_db)]) == 0
    app = ComplianceMiddleware(
        news_app(),
        rules=rules,
        geoip_db=city_db,
        trusted_proxies=["127.0.0.1"],
        class_header="Compliance-Class",
        metrics=False,
    )
    http = (tmp / "out" / "nginx-http.conf").read_text()
    location = (tmp / "out" / "nginx-location.conf").read_text()
    realip = "set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;"
    with serve(app, proxy_headers=False) as upstream, nginx(tmp, http, location, upstream, extra_http=realip) as url:
        yield url


def get(url: str, path: str, reader: str, **headers: str) -> httpx.Response:
    return httpx.get(url + path, headers={"X-Forwarded-For": reader, **headers}, timeout=10)


@pytest.mark.parametrize("first_sends_gpc", [True, False])
def test_two_readers_of_one_class_each_get_their_own_variant(edge: str, first_sends_gpc: bool) -> None:
    path = f"/news/gpc-{first_sends_gpc}"
    order = [True, False, True, False] if first_sends_gpc else [False, True, False, True]
    for sends in order:
        response = get(edge, path, RU_V4, **({"Sec-GPC": "1"} if sends else {}))
        assert LABEL in response.text
        assert (GPC in response.text) is sends, (sends, response.headers.get("x-cache"))
        assert "sec-gpc" in response.headers["vary"].lower()
        assert response.headers["cache-control"].startswith("private")
        assert response.headers["x-cache"] != "HIT"


def test_pages_and_classes_no_when_rule_reaches_stay_cached_per_class(edge: str) -> None:
    # Outside the condition's paths, Russia's copy is cached for the class as before.
    assert get(edge, "/sport/one", RU_V4, **{"Sec-GPC": "1"}).headers["x-cache"] == "MISS"
    again = get(edge, "/sport/one", RU_V4)
    assert again.headers["x-cache"] == "HIT" and LABEL in again.text and GPC not in again.text
    # A reader the condition's rule does not reach: the class copy, whatever the browser sends.
    assert get(edge, "/news/one", US_V4, **{"Sec-GPC": "1"}).headers["x-cache"] == "MISS"
    us = get(edge, "/news/one", US_V4)
    assert us.headers["x-cache"] == "HIT" and GPC not in us.text and "sec-gpc" not in us.headers.get("vary", "").lower()
