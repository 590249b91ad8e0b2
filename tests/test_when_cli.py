"""`when:` in the commands: `explain` takes the request's headers, `test` cases carry them, `report` lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance.cli import main
from tests.conftest import write_rules
from tests.test_when import RULES

CASES = """
cases:
  - name: GPC in California
    request: {path: /news/a, country: US, subdivision: US-CA, headers: {Sec-GPC: "1"}}
    expect: {notices: [do-not-sell, gpc-honoured]}
  - name: Nothing sent in California
    request: {path: /news/a, country: US, subdivision: US-CA}
    expect: {notices: [do-not-sell]}
  - name: A Belarusian browser in Germany
    request: {path: /world/a, country: DE, headers: {Accept-Language: "be-BY, en;q=0.5"}}
    expect: {notices: [russian-readers]}
  - name: Consent and GPC
    request: {path: /account/a, country: DE, headers: {Sec-GPC: "1", Cookie: "a=b; consent=yes"}}
    expect: {notices: [consented]}
  - name: Consent without GPC
    request: {path: /account/a, country: DE, headers: {Cookie: "consent=yes"}}
    expect: {notices: []}
"""


def explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    rules = write_rules(tmp_path, RULES)
    code = main(
        ["explain", "--rules", str(rules), "--country", "US", "--subdivision", "US-CA", "--path", "/news/a", *extra]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


def test_explain_says_the_condition_in_words_and_whether_the_request_meets_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = explain(tmp_path, capsys, "--header", "Sec-GPC: 1")
    assert code == 0
    assert "FIRES  ca-gpc-honoured" in text
    assert "  when      only when the reader's browser sends Sec-GPC: 1, and this request does\n" in text
    assert "Request:   Sec-GPC: 1" in text and "varies by Sec-GPC and is private" in text
    _, text = explain(tmp_path, capsys)
    assert "DOES NOT FIRE  ca-gpc-honoured" in text
    assert "why       only when the reader's browser sends Sec-GPC: 1, and this request does not" in text
    _, text = explain(tmp_path, capsys, "--header", "Sec-GPC:0")
    assert "DOES NOT FIRE  ca-gpc-honoured" in text


def test_explain_takes_cookies_and_languages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = write_rules(tmp_path, RULES)
    base = ["explain", "--rules", str(rules), "--country", "DE"]
    main([*base, "--path", "/account/a", "--cookie", "consent=yes", "--header", "sec-gpc:1", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in document["fires"]] == ["consent-recorded"]
    assert document["fires"][0]["when"] == (
        "only when the reader's browser sends Sec-GPC: 1 and the request carries the cookie consent=yes"
    )
    main([*base, "--path", "/world/a", "--accept-language", "ru-RU,ru;q=0.9"])
    assert "FIRES  russian-speakers" in capsys.readouterr().out
    main([*base, "--path", "/world/a", "--accept-language", "ru;q=0"])
    assert "why       only when the reader's browser asks for ru or be (Accept-Language)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--header", "Sec-GPC"], "is not NAME:VALUE"),
        (["--header", "Bad Name:1"], "is not NAME:VALUE"),
        (["--header", "Cookie:a=b"], "--cookie NAME=VALUE"),
        (["--cookie", "consent"], "is not NAME=VALUE"),
    ],
)
def test_explain_refuses_a_request_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str], said: str
) -> None:
    code, text = explain(tmp_path, capsys, *given)
    assert code == 2 and said in text


def test_cases_carry_the_request_headers_conditions_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = write_rules(tmp_path, RULES)
    cases = write_rules(tmp_path, CASES, "cases.yaml")
    assert main(["test", str(cases), "--rules", str(rules)]) == 0, capsys.readouterr().out
    assert "5 passed, 0 failed" in capsys.readouterr().out
    # A case that expects the confirmation without the header fails: the condition is checked.
    wrong = CASES.replace("expect: {notices: [do-not-sell]}", "expect: {notices: [do-not-sell, gpc-honoured]}")
    assert main(["test", str(write_rules(tmp_path, wrong, "wrong.yaml")), "--rules", str(rules)]) == 1
    assert "FAIL  Nothing sent in California" in capsys.readouterr().out


def test_the_report_lists_the_condition_with_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = write_rules(tmp_path, RULES)
    assert main(["report", "--rules", str(rules), "--format", "markdown", "-o", "-"]) == 0
    text = capsys.readouterr().out
    assert "only when the reader's browser sends Sec-GPC: 1 (rule `ca-gpc-honoured`)" in text
    assert (
        "consent-recorded (only when the reader's browser sends Sec-GPC: 1 and the request carries the cookie" in text
    )


def test_a_rule_with_a_condition_shadows_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
notices:
  n:
    title: N
    text: {en: n}
rules:
  - id: always
    notice: n
    jurisdictions: ["*"]
  - id: with-gpc
    notice: n
    jurisdictions: ["*"]
    priority: 5
    when: {headers: {Sec-GPC: "1"}}
"""
    main(["validate", str(write_rules(tmp_path, text))])
    assert "shadowed-rule" not in capsys.readouterr().out
    # The other way round, the rule with the condition never changes what a reader sees: said.
    main(["validate", str(write_rules(tmp_path, text.replace("priority: 5", "priority: -5")))])
    assert 'The rule "with-gpc" never changes what a reader sees' in capsys.readouterr().out
