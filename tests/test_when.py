"""`when:` on a rule: conditions on the reader's request, end to end through the middleware."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from compliance import ComplianceMiddleware
from compliance.errors import RuleFileError
from compliance.reader.jurisdiction import given_jurisdiction
from compliance.rules import load_rules
from compliance.rules.classes import ClassTable
from compliance.rules.decide import Engine
from tests.conftest import RU_IP, US_IP, fetch, write_rules

CDN = ("127.0.0.1", 40000)
CALIFORNIA = {"CF-IPCountry": "US", "CF-Region-Code": "CA"}
GERMANY = {"CF-IPCountry": "DE"}

RULES = """
notices:
  do-not-sell:
    title: Do Not Sell or Share
    text: {en: "Do Not Sell or Share My Personal Information"}
  gpc-honoured:
    title: Opt-out honoured
    text: {en: "Your Global Privacy Control signal was received."}
  russian-readers:
    title: For readers in Russian
    text: {en: "A note for readers who read in Russian or Belarusian."}
  consented:
    title: Consent recorded
    text: {en: "Your consent is recorded."}
  warning:
    title: Warning
    text: {en: "Readers here: take care."}
rules:
  - id: ca-do-not-sell
    notice: do-not-sell
    jurisdictions: [US-CA]
    paths: ["/news/**"]
  - id: ca-gpc-honoured
    notice: gpc-honoured
    jurisdictions: [US-CA]
    paths: ["/news/**"]
    when:
      headers: {Sec-GPC: "1"}
  - id: russian-speakers
    notice: russian-readers
    jurisdictions: ["*"]
    paths: ["/world/**"]
    when:
      accept_language: [ru, be]
  - id: consent-recorded
    notice: consented
    jurisdictions: ["*"]
    paths: ["/account/**"]
    when:
      cookies: {consent: "yes"}
      headers: {Sec-GPC: "1"}
"""


async def page(scope: Any, receive: Any, send: Any) -> None:
    """An HTML page that says which jurisdiction the middleware left for the app, and may be cached."""
    jurisdiction = scope.get("state", {}).get("jurisdiction")
    where = "none" if jurisdiction is None else (jurisdiction.subdivision or jurisdiction.country or "unknown")
    body = f"<html><body><p>story</p><p id=where>{where}</p></body></html>".encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"public, max-age=60"),
        (b"etag", b'"v1"'),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def site(tmp_path: Path, rules: str = RULES) -> ComplianceMiddleware:
    return ComplianceMiddleware(
        page,
        rules=write_rules(tmp_path, rules),
        reload_interval=None,
        trusted_proxies=["127.0.0.1"],
        country_header="CF-IPCountry",
        region_header="CF-Region-Code",
    )


def notices(response: httpx.Response) -> set[str]:
    found = set()
    for name in ("do-not-sell", "gpc-honoured", "russian-readers", "consented", "warning"):
        if f'data-legal-notice="{name}"' in response.text:
            found.add(name)
    return found


def vary(response: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",") if v.strip()}


def test_a_header_condition_adds_its_notice_only_when_the_browser_sends_it(tmp_path: Path) -> None:
    app = site(tmp_path)
    sent = fetch(app, "/news/a", client=CDN, headers={**CALIFORNIA, "Sec-GPC": "1"})
    assert notices(sent) == {"do-not-sell", "gpc-honoured"}
    for other in ({}, {"Sec-GPC": "0"}, {"Sec-GPC": "1 1"}, {"Sec-GPC": "true"}):
        response = fetch(app, "/news/a", client=CDN, headers={**CALIFORNIA, **other})
        assert notices(response) == {"do-not-sell"}, other
        assert "sec-gpc" in vary(response)
    # Names in any case, the value with spaces around it trimmed.
    assert "gpc-honoured" in notices(fetch(app, "/news/a", client=CDN, headers={**CALIFORNIA, "sec-gpc": " 1 "}))


def test_the_condition_narrows_the_rule_it_is_on_and_nothing_else(tmp_path: Path) -> None:
    app = site(tmp_path)
    # Outside California, Sec-GPC changes nothing and the response does not vary by it.
    response = fetch(app, "/news/a", client=CDN, headers={**GERMANY, "Sec-GPC": "1"})
    assert notices(response) == set()
    assert "sec-gpc" not in vary(response)
    # A page no rule with when: covers keeps the app's caching.
    response = fetch(app, "/sport/a", client=CDN, headers={**CALIFORNIA, "Sec-GPC": "1"})
    assert response.headers["cache-control"] == "public, max-age=60" and "vary" not in response.headers


def test_responses_a_condition_could_change_vary_by_it_and_stay_private(tmp_path: Path) -> None:
    app = site(tmp_path)
    for headers in ({**CALIFORNIA, "Sec-GPC": "1"}, CALIFORNIA):
        response = fetch(app, "/news/a", client=CDN, headers=headers)
        assert "sec-gpc" in vary(response) and "cf-ipcountry" in vary(response)
        assert response.headers["cache-control"].startswith("private")
        assert "public" not in response.headers["cache-control"] and "etag" not in response.headers
    response = fetch(app, "/world/a", client=CDN, headers={**GERMANY, "Accept-Language": "de"})
    assert "accept-language" in vary(response) and response.headers["cache-control"].startswith("private")
    response = fetch(app, "/account/a", client=CDN, headers=GERMANY)
    assert {"cookie", "sec-gpc"} <= vary(response)


@pytest.mark.parametrize(
    ("accept_language", "fires"),
    [
        ("ru", True),
        ("ru-RU", True),
        ("RU-ru", True),
        ("en-GB, be;q=0.3", True),
        ("de, en;q=0.9, ru;q=0.1", True),
        ("ru;q=0", False),
        ("ru;q=0.000", False),
        ("ru;q=bogus", False),
        ("en, de", False),
        ("*", False),
        ("rus", False),
        ("", False),
    ],
)
def test_a_language_condition_reads_accept_language_as_browsers_write_it(
    tmp_path: Path, accept_language: str, fires: bool
) -> None:
    response = fetch(site(tmp_path), "/world/a", client=CDN, headers={**GERMANY, "Accept-Language": accept_language})
    assert ("russian-readers" in notices(response)) is fires


def test_every_part_of_a_condition_must_hold(tmp_path: Path) -> None:
    app = site(tmp_path)
    both = {**GERMANY, "Sec-GPC": "1", "Cookie": "theme=dark; consent=yes"}
    assert notices(fetch(app, "/account/a", client=CDN, headers=both)) == {"consented"}
    for headers in (
        {**GERMANY, "Sec-GPC": "1"},
        {**GERMANY, "Cookie": "consent=yes"},
        {**GERMANY, "Sec-GPC": "1", "Cookie": "consent=no"},
        {**GERMANY, "Sec-GPC": "1", "Cookie": "consent=yes; consent=no"},  # sent twice, differently
        {**GERMANY, "Sec-GPC": "1", "Cookie": "xconsent=yes"},
    ):
        assert notices(fetch(app, "/account/a", client=CDN, headers=headers)) == set(), headers


ATTACKED = """
notices:
  warning:
    title: Warning
    text: {en: "Readers here: take care."}
  do-not-sell:
    title: Do Not Sell or Share
    text: {en: "Do Not Sell or Share My Personal Information"}
rules:
  - id: ru-block
    notice: warning
    jurisdictions: [RU]
    paths: ["/blocked/**"]
    action: block
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    paths: ["/news/**"]
  - id: ru-warning-for-gpc
    notice: warning
    jurisdictions: [RU]
    paths: ["/news/**"]
    priority: 10
    when: {headers: {Sec-GPC: "1"}, accept_language: [ru]}
  - id: everyone-else
    notice: do-not-sell
    jurisdictions: ["*"]
    except_jurisdictions: [RU]
    paths: ["/news/**"]
    when: {cookies: {consent: "yes"}}
"""

CRAFTED: tuple[dict[str, str], ...] = (
    {},
    {"Sec-GPC": "1"},
    {"Sec-GPC": "0", "Accept-Language": "ru"},
    {"Sec-GPC": "1", "Accept-Language": "ru"},
    {"Sec-GPC": "1", "Sec-GPC ": "0", "Accept-Language": "en;q=1, ru;q=0"},
    {"Cookie": "consent=yes", "Accept-Language": "*"},
    {"Cookie": "consent=yes; jurisdiction=US; country=US", "CF-IPCountry": "US", "CF-Region-Code": "CA"},
    {"Accept-Language": "x" * 5000 + ", ru", "Cookie": ";" * 5000 + "consent=yes"},
)


def test_a_client_cannot_remove_a_notice_or_a_block_with_crafted_headers(tmp_path: Path) -> None:
    # A reader in Russia, placed by the address (not trusted to send CDN headers), sends what it likes.
    app = ComplianceMiddleware(
        page, rules=write_rules(tmp_path, ATTACKED), reload_interval=None, country_header="CF-IPCountry"
    )
    for headers in CRAFTED:
        printable = {k.strip(): v for k, v in headers.items()}
        response = fetch(app, "/news/a", client=(RU_IP, 1), headers=printable)
        assert notices(response) == {"warning"}, headers
        assert response.text.count('data-legal-notice="warning"') == 1
        assert "<p id=where>RU</p>" in response.text
        assert fetch(app, "/blocked/a", client=(RU_IP, 1), headers=printable).status_code == 451, headers
        # And a reader elsewhere cannot bring Russia's notice, or a block, on themselves.
        elsewhere = fetch(app, "/news/a", client=(US_IP, 1), headers=printable)
        assert "warning" not in notices(elsewhere) and "<p id=where>US</p>" in elsewhere.text
        assert fetch(app, "/blocked/a", client=(US_IP, 1), headers=printable).status_code == 200


def test_the_audit_names_the_conditions_that_held_never_a_cookie_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = site(tmp_path)
    with caplog.at_level(logging.INFO, "compliance.audit"):
        fetch(app, "/account/a", client=CDN, headers={**GERMANY, "Sec-GPC": "1", "Cookie": "consent=yes"})
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    (entry,) = events[-1]["rules"]
    assert entry["rule"] == "consent-recorded" and entry["outcome"] == "injected"
    assert entry["when"] == ["header Sec-GPC: 1", "cookie consent"]
    assert "yes" not in json.dumps(events[-1])


def test_rule_sets_without_when_decide_as_before(tmp_path: Path) -> None:
    ruleset = load_rules(write_rules(tmp_path, ATTACKED.split("  - id: ru-warning-for-gpc")[0]))
    engine = Engine(ruleset)
    decision = engine.decide(given_jurisdiction("RU", None), "", "/news/a", 0.0)
    assert decision.vary == () and engine.narrow(decision, [(b"sec-gpc", b"1")]) is decision


MISTAKES = [
    ('when: {headers: {Sec-GPC: "1"}}\n    action: block', 'not allowed on a "block" rule'),
    ("when: {colour: red}", '"colour" is not a field of "when"'),
    ("when: {accept_language: []}", '"accept_language" is empty'),
    ("when: {accept_language: [ru-RU]}", 'Write the language alone, "ru"'),
    ('when: {accept_language: ["*"]}', "is not a language"),
    ("when: {headers: {}}", '"headers" is empty'),
    ('when: {headers: {Sec-GPC: ["1"]}}', 'The value of "Sec-GPC" in "headers" is text'),
    ('when: {headers: {Sec-GPC: ""}}', 'The value of "Sec-GPC" in "headers" is empty'),
    ("when: {headers: {Cookie: a}}", 'use "cookies: {name: value}"'),
    ("when: {headers: {Accept-Language: ru}}", 'use "accept_language: [ru]"'),
    ('when: {headers: {Sec-GPC: "1", sec-gpc: "0"}}', "header names are the same in any case"),
    ('when: {cookies: {consent: "a b"}}', "cannot carry"),
    ("when: [ru]", '"when" needs at least one condition'),
    ("when: {}", '"when" needs at least one condition'),
]


@pytest.mark.parametrize(("written", "said"), MISTAKES)
def test_mistakes_in_when_are_plain_sentences_with_their_place(tmp_path: Path, written: str, said: str) -> None:
    text = f"""
notices:
  n:
    title: N
    text: {{en: n}}
rules:
  - id: r
    notice: n
    jurisdictions: ["*"]
    {written}
"""
    with pytest.raises(RuleFileError) as raised:
        load_rules(write_rules(tmp_path, text))
    problems = [str(p) for p in raised.value.problems]
    assert any(said in p for p in problems), problems
    assert all(p.startswith(f"{tmp_path / 'rules.yaml'}:10:") or ":11:" in p for p in problems), problems


def test_a_condition_added_to_a_rule_changes_the_class_map_version(tmp_path: Path) -> None:
    # Copies an edge cached under the old version must never be served once a rule takes a condition.
    plain = ATTACKED.split("  - id: ru-warning-for-gpc")[0]
    conditioned = plain + '    when: {headers: {Sec-GPC: "1"}}\n'
    versions = [
        ClassTable(Engine(load_rules(write_rules(tmp_path, text, f"{n}.yaml")))).at(0.0).version
        for n, text in enumerate((plain, conditioned))
    ]
    assert versions[0] != versions[1]


def test_when_is_refused_on_rules_that_take_elements_out(tmp_path: Path) -> None:
    text = """
notices:
  n:
    title: N
    text: {en: n}
rules:
  - id: r
    notice: n
    jurisdictions: ["@EU"]
    action: replace
    placement: {before: 'iframe[src^="https://www.rt.com/"]'}
    when: {headers: {Sec-GPC: "1"}}
"""
    for action in ("replace", "remove"):
        with pytest.raises(RuleFileError) as raised:
            load_rules(write_rules(tmp_path, text.replace("action: replace", f"action: {action}")))
        (problem,) = raised.value.problems
        assert (problem.line, problem.column) == (12, 11)
        assert f'"when" is not allowed on a "{action}" rule' in problem.message
