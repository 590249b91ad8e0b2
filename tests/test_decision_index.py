"""The engine's index decides exactly as a scan of every rule (the reference kept here)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules import RuleSet
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
