"""Issue 12's words and dates: a rule's legal basis and reference, fixed and bilingual languages,
paths as readers type them, and groups through time, from the rule file to what a reader gets."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from compliance import ComplianceMiddleware, Jurisdiction, RuleFileError
from compliance.rules.decide import Engine
from compliance.rules.load import load_rules, load_rules_text
from tests.conftest import RU_IP, US_IP, fetch, write_rules

PAGE = '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><h1>Story</h1><p>Text</p></body></html>'

NOTICES = """\
notices:
  foreign-agent:
    title: Foreign-agent label (Russia)
    language: ru
    text:
      ru: "ДАННОЕ СООБЩЕНИЕ СОЗДАНО ИНОСТРАННЫМ АГЕНТОМ"
      en: "This message was created by a foreign agent"
  belarus:
    title: Belarus banner
    text:
      be: "Беларуская версія"
      ru: "Русская версия"
      en: "English version"
"""


def _app() -> Starlette:
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def api(request: Request) -> Response:
        return JSONResponse({"story": 1})

    return Starlette(routes=[Route("/api/{rest:path}", api), Route("/{rest:path}", page)])


def _mw(tmp_path: Path, rules: str, **options: Any) -> ComplianceMiddleware:
    return ComplianceMiddleware(_app(), rules=write_rules(tmp_path, NOTICES + rules), **options)


def _at(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


RU = Jurisdiction("RU", None, False, "test")
GB = Jurisdiction("GB", None, False, "test")
HR = Jurisdiction("HR", None, False, "test")


# -- 13: legal_basis and reference on a rule ---------------------------------------------------


def test_a_rule_carries_its_legal_basis_and_reference_into_the_audit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _mw(
        tmp_path,
        """
rules:
  - id: gb-contempt
    notice: belarus
    jurisdictions: [RU]
    legal_basis: Contempt of Court Act 1981, s. 4(2)
    reference: "Order No. 2026/1234"
""",
    )
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        fetch(app, "/news/a", client=(RU_IP, 1))
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    (rule,) = event["rules"]
    assert rule["legal_basis"] == "Contempt of Court Act 1981, s. 4(2)"
    assert rule["reference"] == "Order No. 2026/1234"


def test_one_notice_serves_two_orders_each_with_its_reference(tmp_path: Path) -> None:
    ruleset = load_rules_text(
        NOTICES
        + """
rules:
  - id: order-a
    notice: belarus
    jurisdictions: [TR]
    paths: [/a]
    reference: "2026/1"
  - id: order-b
    notice: belarus
    jurisdictions: [TR]
    paths: [/b]
    reference: "2026/2"
"""
    )
    assert [r.reference for r in ruleset.rules] == ["2026/1", "2026/2"]


# -- 12: fixed and bilingual languages -----------------------------------------------------------


def test_a_notice_with_language_ru_is_russian_on_an_english_page(tmp_path: Path) -> None:
    app = _mw(tmp_path, "\nrules:\n  - {id: agent, notice: foreign-agent, jurisdictions: ['*']}\n")
    r = fetch(app, "/news/a", client=(US_IP, 1), headers={"Accept-Language": "en"})
    assert 'data-legal-notice="foreign-agent" lang="ru"' in r.text
    assert "ИНОСТРАННЫМ АГЕНТОМ" in r.text
    assert "Accept-Language" not in r.headers.get("vary", "")


def test_languages_on_a_rule_show_both_texts_in_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = _mw(
        tmp_path,
        "\nrules:\n  - {id: by, notice: belarus, jurisdictions: [BY], languages: [be, en]}\n",
        resolver=_static("BY"),
    )
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        r = fetch(app, "/news/a", client=("178.124.134.1", 1), headers={"Accept-Language": "ru"})
    html = r.text
    be = html.index('data-legal-notice="belarus" lang="be"')
    en = html.index('data-legal-notice="belarus" lang="en"')
    assert be < en and 'lang="ru"' not in html
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert event["rules"][0]["languages"] == ["be", "en"]


def test_a_rules_language_wins_over_its_notices(tmp_path: Path) -> None:
    app = _mw(tmp_path, "\nrules:\n  - {id: agent, notice: foreign-agent, jurisdictions: ['*'], language: en}\n")
    r = fetch(app, "/news/a", client=(RU_IP, 1), headers={"Accept-Language": "ru"})
    assert 'data-legal-notice="foreign-agent" lang="en"' in r.text


def test_json_output_has_one_entry_per_language(tmp_path: Path) -> None:
    app = _mw(
        tmp_path,
        """
rules:
  - id: by
    notice: belarus
    jurisdictions: ["*"]
    languages: [ru, en]
    placement: {json: legal}
""",
    )
    r = fetch(app, "/api/story", client=(US_IP, 1))
    entries = r.json()["legal"]
    assert [(e["id"], e["language"]) for e in entries] == [("belarus", "ru"), ("belarus", "en")]


def test_a_451_in_two_languages_carries_both(tmp_path: Path) -> None:
    app = _mw(
        tmp_path,
        "\nrules:\n  - {id: by, notice: belarus, jurisdictions: [RU], action: block, languages: [ru, en]}\n",
    )
    r = fetch(app, "/news/a", client=(RU_IP, 1))
    assert r.status_code == 451
    assert r.text.index('lang="ru"') < r.text.index('data-legal-notice="belarus" lang="en"')


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("{id: a, notice: belarus, jurisdictions: [RU], language: de}", 'has no text in "de"'),
        ("{id: a, notice: belarus, jurisdictions: [RU], language: ru, languages: [ru]}", "one field written two"),
        ("{id: a, notice: belarus, jurisdictions: [RU], languages: [ru, RU]}", "listed twice"),
        ("{id: a, notice: belarus, jurisdictions: [RU], languages: []}", '"languages" is empty'),
    ],
)
def test_fixed_languages_are_checked_against_the_notice(rules: str, message: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(NOTICES + "rules:\n  - " + rules + "\n")
    assert message in str(caught.value)


# -- 14: paths as readers type them ------------------------------------------------------------


def test_an_exact_path_also_matches_its_trailing_slash_form(tmp_path: Path) -> None:
    app = _mw(tmp_path, "\nrules:\n  - {id: a, notice: belarus, jurisdictions: [RU], paths: [/news/slug]}\n")
    for path in ("/news/slug", "/news/slug/", "/news/slug?utm=x", "/news/slug/?utm=x"):
        assert 'data-legal-notice="belarus"' in fetch(app, path, client=(RU_IP, 1)).text, path
    assert 'data-legal-notice="belarus"' not in fetch(app, "/news/slug/more", client=(RU_IP, 1)).text


def test_explain_ignores_the_query_string_as_the_site_does(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        NOTICES + "rules:\n  - {id: a, notice: belarus, jurisdictions: [RU], paths: [/a/slug], action: block}\n",
    )
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "explain", "--rules", str(rules), "--country", "RU", "--path",
         "/a/slug?utm=x"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "BLOCKS  a" in result.stdout
    assert "the query string is not part of any decision" in result.stdout


# -- 9: groups through time --------------------------------------------------------------------


def test_the_eu_holds_its_members_of_the_moment() -> None:
    engine = Engine(
        load_rules_text(NOTICES + "rules:\n  - {id: eu, notice: belarus, jurisdictions: ['@EU'], action: block}\n")
    )
    assert engine.decide(GB, "", "/a", _at("2019-12-01")).block is not None
    assert engine.decide(GB, "", "/a", _at("2020-03-01")).block is None
    assert engine.decide(HR, "", "/a", _at("2013-06-30")).block is None
    assert engine.decide(HR, "", "/a", _at("2013-07-01")).block is not None
    # The cached decision is never kept past a member's leaving.
    assert engine.decide(GB, "", "/a", _at("2020-01-31T22:59:59")).block is not None
    assert engine.decide(GB, "", "/a", _at("2020-01-31T23:00:00")).block is None


def test_a_groups_member_may_carry_dates_and_explain_says_so() -> None:
    ruleset = load_rules_text(
        NOTICES
        + """
groups:
  order-reach: [TR, {member: GB, from: 2026-01-01, until: 2026-07-01}, {member: "@EU", until: 2026-02-01}]
rules:
  - {id: order, notice: belarus, jurisdictions: ["@order-reach"]}
"""
    )
    engine = Engine(ruleset)
    assert engine.decide(GB, "", "/a", _at("2026-03-01")).fired
    assert not engine.decide(GB, "", "/a", _at("2025-12-31")).fired
    assert engine.decide(HR, "", "/a", _at("2026-01-15")).fired
    assert not engine.decide(HR, "", "/a", _at("2026-02-01")).fired
    (skip,) = engine.explain(GB, "", "/a", _at("2025-12-31")).skipped
    assert "GB belongs to it from 2026-01-01 until 2026-07-01 only" in skip.reason


def test_a_dated_member_whose_dates_are_reversed_is_an_error() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(
            NOTICES + "groups:\n  g: [{member: GB, from: 2026-02-01, until: 2026-01-01}]\n"
            "rules:\n  - {id: a, notice: belarus, jurisdictions: ['@g']}\n"
        )
    assert "bad-date-range" in str(caught.value) or "never belong" in str(caught.value)


def test_the_report_shows_the_groups_of_today(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, NOTICES + "rules:\n  - {id: eu, notice: belarus, jurisdictions: ['@EU']}\n")
    ruleset = load_rules(rules)
    today = ruleset.at(datetime.now(UTC).timestamp())
    assert "GB" not in today.rules[0].jurisdictions and "HR" in today.rules[0].jurisdictions


def _static(country: str) -> Any:
    from compliance.reader.databases import StaticResolver

    return StaticResolver({"178.124.0.0/16": country})
