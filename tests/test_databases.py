"""The middleware with real MaxMind-format databases: City, Anonymous-IP, and their replacement."""

from __future__ import annotations

import os
import time
from pathlib import Path

from compliance import ComplianceMiddleware, Jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from tests.conftest import chunked_app, http_scope, rule_file, run_asgi
from tests.mmdb import write_city_db, write_db

PAGE = b"<html><body><p>Story</p></body></html>"
RULES = """
rules:
  - id: crimea
    notice: warning
    jurisdictions: [UA-43]
  - id: tor
    notice: tor-warning
    jurisdictions: [anonymous]
"""
NOTICES = """\
notices:
  warning:
    title: Test warning
    text: {en: "Readers here: take care."}
  tor-warning:
    title: Tor readers
    text: {en: "You are reading through Tor."}
"""


def _anonymous_db(path: Path) -> Path:
    entries = {
        "185.220.101.0/24": {"is_anonymous": True, "is_tor_exit_node": True},
        "51.15.0.0/16": {"is_anonymous": True, "is_public_proxy": True},
    }
    return write_db(path, entries, database_type="GeoIP2-Anonymous-IP")


def test_city_database_gives_the_subdivision_that_rules_name(tmp_path: Path) -> None:
    db = write_city_db(tmp_path / "city.mmdb", {"176.104.32.0/19": "UA-43", "46.219.0.0/16": "UA-30"})
    app = ComplianceMiddleware(chunked_app([PAGE]), rules=rule_file(tmp_path, RULES, NOTICES), geoip_db=db)
    crimea = run_asgi(app, http_scope("/a", client=("176.104.40.1", 1))).body
    kyiv = run_asgi(app, http_scope("/a", client=("46.219.1.1", 1))).body
    assert b'data-legal-notice="warning"' in crimea
    assert kyiv == PAGE


def test_readers_flagged_by_an_anonymous_ip_database_match_anonymous(tmp_path: Path) -> None:
    db = write_city_db(tmp_path / "city.mmdb", {"185.220.101.0/24": "DE", "51.15.0.0/16": "FR"})
    app = ComplianceMiddleware(
        chunked_app([PAGE]),
        rules=rule_file(tmp_path, RULES, NOTICES),
        geoip_db=db,
        anonymous_db=_anonymous_db(tmp_path / "anon.mmdb"),
    )
    tor = run_asgi(app, http_scope("/a", client=("185.220.101.7", 1))).body
    proxy = run_asgi(app, http_scope("/a", client=("51.15.3.3", 1))).body
    plain = run_asgi(app, http_scope("/a", client=("8.8.8.8", 1))).body
    assert b'data-legal-notice="tor-warning"' in tor
    assert b'data-legal-notice="tor-warning"' in proxy
    assert plain == PAGE
    resolver = app.resolver
    tor_exit = Jurisdiction(None, None, True, "geoip", kinds=frozenset({"tor"}))
    assert resolver.resolve_ip("185.220.101.7") == tor_exit  # a Tor exit's country is unknown
    proxy_exit = resolver.resolve_ip("51.15.3.3")  # a proxy keeps its country
    assert (proxy_exit.country, proxy_exit.anonymous, proxy_exit.source) == ("FR", True, "geoip")
    assert proxy_exit.kinds and proxy_exit.kinds <= {"anonymous-vpn", "public-proxy", "residential-proxy"}


def test_a_replaced_geoip_database_is_read_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    write_city_db(path, {"176.104.32.0/19": "UA-43"})
    resolver = JurisdictionResolver(geoip_db=path, reload_interval=0.05)
    resolver.start()
    try:
        assert resolver.resolve_ip("176.104.40.1").subdivision == "UA-43"
        # geoipupdate writes a new file beside the old one and renames it into place
        write_city_db(tmp_path / "new.mmdb", {"176.104.32.0/19": "UA-09"})
        os.replace(tmp_path / "new.mmdb", path)
        deadline = time.monotonic() + 5
        while resolver.resolve_ip("176.104.40.1").subdivision != "UA-09":
            assert time.monotonic() < deadline, "the new database was not read"
            time.sleep(0.02)
    finally:
        resolver.close()


def test_a_broken_replacement_keeps_the_database_in_force(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    write_city_db(path, {"176.104.32.0/19": "UA-43"})
    resolver = JurisdictionResolver(geoip_db=path, reload_interval=None)
    try:
        (tmp_path / "broken").write_bytes(b"not a database")
        os.replace(tmp_path / "broken", path)
        assert resolver.resolvers[0].poll() is False  # type: ignore[attr-defined]
        assert resolver.resolve_ip("176.104.40.1").subdivision == "UA-43"
    finally:
        resolver.close()
