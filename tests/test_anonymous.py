"""Anonymous readers from a real MaxMind-format anonymous-IP database, written with mmdb_writer."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from compliance import ConfigError, Jurisdiction
from compliance.reader.anonymous import AnonymousIPDatabase
from tests.mmdb import write_country_db, write_db

TOR = "185.220.101.7"
VPN = "2a0b:f4c0::15"
PROXY = "51.15.0.9"
RESIDENTIAL = "77.88.21.3"
HOSTING = "34.90.10.1"
FLAGGED_ONLY_AS_ANONYMOUS = "45.12.1.1"
PLAIN = "8.8.8.8"

ENTRIES: dict[str, dict[str, Any]] = {
    "185.220.101.0/24": {"is_anonymous": True, "is_tor_exit_node": True},
    "2a0b:f4c0::/32": {"is_anonymous": True, "is_anonymous_vpn": True},
    "51.15.0.0/16": {"is_anonymous": True, "is_public_proxy": True},
    "77.88.21.0/24": {"is_anonymous": True, "is_residential_proxy": True},
    "34.90.0.0/16": {"is_anonymous": True, "is_hosting_provider": True},
    "45.12.1.0/24": {"is_anonymous": True},
}


def write_anonymous_db(path: Path, entries: Mapping[str, dict[str, Any]] = ENTRIES) -> Path:
    """A database of the GeoIP2-Anonymous-IP shape: each network maps to its flags."""
    return write_db(path, entries, database_type="GeoIP2-Anonymous-IP")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[AnonymousIPDatabase]:
    with AnonymousIPDatabase(write_anonymous_db(tmp_path / "anon.mmdb"), interval=None) as database:
        yield database


def test_tor_vpn_and_proxies_count_as_anonymous(db: AnonymousIPDatabase) -> None:
    for ip in (TOR, VPN, PROXY, RESIDENTIAL):
        assert db.is_anonymous(ip), ip
    assert db.is_tor_exit(TOR) and not db.is_tor_exit(VPN)


def test_hosting_providers_and_the_bare_anonymous_flag_do_not_count_by_default(db: AnonymousIPDatabase) -> None:
    assert not db.is_anonymous(HOSTING)
    assert not db.is_anonymous(FLAGGED_ONLY_AS_ANONYMOUS)


def test_the_flags_that_count_can_be_chosen(tmp_path: Path) -> None:
    path = write_anonymous_db(tmp_path / "anon.mmdb")
    with AnonymousIPDatabase(path, flags=["is_tor_exit_node", "is_hosting_provider"], interval=None) as db:
        assert db.is_anonymous(HOSTING) and db.is_anonymous(TOR)
        assert not db.is_anonymous(VPN)
    with pytest.raises(ConfigError, match="is_tor"):
        AnonymousIPDatabase(path, flags=["is_tor"], interval=None)


@pytest.mark.parametrize("ip", [PLAIN, "10.0.0.1", "::1", "not an address", ""])
def test_addresses_not_in_the_database_are_not_anonymous(db: AnonymousIPDatabase, ip: str) -> None:
    assert db.is_anonymous(ip) is False
    assert db.is_anonymous(ip) is False  # and again, from the cache


def test_mark_makes_a_tor_exit_anonymous_with_its_country_unknown(db: AnonymousIPDatabase) -> None:
    geoip = Jurisdiction("DE", "DE-BE", False, "geoip")
    assert db.mark(geoip, TOR) == Jurisdiction(None, None, True, "geoip", kinds=frozenset({"tor"}))
    assert db.mark(geoip, VPN) == Jurisdiction("DE", "DE-BE", True, "geoip", kinds=frozenset({"anonymous-vpn"}))
    assert db.mark(geoip, PLAIN) is geoip
    assert db.mark(geoip, TOR).codes == frozenset({"unknown", "anonymous", "tor"})
    assert db.mark(geoip, VPN).codes == frozenset({"DE", "DE-BE", "anonymous", "anonymous-vpn"})


def test_a_hosting_provider_is_a_kind_a_rule_can_name_but_not_anonymous_by_default(db: AnonymousIPDatabase) -> None:
    geoip = Jurisdiction("NL", None, False, "geoip")
    hosted = db.mark(geoip, HOSTING)
    assert hosted.country == "NL" and not hosted.anonymous
    assert hosted.codes == frozenset({"NL", "hosting-provider"})


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    path = write_anonymous_db(tmp_path / "anon.mmdb")
    with AnonymousIPDatabase(path, cache_size=3, interval=None) as db:
        for ip in (TOR, VPN, PROXY, RESIDENTIAL, HOSTING, PLAIN, "51.15.3.3", "51.15.4.4"):
            db.is_anonymous(ip)
            assert len(db._state[2]) <= 3
        assert db.is_anonymous(TOR) and not db.is_anonymous(PLAIN)
    with AnonymousIPDatabase(path, cache_size=0, interval=None) as db:
        assert db.is_anonymous(TOR) and len(db._state[2]) == 0


def test_a_database_of_another_kind_is_refused(tmp_path: Path) -> None:
    country = write_country_db(tmp_path / "country.mmdb", {"95.173.136.0/24": "RU"})
    with pytest.raises(ConfigError, match="anonymous-IP database"):
        AnonymousIPDatabase(country)
    with pytest.raises(ConfigError, match="cannot open"):
        AnonymousIPDatabase(tmp_path / "missing.mmdb")


def test_a_replaced_database_is_reloaded(tmp_path: Path) -> None:
    path = write_anonymous_db(tmp_path / "anon.mmdb")
    reloads: list[str] = []
    with AnonymousIPDatabase(path, interval=0.05, on_reload=lambda: reloads.append("reloaded")) as db:
        assert db.is_anonymous(TOR) and not db.is_anonymous(PLAIN)  # the first lookup starts watching
        # As geoipupdate does: write the new file beside the old, then rename it into place.
        new = write_anonymous_db(tmp_path / "anon.mmdb.new", {"8.8.8.0/24": {"is_anonymous_vpn": True}})
        os.replace(new, path)
        deadline = time.monotonic() + 5
        while not db.is_anonymous(PLAIN):
            assert time.monotonic() < deadline, "the new database was not loaded"
            time.sleep(0.01)
        assert not db.is_anonymous(TOR)
        assert reloads == ["reloaded"]


def test_a_damaged_replacement_is_refused_and_the_database_in_force_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_anonymous_db(tmp_path / "anon.mmdb")
    with AnonymousIPDatabase(path, interval=None) as db:
        broken = tmp_path / "broken.mmdb"
        broken.write_bytes(b"this is not a MaxMind database")
        os.replace(broken, path)
        assert db.poll() is False
        assert "not reloaded" in caplog.text
        assert db.is_anonymous(TOR)


def test_explain_and_test_read_the_kind_of_anonymity_from_an_anonymous_ip_database(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    database = write_anonymous_db(tmp_path / "anon.mmdb")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            """\
            notices:
              tor-notice: {title: Tor notice, text: {en: You read us through Tor.}}
            rules:
              - {id: tor, notice: tor-notice, jurisdictions: [tor]}
            """
        )
    )

    def compliance(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "compliance", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)

    explained = compliance(
        "explain", "--rules", str(rules), "--ip", TOR, "--anonymous-db", str(database), "--path", "/"
    )
    assert explained.returncode == 0, explained.stderr
    assert "FIRES  tor" in explained.stdout
    without = compliance("explain", "--rules", str(rules), "--ip", TOR, "--path", "/")
    assert "FIRES  tor" not in without.stdout
    cases = tmp_path / "tests" / "cases.yaml"
    cases.parent.mkdir()
    cases.write_text(
        textwrap.dedent(
            f"""\
            cases:
              - name: A reader through a Tor exit sees the Tor notice
                request: {{path: /, ip: {TOR}}}
                expect: {{notices: [tor-notice]}}
              - name: A reader through a VPN does not
                request: {{path: /, ip: "{VPN}"}}
                expect: {{notices: []}}
            """
        )
    )
    tested = compliance("test", str(cases), "--rules", str(rules), "--anonymous-db", str(database))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].startswith("2 passed, 0 failed")
