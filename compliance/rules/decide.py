"""The decision: which rules fire for a reader on a page, and why the others do not.

Pure: a rule set, a jurisdiction, a host, a path and a time in; a `Decision` out.
No ASGI and no I/O, so the middleware and the `compliance` command share it, and
what an auditor tests is what serves traffic.

`Engine` compiles a `RuleSet` once per load: a `CoverIndex` of hosts and path
patterns (`index.py`) finds the rules that cover a page without a scan of every
rule, and sets of rules are bitsets (Python integers) numbered in the order
notices go (higher priority first, then rule id). Time is cut at every moment a
rule starts or ends or a group member joins or leaves; within one such span the
rules in force and, per jurisdiction, the rules that reach it are bitsets worked
out once (`_Span`). A decision is then a few integer operations and a walk over
the rules that fire, and it is kept per set of covering rules (`_Cover`) and
reader's codes: a page seen for the first time whose covering rules another page
already had costs the index walk and two dict lookups. Decisions equal in content
are one object, so what is worked out per decision downstream (a response's plan)
is shared between pages. The caches are bounded in entries, and the paths in them
in length, so in bytes.
Paths are normalised first (`normalise_path`), so no spelling of a URL escapes a
rule; the host `ANY_HOST` (a Host that cannot be read) is covered by every host
pattern.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules.index import CoverIndex, bits_of
from compliance.rules.model import (
    EVERYONE,
    UNIDENTIFIED,
    UNKNOWN,
    Notice,
    Rule,
    RuleSet,
    notice_of,
    place_family,
    quick_constructor,
)
from compliance.rules.paths import host_matches, normalise_path
from compliance.rules.spans import SPARED as _SPARED
from compliance.rules.spans import Cover as _Cover
from compliance.rules.spans import Span as _Span
from compliance.rules.when import RequestFacts, holds, words

__all__ = ["Decision", "Engine", "Firing", "Skip", "SkipCode", "reaches"]

SkipCode = Literal[
    "host", "path", "excluded-path", "jurisdiction", "excluded-jurisdiction", "not-yet", "ended", "policy", "condition"
]

_CACHE_SIZE: Final = 8192
#: Distinct sets of covering rules kept, and decisions kept over all of them (one per set and reader).
_COVERS_KEPT: Final = 4096
_DECISIONS_KEPT: Final = 65536
#: Longest path (after normalisation) whose coverage and decisions are cached: the caches'
#: bytes stay bounded whatever paths readers send; a longer path is matched each time.
_MAX_CACHED_PATH: Final = 1024
_FOREVER: Final = float("inf")
#: Spans of time whose bitsets are kept.
_SPANS_KEPT: Final = 8


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fires, with the notice it brings."""

    rule: Rule
    notice: Notice

    @property
    def enforced(self) -> bool:
        return self.rule.mode == "enforce"


@dataclass(frozen=True, slots=True)
class Skip:
    """A rule that does not fire, and why (for `compliance explain`)."""

    rule: Rule
    code: SkipCode
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    #: Notices due, enforced and report-only, in the order they go where they share
    #: a place: higher priority first, then rule id. A notice two rules bring is listed
    #: once, with the higher-priority rule.
    fired: tuple[Firing, ...] = ()
    #: The enforced block rule that wins, if any (a block wins over every notice).
    block: Firing | None = None
    #: True when some rule covers this host, path and time for some jurisdiction other
    #: than "*": the response then depends on where the reader is, and must not be
    #: shared between jurisdictions by a cache.
    dependent: bool = False
    #: True when any rule covers this host, path and time at all.
    covered: bool = False
    #: Every rule that does not fire, with the reason; filled only by `Engine.explain`.
    skipped: tuple[Skip, ...] = ()
    #: The request headers the response varies by, where a rule with `when:` covers this page and
    #: reaches this reader (its condition is checked per request by `Engine.narrow`); else empty.
    vary: tuple[str, ...] = ()
    #: True once `Engine.narrow` has kept, of the rules with `when:`, only those whose condition holds.
    narrowed: bool = False

    @property
    def enforced(self) -> tuple[Firing, ...]:
        return tuple(f for f in self.fired if f.rule.mode == "enforce")

    @property
    def report_only(self) -> tuple[Firing, ...]:
        return tuple(f for f in self.fired if f.rule.mode == "report-only")


NOTHING: Final = Decision()


def _place_family(rule: Rule) -> str:
    """The kind of response a rule's notice goes into: `html` (any HTML place), `json`, `header` or `feed`;
    a remove or replace rule acts on its own elements."""
    if rule.action in ("remove", "replace"):
        return f"element:{rule.id}"  # each acts on its own elements, whatever notice it names
    return place_family(rule.placement)


def _timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _fmt(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("T00:00:00+00:00").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    notice: Notice
    start: float | None
    until: float | None
    dependent: bool
    #: For a rule with dated group members: the moments its members change, and the rule as it
    #: stands from each (the first from the beginning of time), each made the first time it is
    #: asked for (a load needs none: a span reads the codes, `codes_at`).
    changes: tuple[float, ...] = ()
    versions: list[Rule | None] | None = None

    def at(self, now: float) -> Rule:
        versions = self.versions
        if versions is None:
            return self.rule
        at = bisect_right(self.changes, now)
        version = versions[at]
        if version is None:
            version = versions[at] = self.rule.at(_samples(self.changes)[at])
        return version

    def codes_at(self, now: float) -> tuple[frozenset[str], frozenset[str]]:
        """The rule's jurisdictions and exceptions as they stand at `now`."""
        rule = self.rule
        if self.versions is None:
            return rule.jurisdictions, rule.except_jurisdictions
        return rule.codes_at(now)

    def in_time(self, now: float) -> bool:
        return (self.start is None or now >= self.start) and (self.until is None or now < self.until)


#: `_Compiled(...)` and `Firing(...)`, made as fast as a plain class's (a load makes one of each per rule).
_new_compiled: Final = quick_constructor(_Compiled)
_new_firing: Final = quick_constructor(Firing)


class Engine:
    """A rule set compiled for deciding. Build one per load; it is safe to share."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        # Rules that name the same dated members share them (`DatedCodes`): their changes are worked out once.
        changes: dict[int, tuple[float, ...]] = {}
        compiled: list[_Compiled] = []
        for rule in ruleset.rules:
            dated = rule.dated
            if dated:
                moments = changes.get(id(dated))
                if moments is None:
                    moments = changes[id(dated)] = _changes(rule)
                versions: list[Rule | None] | None = [None] * (len(moments) + 1) if moments else None
            else:
                moments, versions = (), None
            compiled.append(
                _new_compiled(
                    rule=rule,
                    notice=notice_of(ruleset.notices, rule),
                    start=_timestamp(rule.start),
                    until=_timestamp(rule.until),
                    dependent=EVERYONE not in rule.jurisdictions or bool(rule.except_jurisdictions or dated),
                    changes=moments,
                    versions=versions,
                )
            )
        self._rules = tuple(compiled)
        self._uses_hosts = any(rule.hosts for rule in ruleset.rules)
        # Moments at which a decision may change: a rule starts or ends, a group member joins or leaves.
        self._boundaries = sorted(
            {t for c in self._rules for t in (c.start, c.until) if t is not None}
            | {t for moments in changes.values() for t in moments}
        )
        # Bit n is the n-th rule in the order notices go; `_order` maps bits back to rule-set order.
        order = sorted(
            range(len(self._rules)), key=lambda i: (-self._rules[i].rule.priority, self._rules[i].rule.id, i)
        )
        self._by_bit = tuple(self._rules[i] for i in order)
        self._position = tuple(sorted(range(len(order)), key=order.__getitem__))
        self._index = CoverIndex([c.rule for c in self._by_bit])
        self._dependent = sum(1 << bit for bit, c in enumerate(self._by_bit) if c.dependent)
        # Enforced blocks, and the rules (not enforced blocks) of each notice that more than one brings.
        self._blocking = sum(1 << bit for bit, c in enumerate(self._by_bit) if _blocks(c.rule))
        # Rules with `when:` (notice rules only): each fires on its own in the cached decision, and
        # `narrow` keeps those whose condition holds for the request.
        self._conditional = sum(1 << bit for bit, c in enumerate(self._by_bit) if c.rule.when is not None)
        self._narrowed: dict[tuple[int, int], tuple[Decision, Decision]] = {}
        # A notice shows once per kind of place: an HTML page's rule and a JSON response's rule for
        # one notice both fire (a response is one or the other); two HTML rules give one notice.
        # bit -> the notice and kind of place its rule brings (numbered); None where it fires alone.
        families: dict[tuple[str, str], int] = {}
        self._family = tuple(
            None
            if _blocks(c.rule) or c.rule.when is not None
            else families.setdefault((c.notice.id, _place_family(c.rule)), len(families))
            for c in self._by_bit
        )
        new_firing = _new_firing
        self._firings = tuple(new_firing(c.rule, c.notice) for c in self._by_bit)
        self._spans: dict[int, _Span] = {}
        #: host and path -> the rules covering them; the rules covering a page -> their `_Cover`.
        self._paths: dict[str | tuple[str, str], _Cover[Decision]] = {}
        self._covers: dict[int, _Cover[Decision]] = {}
        self._kept = 0
        #: Decisions by content (the bits that fire, the block, dependence, conditions): one object each.
        self._decided: dict[tuple[tuple[int, ...], int, bool, int], Decision] = {}
        # The present span is worked out with the load (15-20 ms at 10,000 rules), not by the first
        # request after a start or a reload.
        self._span(time.time())

    @property
    def uses_hosts(self) -> bool:
        return self._uses_hosts

    @property
    def boundaries(self) -> tuple[float, ...]:
        """Every moment (POSIX timestamp) at which some rule starts or ends, or a member joins or leaves a group."""
        return tuple(self._boundaries)

    def in_force(self, now: float) -> tuple[Rule, ...]:
        """The rules whose `from`/`until` include `now`, in rule-set order (paths and hosts aside), with
        their groups' members as they stand at `now`."""
        return tuple(c.at(now) for c in self._rules if c.in_time(now))

    # -- coverage (host and path only) -------------------------------------------------

    def _covering(self, host: str, path: str) -> int:
        """The rules (as bits) whose hosts and paths cover this host and normalised path."""
        return self._cover(host, path).bits

    def _cover(self, host: str, path: str) -> _Cover[Decision]:
        """The rules whose hosts and paths cover this host and normalised path, with their decisions."""
        # A plain string key hashes once (str caches its hash); a tuple would hash on every request.
        key: str | tuple[str, str] = (host, path) if self._uses_hosts else path
        cover = self._paths.get(key)
        if cover is None:
            found = self._index.covering(host, path)
            cover = self._covers.get(found)
            if cover is None:
                if len(self._covers) >= _COVERS_KEPT:
                    self._forget()
                cover = self._covers[found] = _Cover(found)
            if len(path) > _MAX_CACHED_PATH:
                return cover
            if len(self._paths) >= _CACHE_SIZE:
                self._paths.clear()
            self._paths[key] = cover
        return cover

    def _forget(self) -> None:
        """Let go of every kept cover and decision (their number reached its bound)."""
        self._paths.clear()
        self._covers.clear()
        self._decided.clear()
        self._kept = 0

    def _covering_rules(self, host: str, path: str) -> tuple[_Compiled, ...]:
        """The rules whose paths and hosts cover this page, in rule-set order."""
        bits = self._covering(host, normalise_path(path))
        return tuple(self._rules[i] for i in sorted(self._position[bit] for bit in bits_of(bits)))

    def covers(self, host: str, path: str) -> bool:
        """True when some rule's paths and hosts cover this page (at any time)."""
        return bool(self._covering(host, normalise_path(path)))

    # -- the decision ------------------------------------------------------------------

    def decide(self, jurisdiction: Jurisdiction, host: str, path: str, now: float | None = None) -> Decision:
        """The rules that fire for this reader on this page at `now` (a POSIX timestamp; default: now)."""
        cover = self._cover(host, normalise_path(path))
        if not cover.bits:
            return NOTHING
        if now is None:
            now = time.time()
        # The decision depends on the reader only through the codes a rule can name.
        codes = jurisdiction.codes
        cached = cover.decisions.get(codes)
        if cached is not None and cached[1] <= now < cached[2]:
            return cached[0]
        decision = self._decide(cover.bits, jurisdiction, now)
        valid_from, valid_until = self._window(now)
        if self._kept >= _DECISIONS_KEPT:
            self._forget()
        else:
            self._kept += 1
            cover.decisions[codes] = (decision, valid_from, valid_until)
        return decision

    def explain(
        self,
        jurisdiction: Jurisdiction,
        host: str,
        path: str,
        now: float,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> Decision:
        """Like `decide` then `narrow` for a request with these `headers`, with the reason why each rule
        of the set does not fire."""
        skipped: list[Skip] = []
        path = normalise_path(path)
        for c in self._rules:
            skip = _why_not(c, jurisdiction, host, path, now)
            if skip is not None:
                skipped.append(skip)
        decision = self._decide(self._covering(host, path), jurisdiction, now)
        request = RequestFacts(headers)
        skipped.extend(
            Skip(f.rule, "condition", f"{words(f.rule.when)}, and this request does not")
            for f in decision.fired
            if f.rule.when is not None and not holds(f.rule.when, request)
        )
        decision = self.narrow(decision, headers)
        return Decision(
            decision.fired,
            decision.block,
            decision.dependent,
            decision.covered,
            tuple(skipped),
            decision.vary,
            decision.narrowed,
        )

    def narrow(self, decision: Decision, headers: Iterable[tuple[bytes, bytes]]) -> Decision:
        """The decision for this request: of the rules with `when:`, those whose condition holds.

        Only a decision with `vary` has such rules; any other comes back as it is. A notice that
        several rules bring goes once, with the first rule that still fires. The result is kept per
        decision and set of conditions that held, so a page's plan is worked out once per variant.
        """
        if not decision.vary or decision.narrowed:
            return decision
        request = RequestFacts(headers)
        held = 0
        for position, firing in enumerate(decision.fired):
            if firing.rule.when is not None and holds(firing.rule.when, request):
                held |= 1 << position
        key = (id(decision), held)
        kept = self._narrowed.get(key)
        if kept is not None and kept[0] is decision:
            return kept[1]
        fired: list[Firing] = []
        seen: set[tuple[str, str]] = set()
        for position, firing in enumerate(decision.fired):
            if firing.rule.when is not None and not held >> position & 1:
                continue
            family = (firing.notice.id, _place_family(firing.rule))
            if family not in seen:
                seen.add(family)
                fired.append(firing)
        narrowed = Decision(
            tuple(fired),
            decision.block,
            decision.dependent,
            decision.covered,
            decision.skipped,
            decision.vary,
            narrowed=True,
        )
        if len(self._narrowed) >= _CACHE_SIZE:
            self._narrowed.clear()
        self._narrowed[key] = (decision, narrowed)
        return narrowed

    def _window(self, now: float) -> tuple[float, float]:
        """The span around `now` in which no rule starts or ends."""
        at = bisect_right(self._boundaries, now)
        before = self._boundaries[at - 1] if at else -_FOREVER
        after = self._boundaries[at] if at < len(self._boundaries) else _FOREVER
        return before, after

    def _span(self, now: float) -> _Span:
        at = bisect_right(self._boundaries, now)
        span = self._spans.get(at)
        if span is None:
            if len(self._spans) >= _SPANS_KEPT:
                self._spans.clear()
            span = self._spans[at] = _Span(self._by_bit, now)
        return span

    def _decide(self, candidates: int, jurisdiction: Jurisdiction, now: float) -> Decision:
        span = self._span(now)
        live = candidates & span.in_time
        if not live:
            return NOTHING
        reach = live & span.reaching(jurisdiction)
        blocking = reach & self._blocking
        block = (blocking & -blocking).bit_length() - 1 if blocking else -1
        # Lowest bit first is the order notices go; a notice fires once, with its first rule.
        fired: list[int] = []
        seen: set[int] = set()
        family = self._family
        for bit in bits_of(reach ^ blocking):
            kind = family[bit]
            if kind is not None:
                if kind in seen:
                    continue
                seen.add(kind)
            fired.append(bit)
        conditional = reach & self._conditional
        key = (tuple(fired), block, bool(live & self._dependent), conditional)
        decision = self._decided.get(key)
        if decision is None:
            if len(self._decided) >= _DECISIONS_KEPT:
                self._decided.clear()
            firings = self._firings
            decision = self._decided[key] = Decision(
                fired=tuple(firings[bit] for bit in fired),
                block=None if block < 0 else firings[block],
                dependent=key[2],
                covered=True,
                vary=self._vary(conditional) if conditional else (),
            )
        return decision

    def _vary(self, conditional: int) -> tuple[str, ...]:
        """The request headers the rules `conditional` (bits) read, each once, in the order notices go."""
        names: dict[str, str] = {}
        for bit in bits_of(conditional):
            when = self._by_bit[bit].rule.when
            for name in () if when is None else when.vary:
                names.setdefault(name.lower(), name)
        return tuple(names.values())


def _changes(rule: Rule) -> tuple[float, ...]:
    """The moments (POSIX timestamps, in order) at which a member of a group the rule names joins or leaves."""
    return tuple(sorted({m.timestamp() for d in rule.dated for m in (d.start, d.until) if m is not None}))


def _samples(changes: tuple[float, ...]) -> tuple[float, ...]:
    """A moment in each span between `changes`: before the first, then each change itself."""
    return (changes[0] - 1.0, *changes) if changes else ()


def _blocks(rule: Rule) -> bool:
    return rule.action == "block" and rule.mode == "enforce"


def _host_ok(rule: Rule, host: str) -> bool:
    return not rule.hosts or host_matches(rule.hosts, host)


def _path_ok(rule: Rule, path: str) -> bool:
    return any(p.matches(path) for p in rule.paths) and not any(p.matches(path) for p in rule.except_paths)


def reaches(rule: Rule, jurisdiction: Jurisdiction) -> bool:
    """Whether `rule`'s jurisdictions (less its exceptions) include this reader: the decision's own test."""
    return _jurisdiction_ok(rule, jurisdiction.codes)


def _jurisdiction_ok(rule: Rule, codes: frozenset[str]) -> bool:
    if rule.except_jurisdictions & codes:
        return False
    if rule.spares_unidentified and codes & _SPARED:
        return bool(rule.jurisdictions & codes & UNIDENTIFIED)
    return EVERYONE in rule.jurisdictions or bool(rule.jurisdictions & codes)


def _period(start: datetime | None, until: datetime | None) -> str:
    if start is not None and until is not None:
        return f"from {_fmt(start)} until {_fmt(until)}"
    return f"from {_fmt(start)}" if start is not None else f"until {_fmt(until)}" if until is not None else "always"


def _why_not(c: _Compiled, jurisdiction: Jurisdiction, host: str, path: str, now: float) -> Skip | None:
    rule = c.rule
    if not _host_ok(rule, host):
        return Skip(rule, "host", f"host {host or '(none)'} not in [{', '.join(rule.hosts)}]")
    if not any(p.matches(path) for p in rule.paths):
        return Skip(rule, "path", f"path {path} not in [{', '.join(map(str, rule.paths))}]")
    excluded = next((p for p in rule.except_paths if p.matches(path)), None)
    if excluded is not None:
        return Skip(rule, "excluded-path", f"path {path} excluded by {excluded}")
    if c.start is not None and now < c.start and rule.start is not None:
        return Skip(rule, "not-yet", f"starts {_fmt(rule.start)}")
    if c.until is not None and now >= c.until and rule.until is not None:
        return Skip(rule, "ended", f"ended {_fmt(rule.until)}")
    rule = c.at(now)
    codes = jurisdiction.codes
    where = ", ".join(sorted(codes))
    hit = rule.except_jurisdictions & codes
    if hit:
        written = ", ".join(rule.except_jurisdictions_written) or ", ".join(sorted(rule.except_jurisdictions))
        return Skip(rule, "excluded-jurisdiction", f"jurisdiction {where} excluded by [{written}]")
    if rule.spares_unidentified and codes & _SPARED and not rule.jurisdictions & codes & UNIDENTIFIED:
        who = "unknown" if UNKNOWN in codes else "anonymous"
        return Skip(
            rule,
            "policy",
            f"the rule set's policy spares {who} readers from blocks that do not name them "
            f"(name {', '.join(sorted(codes & UNIDENTIFIED))} to block them)",
        )
    if not (EVERYONE in rule.jurisdictions or rule.jurisdictions & codes):
        written = ", ".join(rule.jurisdictions_written) or ", ".join(sorted(rule.jurisdictions))
        dated = "".join(
            f"; {d.code} belongs to it {_period(d.start, d.until)} only" for d in c.rule.dated if d.code in codes
        )
        return Skip(rule, "jurisdiction", f"jurisdiction {where} not in [{written}]{dated}")
    return None
