"""Kinds of anonymity as jurisdictions (`tor`, `anonymous-vpn`, ...) and the rule set's block policy,
from the rule file and the anonymous-IP database to what a reader gets, and in validate, explain and test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compliance import ComplianceMiddleware, Jurisdiction, RuleFileError
from compliance.reader.jurisdiction import given_jurisdiction
from compliance.rules.classes import ClassTable
from compliance.rules.decide import Engine
from compliance.rules.lint import lint as lint_all
from compliance.rules.load import load_rules_text
from tests.conftest import chunked_app, http_scope, run_asgi
from tests.mmdb import write_city_db, write_db

ROOT = Path(__file__).resolve().parent.parent
PAGE = b"<html><body><p>Story</p></body></html>"

TOR_EXIT = "185.220.101.7"
VPN_NL = "45.83.1.1"
HOSTING_NL = "34.90.10.1"
PLAIN_NL = "145.2.1.1"

NOTICES = """\
notices:
  gdpr-block:
    title: Not available in the EEA
    text: {en: "This page is not available in your country."}
  undesirable-organization:
    title: Undesirable-organization warning (Russia)
    text: {en: "The Russian authorities have listed us as an undesirable organization."}
"""

GDPR_BLOCK = """\
rules:
  - id: gdpr-451
    notice: gdpr-block
    jurisdictions: ["@EEA"]
    action: block
"""

POLICY = "policy:\n  blocks: spare-unknown-and-anonymous\n"


def _databases(tmp_path: Path) -> dict[str, Any]:
    city = write_city_db(
        tmp_path / "city.mmdb",
        {"185.220.101.0/24": "DE", "45.83.0.0/16": "NL", "34.90.0.0/16": "NL", "145.2.0.0/16": "NL"},
    )
    anonymous = write_db(
        tmp_path / "anon.mmdb",
        {
            "185.220.101.0/24": {"is_anonymous": True, "is_tor_exit_node": True},
            "45.83.0.0/16": {"is_anonymous": True, "is_anonymous_vpn": True},
            "34.90.0.0/16": {"is_anonymous": True, "is_hosting_provider": True},
        },
        database_type="GeoIP2-Anonymous-IP",
    )
    return {"geoip_db": city, "anonymous_db": anonymous}


def _app(tmp_path: Path, rules: str) -> ComplianceMiddleware:
    (tmp_path / "rules.yaml").write_text(NOTICES + rules, encoding="utf-8")
    return ComplianceMiddleware(chunked_app([PAGE]), rules=tmp_path / "rules.yaml", **_databases(tmp_path))


def _status(app: ComplianceMiddleware, ip: str) -> int:
    return int(run_asgi(app, http_scope("/a", client=(ip, 1))).start["status"])


def test_a_vpn_reader_keeps_the_exit_country_and_is_anonymous_vpn(tmp_path: Path) -> None:
    app = _app(tmp_path, GDPR_BLOCK)
    vpn = app.resolver.resolve_ip(VPN_NL)
    assert (vpn.country, vpn.anonymous, vpn.kinds) == ("NL", True, frozenset({"anonymous-vpn"}))
    assert vpn.codes == {"NL", "anonymous", "anonymous-vpn"}
    tor = app.resolver.resolve_ip(TOR_EXIT)
    assert tor.codes == {"unknown", "anonymous", "tor"}
    hosting = app.resolver.resolve_ip(HOSTING_NL)
    assert hosting.codes == {"NL", "hosting-provider"}  # a hosting provider is not `anonymous` by default
    # Without a policy, a block for the EEA reaches the VPN exit in the Netherlands, as written.
    assert _status(app, VPN_NL) == 451
    assert _status(app, PLAIN_NL) == 451


def test_the_policy_spares_unknown_and_anonymous_readers_from_a_block_that_does_not_name_them(tmp_path: Path) -> None:
    app = _app(tmp_path, GDPR_BLOCK + POLICY)
    assert _status(app, PLAIN_NL) == 451
    assert _status(app, VPN_NL) == 200
    assert _status(app, HOSTING_NL) == 451  # not anonymous: the policy does not spare it


def test_under_the_policy_a_block_that_names_a_kind_reaches_it_and_star_does_not_count(tmp_path: Path) -> None:
    rules = GDPR_BLOCK.replace('["@EEA"]', '["@EEA", anonymous-vpn]') + POLICY
    app = _app(tmp_path, rules)
    assert _status(app, VPN_NL) == 451
    (tmp_path / "star").mkdir()
    star = _app(tmp_path / "star", GDPR_BLOCK.replace('["@EEA"]', '["*"]') + POLICY)
    assert _status(star, PLAIN_NL) == 451
    assert _status(star, VPN_NL) == 200
    assert _status(star, TOR_EXIT) == 200
    assert _status(star, "10.0.0.1") == 200  # unknown


def test_a_rule_for_tor_and_unknown_reaches_tor_from_the_database_and_from_a_cdn(tmp_path: Path) -> None:
    rules = """\
rules:
  - id: ru-undesirable
    notice: undesirable-organization
    jurisdictions: [RU, tor, unknown]
"""
    app = _app(tmp_path, rules)
    assert b'data-legal-notice="undesirable-organization"' in run_asgi(app, http_scope("/a", client=(TOR_EXIT, 1))).body
    assert run_asgi(app, http_scope("/a", client=(VPN_NL, 1))).body == PAGE
    cdn = ComplianceMiddleware(
        chunked_app([PAGE]),
        rules=tmp_path / "rules.yaml",
        trusted_proxies=["10.0.0.0/8"],
        cdn_proxies=["10.0.0.0/8"],
        country_header="CF-IPCountry",
    )
    scope = http_scope("/a", client=("10.0.0.1", 1), headers=[(b"cf-ipcountry", b"T1")])
    assert b'data-legal-notice="undesirable-organization"' in run_asgi(cdn, scope).body


def test_two_different_policies_are_an_error_that_names_both_places() -> None:
    text = NOTICES + GDPR_BLOCK + POLICY
    ruleset = load_rules_text(text, "r.yaml")
    assert ruleset.block_policy == "spare-unknown-and-anonymous"
    assert ruleset.rules[0].spares_unidentified
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(text + "policy:\n  blocks: as-written\n", "r.yaml")
    assert "duplicate" in str(caught.value) or "given twice" in str(caught.value) or "twice" in str(caught.value)


def test_different_policies_in_two_files_are_an_error(tmp_path: Path) -> None:
    from compliance.rules.load import load_rules

    (tmp_path / "a.yaml").write_text(NOTICES + GDPR_BLOCK + POLICY)
    (tmp_path / "b.yaml").write_text("policy: {blocks: as-written}\n")
    with pytest.raises(RuleFileError) as caught:
        load_rules(tmp_path)
    [problem] = caught.value.problems
    assert (problem.path, problem.line, problem.column, problem.code) == (
        f"{tmp_path}/b.yaml",
        1,
        18,
        "conflicting-policy",
    )
    assert f"{tmp_path}/a.yaml:14:11" in problem.message
    (tmp_path / "b.yaml").write_text(POLICY)
    assert load_rules(tmp_path).block_policy == "spare-unknown-and-anonymous"


def test_a_policy_value_that_is_not_one_says_which_are() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text(NOTICES + "policy: {blocks: spare}\n", "r.yaml")
    assert "as-written" in str(caught.value) and "spare-unknown-and-anonymous" in str(caught.value)


def test_validate_checks_every_block_against_the_policy() -> None:
    def lint(ruleset: Any) -> list[Any]:
        return [p for p in lint_all(ruleset) if p.code != "unused-notice"]

    without = lint(load_rules_text(NOTICES + GDPR_BLOCK, "r.yaml"))
    assert [p.code for p in without] == ["block-reaches-anonymous"]
    assert "VPN" in without[0].message and "policy: {blocks: spare-unknown-and-anonymous}" in without[0].message
    assert lint(load_rules_text(NOTICES + GDPR_BLOCK + POLICY, "r.yaml")) == []
    assert lint(load_rules_text(NOTICES + GDPR_BLOCK + "policy: {blocks: as-written}\n", "r.yaml")) == []
    star = lint(load_rules_text(NOTICES + GDPR_BLOCK.replace('["@EEA"]', '["*"]') + POLICY, "r.yaml"))
    assert [p.code for p in star] == ["policy-spares"]
    named = NOTICES + GDPR_BLOCK.replace('["@EEA"]', '["*", unknown, anonymous]') + POLICY
    assert lint(load_rules_text(named, "r.yaml")) == []


def test_explain_says_the_policy_spares_the_reader() -> None:
    engine = Engine(load_rules_text(NOTICES + GDPR_BLOCK + POLICY, "r.yaml"))
    vpn = given_jurisdiction("NL", None, "anonymous-vpn")
    decision = engine.explain(vpn, "", "/a", 0.0)
    assert decision.block is None
    [skip] = decision.skipped
    assert skip.code == "policy"
    assert "spares anonymous readers" in skip.reason and "anonymous-vpn" in skip.reason


def test_classes_see_tor_as_the_anonymous_member() -> None:
    rules = "rules:\n  - {id: tor-warning, notice: undesirable-organization, jurisdictions: [tor]}\n"
    classes = ClassTable(Engine(load_rules_text(NOTICES + rules, "r.yaml"))).at(0.0)
    assert classes.classes[classes.members["anonymous"]].rules == ("tor-warning",)
    assert classes.members["NL"] != classes.members["anonymous"]


def test_jurisdiction_values_state_each_kind() -> None:
    assert given_jurisdiction("NL", None, "anonymous-vpn").codes == {"NL", "anonymous", "anonymous-vpn"}
    assert given_jurisdiction("unknown", None, "tor") == Jurisdiction(
        None, None, True, "test", kinds=frozenset({"tor"})
    )
    assert given_jurisdiction("anonymous").codes == {"unknown", "anonymous", "tor"}
    assert given_jurisdiction("NL", None, "hosting-provider").codes == {"NL", "hosting-provider"}


def _compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_case_files_and_explain_state_anonymous_readers(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "rules.yaml").write_text(NOTICES + GDPR_BLOCK + POLICY)
    (rules / "tests" / "cases.yaml").write_text(
        """\
cases:
  - name: A reader in the Netherlands gets the 451
    request: {path: /a, country: NL}
    expect: {status: 451, notices: [gdpr-block]}
  - name: A reader through a VPN exit in the Netherlands is spared by the policy
    request: {path: /a, country: NL, anonymous: vpn}
    expect: {notices: []}
  - name: A Tor reader is spared too
    request: {path: /a, anonymous: tor}
    expect: {notices: []}
"""
    )
    result = _compliance("test", "--rules", "rules", "rules/tests/cases.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    explained = _compliance(
        "explain", "--rules", "rules", "--country", "NL", "--anonymous", "vpn", "--path", "/a", "--format", "json",
        cwd=tmp_path,
    )  # fmt: skip
    document = json.loads(explained.stdout)
    assert document["jurisdiction"]["anonymity"] == ["anonymous-vpn"]
    assert document["jurisdiction"]["anonymous"] is True
    text = _compliance(
        "explain", "--rules", "rules", "--country", "NL", "--anonymous", "vpn", "--path", "/a", cwd=tmp_path
    ).stdout
    assert "NL (Netherlands), anonymous, anonymous-vpn" in text
    assert "policy spares anonymous readers" in text


@pytest.mark.parametrize(
    ("request_yaml", "said"),
    [
        ("{path: /a, anonymous: vpn}", 'keeps the country of the exit: give "country" too'),
        ("{path: /a, country: NL, anonymous: tor}", "A Tor reader's country is unknown"),
        ("{path: /a, country: NL, anonymous: onion}", '"onion" is not a kind of anonymity'),
        ("{path: /a, ip: 45.83.1.1, anonymous: vpn}", 'write "country" (the exit\'s) with "anonymous"'),
    ],
)
def test_a_case_that_states_anonymity_wrongly_says_what_to_write(tmp_path: Path, request_yaml: str, said: str) -> None:
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "rules.yaml").write_text(NOTICES + GDPR_BLOCK + POLICY)
    (rules / "tests" / "cases.yaml").write_text(f"cases:\n  - name: c\n    request: {request_yaml}\n    expect: {{}}\n")
    result = _compliance("test", "--rules", "rules", "rules/tests/cases.yaml", cwd=tmp_path)
    assert said in result.stdout + result.stderr
    assert "rules/tests/cases.yaml:3:" in result.stdout + result.stderr


def test_a_test_token_carries_the_kinds_of_anonymity() -> None:
    from compliance.reader.token import mint, read

    secret = "s" * 32
    vpn = given_jurisdiction("NL", None, "anonymous-vpn")
    token = mint(secret, "test", vpn.country, None, anonymous=vpn.anonymous, kinds=vpn.kinds, now=1000.0)
    found = read(token, secret, 1001.0)
    assert found is not None and found.jurisdiction.codes == {"NL", "anonymous", "anonymous-vpn"}
    plain = read(mint(secret, "test", "NL", now=1000.0), secret, 1001.0)
    assert plain is not None and plain.jurisdiction.kinds == frozenset()
