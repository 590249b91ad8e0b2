"""Prometheus metrics on a registry of the test's own, the no-op without prometheus_client, and audit volume."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from compliance import ConfigError
from compliance.observe.audit import AuditPolicy
from compliance.observe.metrics import BUCKETS, DECISIONS, DISAGREEMENTS, MIDDLEWARE_SECONDS, Metrics
from compliance.sources.reload import RuleSource
from tests.conftest import ROOT
from tests.test_reload import rules_text


def test_decisions_are_counted_by_rule_jurisdiction_and_outcome() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.observe([("ru-warning", "RU", "injected"), ("ru-imprint", "RU", "report-only")], 0.000004)
    metrics.observe([("ru-warning", "RU", "injected")], 0.000003)
    metrics.observe([("ru-warning", "RU", "missed")], 0.00002)
    metrics.observe([], 0.0000005)

    def count(rule: str, jurisdiction: str, outcome: str) -> float | None:
        labels = {"rule": rule, "jurisdiction": jurisdiction, "outcome": outcome}
        return registry.get_sample_value("compliance_decisions_total", labels)

    assert count("ru-warning", "RU", "injected") == 2
    assert count("ru-warning", "RU", "missed") == 1
    assert count("ru-imprint", "RU", "report-only") == 1
    assert count("ru-warning", "DE", "injected") is None


def test_the_middleware_time_histogram_spans_a_microsecond_to_ten_milliseconds() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    for seconds in (0.0000005, 0.000002, 0.000002, 0.0003, 0.5):
        metrics.observe((), seconds)
    assert BUCKETS[0] == 1e-6 and BUCKETS[-1] == 1e-2
    value = registry.get_sample_value
    assert value("compliance_middleware_seconds_count") == 5
    assert value("compliance_middleware_seconds_bucket", {"le": "1e-06"}) == 1
    assert value("compliance_middleware_seconds_bucket", {"le": "2.5e-06"}) == 3
    assert value("compliance_middleware_seconds_bucket", {"le": "0.01"}) == 4
    assert value("compliance_middleware_seconds_bucket", {"le": "+Inf"}) == 5
    assert value("compliance_middleware_seconds_sum") == pytest.approx(0.5003045)


def test_metrics_on_one_registry_share_their_collectors() -> None:
    registry = CollectorRegistry()
    Metrics(registry).observe([("r", "RU", "injected")], 0.0)
    Metrics(registry).observe([("r", "RU", "injected")], 0.0)  # a second middleware: no duplicate error
    labels = {"rule": "r", "jurisdiction": "RU", "outcome": "injected"}
    assert registry.get_sample_value("compliance_decisions_total", labels) == 2
    # The default registry too: many middlewares in one process (a test suite) must not collide.
    Metrics().observe([], 0.0)
    Metrics().observe([], 0.0)


def test_disabled_metrics_register_nothing() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, enabled=False)
    metrics.observe([("r", "RU", "injected")], 0.1)
    assert not metrics.enabled
    assert generate_latest(registry) == b""


def test_the_rule_version_of_a_watched_source_is_exposed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("old"), encoding="utf-8")
    source = RuleSource(path, interval=None)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.watch_rules(source)
    where = str(path)
    value = registry.get_sample_value
    assert value("compliance_rules_info", {"source": where, "version": source.version}) == 1
    assert value("compliance_rules_loaded_timestamp_seconds", {"source": where}) == source.loaded_at
    assert value("compliance_rules_reload_error", {"source": where}) == 0
    path.write_text("rules: [", encoding="utf-8")
    source.reload_now()
    assert value("compliance_rules_reload_error", {"source": where}) == 1
    del source
    assert b"compliance_rules_info{" not in generate_latest(registry), "a collected source is no longer listed"


def test_without_prometheus_client_metrics_are_a_no_op() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None  # as if the `metrics` extra were not installed
        from compliance.observe.metrics import Metrics, available
        metrics = Metrics()
        metrics.observe([("r", "RU", "injected")], 0.001)
        metrics.watch_rules(object())
        print(available(), metrics.enabled)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


OBSERVED = [
    ([("ru-warning", "RU", "injected"), ("ru-imprint", "RU", "report-only")], 0.000004),
    ([("ru-warning", "RU", "injected")], 0.000003),
    ([("ru-warning", "unknown", "missed")], 0.02),
    ([], 0.0000005),
    ([("ua-notice", "UA", "fallback")], 0.0003),
]


def _without_times(exposition: bytes) -> str:
    """The exposition with the `_created` timestamps (the moment a series began) left out."""
    return re.sub(r"^(\w+_created(?:\{[^}]*\})?) \S+$", r"\1 T", exposition.decode(), flags=re.M)


def test_the_exposition_is_the_one_of_prometheus_clients_own_counter_and_histogram() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    reference = CollectorRegistry()
    decisions = Counter(
        DECISIONS,
        "Rules that fired on a response, by rule id, reader's jurisdiction and outcome.",
        ("rule", "jurisdiction", "outcome"),
        registry=reference,
    )
    seconds = Histogram(
        MIDDLEWARE_SECONDS,
        "The compliance middleware's own time per response, the app's time not included.",
        buckets=BUCKETS,
        registry=reference,
    )
    disagreements = Counter(
        DISAGREEMENTS,
        "Responses where the edge's jurisdiction class differed from the middleware's own resolution "
        "(the edge's class was used).",
        registry=reference,
    )
    for rules, spent in OBSERVED:
        metrics.observe(rules, spent)
        for key in rules:
            decisions.labels(*key).inc()
        seconds.observe(spent)
    metrics.disagreed()
    disagreements.inc()
    ours = generate_latest(registry)
    rules_part = ours.index(b"# HELP compliance_rules_info")  # the rule-version gauges: a test of their own
    assert _without_times(ours[:rules_part]) == _without_times(generate_latest(reference))
    assert b'compliance_decisions_total{jurisdiction="unknown",outcome="missed",rule="ru-warning"} 1.0' in ours


def test_counts_from_many_threads_add_up_and_a_scrape_meanwhile_sees_whole_responses() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    threads, each = 8, 4000
    start = threading.Barrier(threads + 1)

    def serve() -> None:
        start.wait()
        for i in range(each):
            metrics.observe([("r", "RU", "injected"), ("r2", "RU", "fallback" if i % 2 else "injected")], 3e-6)

    workers = [threading.Thread(target=serve) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    seen = []
    while any(w.is_alive() for w in workers):
        samples = {(s.name, s.labels.get("le")): s.value for family in registry.collect() for s in family.samples}
        count = samples["compliance_middleware_seconds_count", None]
        assert count == samples["compliance_middleware_seconds_bucket", "+Inf"]
        assert count == samples["compliance_middleware_seconds_bucket", "5e-06"]
        seen.append(count)
    for worker in workers:
        worker.join()
    value = registry.get_sample_value
    assert seen == sorted(seen), "a later scrape never shows fewer responses"
    total = threads * each
    assert value("compliance_middleware_seconds_count") == total
    assert value("compliance_middleware_seconds_sum") == pytest.approx(total * 3e-6)
    labels = {"rule": "r", "jurisdiction": "RU", "outcome": "injected"}
    assert value("compliance_decisions_total", labels) == total
    labels = {"rule": "r2", "jurisdiction": "RU", "outcome": "fallback"}
    assert value("compliance_decisions_total", labels) == total / 2


def test_in_multiprocess_mode_the_counts_reach_the_shared_files(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        from compliance.observe.metrics import Metrics
        Metrics(CollectorRegistry()).observe([("r", "RU", "injected")], 0.000004)
        Metrics(CollectorRegistry()).observe([("r", "RU", "injected")], 0.000004)
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
        sys.stdout.write(generate_latest(scrape).decode())
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert 'compliance_decisions_total{jurisdiction="RU",outcome="injected",rule="r"} 2.0' in done.stdout
    assert "compliance_middleware_seconds_count 2.0" in done.stdout


# --- audit volume -------------------------------------------------------------------------------


def test_audit_events_for_responses_where_a_rule_fired_are_always_written() -> None:
    policy = AuditPolicy()
    assert all(policy.wants(True) for _ in range(1000))
    assert not any(policy.wants(False) for _ in range(1000))


def test_audit_events_for_responses_where_no_rule_fired_can_be_sampled() -> None:
    assert all(AuditPolicy(sample_unfired=1.0).wants(False) for _ in range(1000))
    sampled = sum(AuditPolicy(sample_unfired=0.1).wants(False) for _ in range(20000))
    assert 1600 < sampled < 2400


@pytest.mark.parametrize("rate", [-0.1, 1.5, "all", True])
def test_an_audit_sample_rate_outside_zero_to_one_is_refused(rate: object) -> None:
    with pytest.raises(ConfigError):
        AuditPolicy(sample_unfired=rate)  # type: ignore[arg-type]
