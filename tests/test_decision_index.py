"""The engine's index decides exactly as a scan of every rule (the reference kept here)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules import RuleSet, decide, load_rules_text
from compliance.rules.decide import NOTHING, Decision, Engine, Firing, _Compiled, _host_ok, _jurisdiction_ok, _path_ok
from compliance.rules.paths import ANY_HOST, normalise_path
from tests.rule_sets import rule_sets

SEGMENTS = ["news", "sport", "a", "amp", "print", "12", "2024", "x.html", "a-1-b", "", ".", "..", "%2F", "NEWS"]
PATHS = st.lists(st.sampled_from(SEGMENTS), max_size=5).map(lambda parts: "/" + "/".join(parts))
HOSTS = st.sampled_from(
    ["", ANY_HOST, "www.example.org", "WWW.Example.org:8443", "a.b.example.org", "example.org", "other.example", "x"]
)
READERS = st.builds(
    Jurisdiction,
    st.sampled_from(["RU", "BY", "UA", "DE", "FR", None]),
    st.sampled_from([None, "UA-43", "RU-MOW"]),
    st.booleans(),
    st.sampled_from(["geoip", "embedded"]),
    st.none(),
    st.sampled_from([frozenset(), frozenset({"tor"}), frozenset({"anonymous-vpn"})]),
)
MOMENTS = st.sampled_from(
    [datetime(y, m, 1, tzinfo=UTC).timestamp() for y, m in [(2019, 1), (2020, 1), (2024, 6), (2026, 1), (2031, 1)]]
)


def decide_by_scan(engine: Engine, jurisdiction: Jurisdiction, host: str, path: str, now: float) -> Decision:
    """The decision as a scan of every rule finds it: the reference the index must equal."""
    path = normalise_path(path)
    candidates = [c for c in engine._rules if _host_ok(c.rule, host) and _path_ok(c.rule, path)]
    firing: list[_Compiled] = []
    dependent = covered = False
    for c in candidates:
        if not c.in_time(now):
            continue
        covered = True
        dependent = dependent or c.dependent
        if _jurisdiction_ok(c.at(now), jurisdiction.codes):
            firing.append(c)
    if not covered:
        return NOTHING
    firing.sort(key=lambda c: (-c.rule.priority, c.rule.id))
    block = next((c for c in firing if c.rule.action == "block" and c.rule.mode == "enforce"), None)
    # A notice shows once per kind of place (an HTML page's, a JSON response's, a header's).
    seen: set[tuple[str, str]] = set()
    fired: list[Firing] = []
    for c in firing:
        kind = c.rule.placement[0].kind if c.rule.placement else "body-end"
        key = (c.notice.id, kind if kind in ("json", "header") else "html")
        if (c.rule.action == "block" and c.rule.mode == "enforce") or key in seen:
            continue
        seen.add(key)
        fired.append(Firing(c.rule, c.notice))
    return Decision(tuple(fired), None if block is None else Firing(block.rule, block.notice), dependent, True)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule_sets(max_rules=16),
    st.lists(st.tuples(READERS, HOSTS, PATHS, MOMENTS), min_size=1, max_size=12),
)
def test_the_index_decides_as_a_scan_of_every_rule(
    ruleset: RuleSet, asks: list[tuple[Jurisdiction, str, str, float]]
) -> None:
    engine = Engine(ruleset)
    for jurisdiction, host, path, now in asks:
        expected = decide_by_scan(engine, jurisdiction, host, path, now)
        assert engine.decide(jurisdiction, host, path, now) == expected
        assert engine.decide(jurisdiction, host, path, now) == expected  # from the caches
        assert engine.covers(host, path) == any(
            _host_ok(c.rule, host) and _path_ok(c.rule, normalise_path(path)) for c in engine._rules
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule_sets(max_rules=16),
    st.lists(st.tuples(READERS, HOSTS, PATHS, MOMENTS), min_size=2, max_size=16),
)
def test_pages_with_the_same_covering_rules_share_decisions_exactly(
    ruleset: RuleSet, asks: list[tuple[Jurisdiction, str, str, float]]
) -> None:
    """A decision kept for one page's covering rules is right for another page with the same rules, for every
    reader and moment, asked in any order; decisions equal in content are one object."""
    engine = Engine(ruleset)
    seen: list[Decision] = []
    for jurisdiction, host, path, now in [*asks, *reversed(asks), *asks[::2]]:
        expected = decide_by_scan(engine, jurisdiction, host, path, now)
        decision = engine.decide(jurisdiction, host, path, now)
        assert decision == expected
        assert all(decision is other for other in seen if other == decision)
        seen.append(decision)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule_sets(max_rules=16),
    st.lists(st.tuples(READERS, HOSTS, PATHS, MOMENTS), min_size=1, max_size=16),
)
def test_the_decision_stays_exact_while_its_bounded_caches_let_go(
    ruleset: RuleSet, asks: list[tuple[Jurisdiction, str, str, float]]
) -> None:
    """With room for two sets of covering rules and three decisions, every answer is still the scan's, and the
    caches hold no more than their bounds."""
    original = decide._COVERS_KEPT, decide._DECISIONS_KEPT
    decide._COVERS_KEPT, decide._DECISIONS_KEPT = 2, 3
    try:
        engine = Engine(ruleset)
        for jurisdiction, host, path, now in [*asks, *asks]:
            assert engine.decide(jurisdiction, host, path, now) == decide_by_scan(engine, jurisdiction, host, path, now)
            assert len(engine._covers) <= 2
            assert engine._kept <= 3
            assert sum(len(cover.decisions) for cover in engine._covers.values()) <= 3
            assert len(engine._decided) <= 3
    finally:
        decide._COVERS_KEPT, decide._DECISIONS_KEPT = original


def test_a_new_page_under_rules_seen_before_gets_the_same_decision_object() -> None:
    """Two article pages the same rules cover, one reader: the second page's decision is the first's, so what is
    worked out per decision (a response's plan) is not worked out again per page."""
    ruleset = load_rules_text(
        "notices:\n  n:\n    title: N\n    text: {en: Text.}\n"
        "rules:\n  - id: ru\n    notice: n\n    jurisdictions: [RU]\n    paths: ['/news/**']\n",
        "rules.yaml",
    )
    engine = Engine(ruleset)
    ru, de = Jurisdiction("RU", None, False, "embedded"), Jurisdiction("DE", None, False, "geoip")
    first = engine.decide(ru, "", "/news/first-story", 0.0)
    assert [f.rule.id for f in first.fired] == ["ru"]
    assert engine.decide(ru, "", "/news/second-story", 0.0) is first
    assert engine.decide(Jurisdiction("RU", None, False, "geoip"), "", "/news/third", 0.0) is first
    assert engine.decide(de, "", "/news/second-story", 0.0).fired == ()
