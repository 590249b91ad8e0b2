"""Issue 12, item 11: a GeoIP database's build date, a warning when it is too old, and `validate` on the
deployment's sources for rules that name subdivisions."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import mmdb_writer
import pytest
from mmdb import write_city_db, write_country_db
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from compliance import ComplianceMiddleware, ConfigError, GeoIP2Resolver
from tests.conftest import fetch, write_rules

US_V4 = "8.8.8.8"
DAY = 86400.0

RULES = """\
notices:
  ccpa:
    title: Do Not Sell or Share My Personal Information
    text:
      en: "Do Not Sell or Share My Personal Information"
rules:
  - id: us-ca-link
    notice: ccpa
    jurisdictions: [US-CA]
"""


def _db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days_old: float, city: bool = True) -> Path:
    """A database whose build date is `days_old` days ago."""
    built = time.time() - days_old * DAY
    monkeypatch.setattr(mmdb_writer, "time", SimpleNamespace(time=lambda: built))
    path = tmp_path / f"{'city' if city else 'country'}-{days_old:g}.mmdb"
    if city:
        write_city_db(path, {"8.8.8.0/24": "US-CA"}, database_type="GeoLite2-City")
    else:
        write_country_db(path, {"8.8.8.0/24": "US"}, database_type="GeoLite2-Country")
    monkeypatch.undo()
    return path


def _app() -> Starlette:
    async def page(request: Request) -> Response:
        return HTMLResponse("<html><body><p>x</p></body></html>")

    return Starlette(routes=[Route("/{rest:path}", page)])


def test_an_old_database_gives_a_warning_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = _db(tmp_path, monkeypatch, 60)
    rules = write_rules(tmp_path, RULES)
    with caplog.at_level(logging.WARNING, logger="compliance"):
        ComplianceMiddleware(_app(), rules=rules, geoip_db=old, reload_interval=None).resolver.close()
    (warning,) = [r.getMessage() for r in caplog.records if "GeoIP database" in r.getMessage()]
    built = datetime.fromtimestamp(time.time() - 60 * DAY, UTC).date().isoformat()
    assert f"was built on {built}, 60 days ago (more than 45)" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="compliance"):
        ComplianceMiddleware(
            _app(), rules=rules, geoip_db=old, reload_interval=None, geoip_max_age_days=90
        ).resolver.close()
        ComplianceMiddleware(_app(), rules=rules, geoip_db=_db(tmp_path, monkeypatch, 3), reload_interval=None)
    assert not [r for r in caplog.records if "GeoIP database" in r.getMessage()]


@pytest.mark.parametrize("bad", [0, -1, True, "45"])
def test_the_age_limit_is_a_positive_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: object) -> None:
    with pytest.raises(ConfigError, match="geoip_max_age_days"):
        GeoIP2Resolver(_db(tmp_path, monkeypatch, 1), max_age_days=bad)  # type: ignore[arg-type]


def test_the_build_date_is_in_the_audit_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = ComplianceMiddleware(
        _app(), rules=write_rules(tmp_path, RULES), geoip_db=_db(tmp_path, monkeypatch, 10), reload_interval=None
    )
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        text = fetch(app, "/a", client=(US_V4, 1)).text
    assert 'data-legal-notice="ccpa"' in text
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert event["geoip_built"] == datetime.fromtimestamp(time.time() - 10 * DAY, UTC).date().isoformat()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, text=True)


def test_explain_and_the_report_show_the_build_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db(tmp_path, monkeypatch, 50)
    rules = write_rules(tmp_path, RULES)
    built = datetime.fromtimestamp(time.time() - 50 * DAY, UTC).date().isoformat()
    done = _cli("explain", "--rules", str(rules), "--ip", US_V4, "--geoip-db", str(db), "--path", "/a")
    assert done.returncode == 0, done.stderr
    assert f"(the database was built on {built})" in done.stdout
    done = _cli("report", "--rules", str(rules), "--geoip-db", str(db), "--format", "markdown", "-o", "-")
    assert done.returncode == 0, done.stderr
    assert f"GeoLite2-City, built {built}" in done.stdout
    assert "; 50 days old, more than 45: update it" in done.stdout


def test_validate_checks_the_sources_of_subdivisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = write_rules(tmp_path, RULES)
    done = _cli("validate", str(rules))
    assert done.returncode == 0
    assert "note: 1 rule names subdivisions (US-CA)" in done.stderr
    assert "Give --geoip-db PATH or --region-header NAME" in done.stderr
    country = _db(tmp_path, monkeypatch, 1, city=False)
    done = _cli("validate", str(rules), "--geoip-db", str(country))
    assert done.returncode == 0 and not done.stderr
    assert f"{rules}:7:5: warning[no-subdivision-source]" in done.stdout
    assert "is a GeoLite2-Country database, which tells countries only" in done.stdout
    assert _cli("validate", str(rules), "--geoip-db", str(country), "--strict").returncode == 1
    for sources in (["--geoip-db", str(_db(tmp_path, monkeypatch, 1))], ["--region-header", "X-Region"]):
        done = _cli("validate", str(rules), *sources)
        assert (done.returncode, done.stderr) == (0, ""), sources
        assert "0 errors, 0 warnings" in done.stdout
    plain = write_rules(tmp_path, RULES.replace("[US-CA]", "[US]"), "plain.yaml")
    assert _cli("validate", str(plain)).stderr == ""
