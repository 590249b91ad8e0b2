"""What rules write alike is read once per load, and shared: the rule set is as if each were read on its own."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from compliance.errors import RuleFileError
from compliance.rules import load_rules_text
from compliance.rules.decide import Engine
from compliance.rules.model import Location, Rule, new_rule

NOTICE = """\
notices:
  warning:
    title: Test warning
    text: {en: Take care.}
rules:
"""


def test_a_mistake_written_in_several_rules_is_reported_at_each() -> None:
    rule = """\
  - id: r{n}
    notice: warning
    jurisdictions: [RU]
    paths: ["/news/**", "/a**b"]
    placement: [{{marker: "no such marker"}}, body-end]
    from: 2024-02-30
"""
    with pytest.raises(RuleFileError) as raised:
        load_rules_text(NOTICE + rule.format(n=1) + rule.format(n=2), "x.yaml")
    found = sorted((p.line, p.column, p.code) for p in raised.value.problems)
    # Each rule is six lines long: the second rule's mistakes are the first's, six lines down.
    first = [(line, column, code) for line, column, code in found if line < 12]
    second = [(line - 6, column, code) for line, column, code in found if line >= 12]
    assert first == second
    assert {code for _, _, code in first} == {"bad-path", "bad-placement", "bad-date"}


def test_rules_written_alike_get_the_same_places_dates_and_paths() -> None:
    rule = """\
  - id: r{n}
    notice: warning
    jurisdictions: [RU, BY]
    paths: ["/news/**"]
    placement: [{{marker: legal-notice}}, body-end]
    from: 2024-02-16
"""
    first, second = load_rules_text(NOTICE + rule.format(n=1) + rule.format(n=2)).rules
    for rule_ in (first, second):
        assert [str(place) for place in rule_.placement] == ["marker: legal-notice", "body-end"]
        assert rule_.start == datetime(2024, 2, 16, tzinfo=UTC)
        assert [str(path) for path in rule_.paths] == ["/news/**"]
        assert rule_.jurisdictions == {"RU", "BY"}
    assert (first.location.line, second.location.line) == (6, 12)


def test_a_rule_made_quickly_is_a_rule_like_any_other() -> None:
    (rule,) = load_rules_text(NOTICE + "  - {id: a, notice: warning, jurisdictions: [RU]}\n").rules
    values = {field.name: getattr(rule, field.name) for field in dataclasses.fields(Rule)}
    made = new_rule(**values)
    assert type(made) is Rule
    assert made == rule == Rule(**values)
    assert hash(made) == hash(rule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.priority = 3  # type: ignore[misc]
    # Defaults as `Rule`'s own.
    values.pop("form")
    assert new_rule(**values).form == "auto"
    assert new_rule(**values).location == Location("<string>", 6, 5)


def test_a_dated_rule_stands_as_its_groups_do_at_each_moment() -> None:
    ruleset = load_rules_text(
        "groups:\n  reach: [TR, {member: GB, from: 2026-01-01, until: 2026-07-01}]\n"
        + NOTICE
        + "  - {id: a, notice: warning, jurisdictions: ['@reach']}\n"
        + "  - {id: b, notice: warning, jurisdictions: ['@reach'], priority: 2}\n"
    )
    engine = Engine(ruleset)
    for moment, codes in (("2025-12-31", {"TR"}), ("2026-01-01", {"TR", "GB"}), ("2026-07-01", {"TR"})):
        now = datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()
        in_force = engine.in_force(now)
        assert [rule.jurisdictions for rule in in_force] == [codes, codes]
        assert in_force == tuple(rule.at(now) for rule in ruleset.rules)
