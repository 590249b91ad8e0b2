"""`compliance explain`: the jurisdiction as resolved, the rules that fire, and why the others do not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.mmdb import write_city_db

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = "/news/press-freedom-report"
FIRES_IN_RUSSIA = [
    "FIRES  ru-undesirable-organization  (rules/russia.yaml:2:5)",
    "  notice    undesirable-organization: Undesirable-organization warning (Russia)",
    "  goes      in place of the comment <!-- legal-notice --> in the page",
    "            else at the end of the page, right before </body>",
]


def compliance(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ},
    )  # fmt: skip


def test_a_reader_in_russia(tmp_path: Path) -> None:
    result = compliance("explain", "--rules", "rules", "--country", "RU", "--path", ARTICLE, "--at", "2026-01-15")
    assert result.stdout.splitlines() == [
        "Reader:    RU (Russian Federation), given with --country",
        '           codes it matches: RU, "*" (and any group that holds them)',
        f"Page:      {ARTICLE} on any host, text/html",
        "Time:      2026-01-15T00:00:00Z",
        "",
        *FIRES_IN_RUSSIA,
        "  language  en (the notice is written in en, ru)",
        "  rule      priority 10, from 2024-08-20T00:00:00Z",
        "",
        "1 rule fires for this reader, 0 do not.",
        "Class: cf529491e (map version 2200c62f3a55), shared with 7 reader kinds; "
        "the edge sends cf529491e;v=2200c62f3a55.",
    ]
    assert result.returncode == 0


def test_a_reader_in_the_united_states_with_the_reason() -> None:
    result = compliance("explain", "--rules", "rules", "--country", "US", "--path", ARTICLE, "--at", "2026-01-15")
    assert result.stdout.splitlines()[-5:-1] == [
        "DOES NOT FIRE  ru-undesirable-organization  (rules/russia.yaml:2:5)",
        "  why       jurisdiction US not in [@russian-law-reach]",
        "",
        "0 rules fire for this reader, 1 does not.",
    ]
    assert result.stdout.splitlines()[-1].startswith("Class: none (map version 2200c62f3a55), shared with 251")
    assert result.returncode == 0


def test_an_excluded_path_and_a_rule_not_yet_in_force() -> None:
    excluded = compliance("explain", "--rules", "rules", "--country", "RU", "--path", "/static/site.css")
    assert "  why       path /static/site.css excluded by /static/**" in excluded.stdout.splitlines()
    early = compliance("explain", "--rules", "rules", "--country", "RU", "--path", ARTICLE, "--at", "2024-08-19T23:59")
    assert "Time:      2024-08-19T23:59:00Z" in early.stdout.splitlines()
    assert "  why       starts 2024-08-20" in early.stdout.splitlines()


def test_an_occupied_subdivision_reaches_the_rule_through_its_groups() -> None:
    result = compliance(
        "explain", "--rules", "rules", "--country", "UA", "--subdivision", "UA-43", "--path", ARTICLE,
        "--accept-language", "ru", "--at", "2026-01-15",
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[0] == "Reader:    UA-43 (Avtonomna Respublika Krym, Ukraine), given with --country and --subdivision"
    assert lines[1] == '           codes it matches: UA, UA-43, "*" (and any group that holds them)'
    assert "Language:  the browser asks for ru" in lines
    assert "  language  ru (the notice is written in en, ru)" in lines


def test_the_page_language_comes_before_the_browser() -> None:
    result = compliance(
        "explain", "--rules", "rules", "--country", "RU", "--path", ARTICLE, "--lang", "en", "--accept-language", "ru",
    )  # fmt: skip
    assert "Language:  the page is in en, the browser asks for ru" in result.stdout.splitlines()
    assert "  language  en (the notice is written in en, ru)" in result.stdout.splitlines()


def test_an_address_through_the_embedded_table() -> None:
    result = compliance("explain", "--rules", "rules", "--ip", "95.173.136.70", "--path", ARTICLE)
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "Reader:    RU (Russian Federation), found for 95.173.136.70 in the embedded registry table (iptocc)"
    )
    assert lines[5:9] == FIRES_IN_RUSSIA


def test_a_private_address_is_unknown() -> None:
    result = compliance("explain", "--rules", "rules", "--ip", "10.1.2.3", "--path", ARTICLE)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "Reader:    unknown, 10.1.2.3 is a private, loopback or reserved address (or not an address), which no source "
        "can place"
    )
    assert "  why       jurisdiction unknown not in [@russian-law-reach]" in lines


def test_an_address_through_a_geoip_database(tmp_path: Path) -> None:
    database = write_city_db(tmp_path / "City.mmdb", {"176.114.0.0/16": "UA-43"})
    result = compliance(
        "explain", "--rules", "rules", "--ip", "176.114.1.1", "--geoip-db", str(database), "--path", ARTICLE
    )
    lines = result.stdout.splitlines()
    found, _, built = lines[0].partition(" (the database was built on ")
    assert found == (
        f"Reader:    UA-43 (Avtonomna Respublika Krym, Ukraine), found for 176.114.1.1 in the GeoIP database {database}"
    )
    assert built == f"{datetime.now(UTC).date().isoformat()})"
    assert lines[5] == FIRES_IN_RUSSIA[0]


def test_a_json_response_takes_no_html_notice() -> None:
    result = compliance(
        "explain", "--rules", "rules", "--country", "RU", "--path", ARTICLE, "--content-type", "application/json"
    )
    assert "  shown     no: the response is application/json, which takes no HTML notice" in result.stdout.splitlines()


def test_json_format() -> None:
    result = compliance(
        "explain", "--rules", "rules", "--country", "RU", "--path", ARTICLE, "--format", "json", "--at", "2026-01-15"
    )
    document = json.loads(result.stdout)
    assert document["jurisdiction"] == {
        "country": "RU",
        "subdivision": None,
        "anonymous": False,
        "anonymity": [],
        "source": "test",
        "found": "given with --country",
    }
    assert document["at"] == "2026-01-15T00:00:00Z"
    assert [(f["rule"], f["notice"], f["language"], f["shown"]) for f in document["fires"]] == [
        ("ru-undesirable-organization", "undesirable-organization", "en", True)
    ]
    assert document["does_not_fire"] == []


def test_bad_options_exit_2() -> None:
    result = compliance("explain", "--rules", "rules", "--country", "UK", "--path", ARTICLE)
    assert result.stderr == (
        'compliance explain: "UK" is not an ISO 3166 country code; the United Kingdom is "GB" in ISO 3166.\n'
    )
    assert result.returncode == 2
    result = compliance("explain", "--rules", "rules", "--country", "RU", "--path", "news")
    assert result.stderr == "compliance explain: --path 'news' is not a path: a path starts with \"/\".\n"
    assert result.returncode == 2
    result = compliance("explain", "--rules", "rules", "--country", "RU", "--ip", "1.2.3.4", "--path", "/")
    assert "not allowed with argument" in result.stderr
    assert result.returncode == 2
    result = compliance("explain", "--rules", "rules", "--country", "RU", "--path", "/", "--at", "last week")
    assert "is not a date (2026-01-31) or an ISO 8601 date and time" in result.stderr
    assert result.returncode == 2
