"""The shadowed-rule check through its index decides exactly as comparing every pair of rules."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from compliance.rules import RuleSet
from compliance.rules import lint as lint_module
from compliance.rules.model import Rule
from tests.rule_sets import rule_sets


class _EveryRule:
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def candidates(self, rule: Rule) -> list[Rule]:
        return list(self.rules)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(max_rules=14))
def test_shadowed_rules_as_a_scan_of_every_pair_finds_them(ruleset: RuleSet) -> None:
    indexed = lint_module._shadowed(ruleset)
    original = lint_module._CoverIndex
    lint_module._CoverIndex = _EveryRule  # type: ignore[assignment,misc]
    try:
        scanned = lint_module._shadowed(ruleset)
    finally:
        lint_module._CoverIndex = original  # type: ignore[misc]
    assert indexed == scanned
