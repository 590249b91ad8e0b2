"""Prometheus metrics, through `prometheus_client` where it is installed (the `metrics` extra).

Without `prometheus_client` every method here does nothing, so the middleware
can call them unconditionally. The metrics:

- `compliance_decisions_total{rule, jurisdiction, outcome}`: a counter, one per
  rule that fired on a response, by its outcome (`injected`, `fallback`,
  `blocked`, `report-only`, `missed`, `not-applicable`).
- `compliance_edge_class_disagreements_total`: a counter of responses where the
  edge's jurisdiction class (`class_header`) differed from the middleware's own
  resolution; the edge's class was used.
- `compliance_middleware_seconds`: a histogram of the middleware's own time per
  response (buckets from 1 µs to 10 ms), the app's time not included.
- `compliance_rules_info{source, version}`, `compliance_rules_loaded_timestamp_seconds{source}`,
  `compliance_rules_reload_error{source}`: read from each watched `RuleSource` when
  Prometheus scrapes, so that every worker's rule version can be seen.

Metrics go to prometheus_client's default registry unless another is given; two
`Metrics` on one registry share its collectors.

No lock on the request path. Each thread that serves requests counts into tallies
of its own (plain ints and floats, which only that thread writes); a scrape adds
up every thread's tallies (copying a dict or a list is one step under the GIL, so
a scrape sees whole increments). The exposition is the one prometheus_client's
own `Counter` and `Histogram` give, `_created` series included. In
prometheus_client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` set) the
counts must reach its shared files, so its own `Counter` and `Histogram` count
them there, with their locks.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from compliance.sources.reload import RuleSource

try:
    import prometheus_client
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.samples import Sample
except ImportError:  # the `metrics` extra is not installed
    prometheus_client = None  # type: ignore[assignment]

__all__ = ["BUCKETS", "DECISIONS", "DISAGREEMENTS", "MIDDLEWARE_SECONDS", "Metrics", "available"]

DECISIONS: Final = "compliance_decisions_total"
MIDDLEWARE_SECONDS: Final = "compliance_middleware_seconds"
DISAGREEMENTS: Final = "compliance_edge_class_disagreements_total"
#: Histogram buckets, in seconds: 1 µs to 10 ms.
BUCKETS: Final = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2)


def available() -> bool:
    """Whether `prometheus_client` is installed."""
    return prometheus_client is not None


_DECISIONS_HELP: Final = "Rules that fired on a response, by rule id, reader's jurisdiction and outcome."
_SECONDS_HELP: Final = "The compliance middleware's own time per response, the app's time not included."
_DISAGREEMENTS_HELP: Final = (
    "Responses where the edge's jurisdiction class differed from the middleware's own resolution "
    "(the edge's class was used)."
)


class _Tally:
    """One thread's counts; only that thread writes them."""

    __slots__ = ("decisions", "buckets", "seconds", "disagreements")

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str, str], int] = {}
        #: Responses by the first bucket they fit (the last: above every bucket).
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.seconds = 0.0
        self.disagreements = 0


class _Tallies:
    """Every thread's tallies, and what a scrape makes of them (the exposition of prometheus_client's own)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[_Tally] = []
        self._register = threading.Lock()  # taken once per thread, when it first counts
        self.created = time.time()
        #: When each label set was first counted (a counter child's `_created`).
        self.first_seen: dict[tuple[str, str, str], float] = {}
        disabled = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() in ("true", "1", "t")
        self._created = not disabled
        #: The buckets' `le` labels, as prometheus_client writes them.
        to_go = prometheus_client.utils.floatToGoString
        self._bounds = tuple(str(to_go(bound)) for bound in (*BUCKETS, float("inf")))  # type: ignore[no-untyped-call]

    def mine(self) -> _Tally:
        try:
            tally: _Tally = self._local.tally
        except AttributeError:
            tally = self._local.tally = _Tally()
            with self._register:
                self._all.append(tally)
        return tally

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        tallies = list(self._all)
        decisions: dict[tuple[str, str, str], int] = {}
        buckets = [0] * (len(BUCKETS) + 1)
        seconds, disagreements = 0.0, 0
        for tally in tallies:
            for key, count in tally.decisions.copy().items():
                decisions[key] = decisions.get(key, 0) + count
            for i, count in enumerate(tally.buckets.copy()):
                buckets[i] += count
            seconds += tally.seconds
            disagreements += tally.disagreements
        created = self._created
        family = CounterMetricFamily(DECISIONS, _DECISIONS_HELP, labels=("rule", "jurisdiction", "outcome"))
        first_seen = self.first_seen
        for key, count in decisions.items():
            family.add_metric(key, float(count), created=first_seen.get(key, self.created) if created else None)
        yield family
        histogram = HistogramMetricFamily(MIDDLEWARE_SECONDS, _SECONDS_HELP)
        running, cumulative = 0, []
        for bound, count in zip(self._bounds, buckets, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        histogram.add_metric((), cumulative, seconds)
        if created:
            histogram.samples.append(Sample(MIDDLEWARE_SECONDS + "_created", {}, self.created, None, None))
        yield histogram
        yield CounterMetricFamily(
            DISAGREEMENTS, _DISAGREEMENTS_HELP, value=float(disagreements), created=self.created if created else None
        )


class _Collectors:
    """The collectors of one registry, shared by every `Metrics` that uses it."""

    def __init__(self, registry: Any) -> None:
        assert prometheus_client is not None
        self.rules = _RulesCollector()
        #: Lock-free per-thread tallies; None in multiprocess mode, where prometheus_client's own count.
        self.tallies: _Tallies | None = None
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self.tallies = _Tallies()
            registry.register(self.tallies)
            registry.register(self.rules)
            return
        self.decisions = prometheus_client.Counter(
            DECISIONS,
            "Rules that fired on a response, by rule id, reader's jurisdiction and outcome.",
            ("rule", "jurisdiction", "outcome"),
            registry=registry,
        )
        self.seconds = prometheus_client.Histogram(
            MIDDLEWARE_SECONDS,
            "The compliance middleware's own time per response, the app's time not included.",
            buckets=BUCKETS,
            registry=registry,
        )
        self.disagreements = prometheus_client.Counter(
            DISAGREEMENTS,
            "Responses where the edge's jurisdiction class differed from the middleware's own resolution "
            "(the edge's class was used).",
            registry=registry,
        )
        self.children: dict[tuple[str, str, str], Any] = {}
        registry.register(self.rules)


class _RulesCollector:
    """The version of the rules in force in each watched RuleSource, read at scrape time."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[RuleSource] = weakref.WeakSet()

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "compliance_rules_info", "The rule set in force: its version (SHA-256).", labels=("source", "version")
        )
        loaded = GaugeMetricFamily(
            "compliance_rules_loaded_timestamp_seconds",
            "When the rule set in force was put in force.",
            labels=("source",),
        )
        failing = GaugeMetricFamily(
            "compliance_rules_reload_error",
            "1 while the latest change to the rules is refused or their server cannot be reached.",
            labels=("source",),
        )
        # One series per rule location: sources over the same rules with different options
        # (another reload interval) would otherwise repeat it; the latest loaded is reported.
        latest: dict[str, RuleSource] = {}
        for source in list(self.sources):
            where = source._origin.display
            if where not in latest or source.loaded_at > latest[where].loaded_at:
                latest[where] = source
        for where, source in latest.items():
            info.add_metric((where, source.version), 1.0)
            loaded.add_metric((where,), source.loaded_at)
            failing.add_metric((where,), 0.0 if source.last_error is None else 1.0)
        yield from (info, loaded, failing)


_LOCK: Final = threading.Lock()
_BY_REGISTRY: weakref.WeakKeyDictionary[Any, _Collectors] = weakref.WeakKeyDictionary()


class Metrics:
    """Counts decisions and times the middleware.

    `registry` is a `prometheus_client.CollectorRegistry` (default: the global
    one). `enabled=False`, or no `prometheus_client`, makes every method a no-op.
    """

    def __init__(self, registry: Any = None, *, enabled: bool = True) -> None:
        self.enabled = enabled and prometheus_client is not None
        self._collectors: _Collectors | None = None
        self._tallies: _Tallies | None = None
        if not self.enabled:
            return
        assert prometheus_client is not None
        registry = prometheus_client.REGISTRY if registry is None else registry
        with _LOCK:
            collectors = _BY_REGISTRY.get(registry)
            if collectors is None:
                collectors = _BY_REGISTRY[registry] = _Collectors(registry)
        self._collectors = collectors
        self._tallies = collectors.tallies

    def observe(self, rules: Iterable[tuple[str, str, str]], seconds: float) -> None:
        """One response: each (rule id, jurisdiction code, outcome) that fired on it, and the middleware's time."""
        tallies = self._tallies
        if tallies is not None:
            tally = tallies.mine()
            counts = tally.decisions
            for key in rules:
                count = counts.get(key)
                if count is None:
                    tallies.first_seen.setdefault(key, time.time())
                    count = 0
                counts[key] = count + 1
            tally.buckets[bisect_left(BUCKETS, seconds)] += 1
            tally.seconds += seconds
            return
        if self._collectors is None:
            return
        children = self._collectors.children
        for key in rules:
            child = children.get(key)
            if child is None:
                child = children[key] = self._collectors.decisions.labels(*key)
            child.inc()
        self._collectors.seconds.observe(seconds)

    def disagreed(self) -> None:
        """One response where the edge's class and the middleware's own resolution differed."""
        if self._tallies is not None:
            self._tallies.mine().disagreements += 1
        elif self._collectors is not None:
            self._collectors.disagreements.inc()

    def watch_rules(self, source: RuleSource) -> None:
        """Expose `source`'s rule version, load time and reload error (held by a weak reference)."""
        if self._collectors is not None:
            self._collectors.rules.sources.add(source)
