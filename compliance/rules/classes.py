"""Jurisdiction classes: the readers a shared cache may serve one copy of a page to.

Two readers are in the same class when every enforced rule in force reaches both
or neither of them: the decision core (`Engine`) then gives them the same outcome
on every path, host and method, so one cached copy per class is exact. The
readers partitioned are the kinds an edge can tell apart: each country, each
subdivision a rule names, `unknown` and `anonymous` (Tor as an edge sees it, a
CDN's `T1`: `anonymous` and `tor`, country unknown). The other kinds of anonymity
(`anonymous-vpn`, ...) come from an anonymous-IP database at the origin, which no
edge sees: such readers are in the class of the country the edge places them in.

Rules' `from`/`until` split time into periods; adjacent periods with the same
classes and the same notices are one `ClassMap`, which states when it holds
(`valid_from`, `valid_until`). Class names are derived from what the class gets
(the ids of the rules that reach it), so the same rules give the same names on
every server and after every reload that does not change outcomes; the map's
`version` is derived from the whole map and the content of every rule and notice
in force in it, so any change a cached copy could show changes the version.

Report-only rules never split a class: they change no response. Pure: no I/O,
no ASGI.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from compliance.reader.jurisdiction import Jurisdiction, country_codes
from compliance.rules.decide import Engine, reaches
from compliance.rules.model import ANONYMOUS, UNKNOWN, Rule, RuleSet, notice_of

__all__ = [
    "DEFAULT_CLASS_HEADER",
    "NO_NOTICE_CLASS",
    "ClassMap",
    "ClassTable",
    "EdgeClass",
    "JurisdictionClass",
    "member_jurisdiction",
    "members_of",
]

#: The request header an edge sends the class in, unless configured otherwise.
DEFAULT_CLASS_HEADER: Final = "Compliance-Class"
#: The name of the class no enforced rule reaches (beyond rules that reach everyone).
NO_NOTICE_CLASS: Final = "none"
_CLASS_OF_CACHE_SIZE: Final = 4096


def member_jurisdiction(member: str, source: Any = "edge") -> Jurisdiction:
    """The reader a class-map member stands for: `RU`, `UA-43`, `unknown` or `anonymous`."""
    if member == UNKNOWN:
        return Jurisdiction(None, None, False, source)
    if member == ANONYMOUS:  # what an edge sees: a CDN's `T1`, a Tor exit
        return Jurisdiction(None, None, True, source, kinds=frozenset({"tor"}))
    if "-" in member:
        return Jurisdiction(member.split("-", 1)[0], member, False, source)
    return Jurisdiction(member, None, False, source)


def _named_subdivisions(rules: Iterable[Rule]) -> set[str]:
    return {code for rule in rules for code in (*rule.jurisdictions, *rule.except_jurisdictions) if "-" in code}


def members_of(ruleset: RuleSet) -> tuple[str, ...]:
    """Every reader kind of the partition, in the map's order: countries, subdivisions, unknown, anonymous."""
    return (
        *sorted(country_codes()),
        *sorted(_named_subdivisions(ruleset.rules)),
        UNKNOWN,
        ANONYMOUS,
    )


@dataclass(frozen=True, slots=True)
class JurisdictionClass:
    """One class: its name, the reader kinds in it, and what it gets."""

    name: str
    members: tuple[str, ...]
    #: The ids of the enforced rules in force that reach this class (rules that reach everyone aside).
    rules: tuple[str, ...]
    #: The notices its readers are shown somewhere, and the notices of the block rules that reach it.
    notices: tuple[str, ...]
    blocks: tuple[str, ...]
    #: A reader of the class, for deciding on the class's behalf.
    representative: Jurisdiction


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _class_name(rule_ids: frozenset[str]) -> str:
    if not rule_ids:
        return NO_NOTICE_CLASS
    return "c" + _digest("\n".join(sorted(rule_ids)), 8)


def _content(rule: Rule, ruleset: RuleSet) -> list[Any]:
    """What of a rule and its notice a reader can see (not where it was written, nor its period)."""
    notice = notice_of(ruleset.notices, rule)
    return [
        rule.id,
        rule.notice,
        sorted(rule.jurisdictions),
        sorted(rule.except_jurisdictions),
        [p.source for p in rule.paths],
        [p.source for p in rule.except_paths],
        list(rule.hosts),
        [str(p) for p in rule.placement],
        rule.action,
        rule.priority,
        sorted(notice.text.items()),
        notice.default_language,
        None if notice.link is None else [notice.link.href, sorted(notice.link.text.items())],
        notice.css,
        # A condition on the request changes what a reader sees; left out where there is none, so the
        # versions of rule sets without `when:` stay as they were.
        *(
            []
            if rule.when is None
            else [["when", list(rule.when.accept_language), rule.when.headers, rule.when.cookies]]
        ),
    ]


@dataclass(frozen=True, slots=True)
class ClassMap:
    """The classes in force over one period, and what an edge needs to key its cache on them."""

    version: str
    #: POSIX timestamps; None: since ever / for as long as the rules stay as they are.
    valid_from: float | None
    valid_until: float | None
    classes: Mapping[str, JurisdictionClass]
    #: Every member (country, named subdivision, unknown, anonymous) -> its class name.
    members: Mapping[str, str]
    #: The class of a reader the edge cannot place (the class of `unknown`).
    default: str
    _rules: tuple[Rule, ...] = field(repr=False)
    _universal: frozenset[str] = field(repr=False)
    _by_rules: Mapping[frozenset[str], JurisdictionClass] = field(repr=False)
    #: The exact header values an edge sends (`NAME;v=VERSION`, as bytes) -> the class.
    by_header: Mapping[bytes, JurisdictionClass] = field(repr=False)
    _class_of: dict[Jurisdiction, JurisdictionClass | None] = field(repr=False, default_factory=dict)

    def header_value(self, name: str) -> str:
        """What the edge sends in the class header for the class `name`."""
        return f"{name};v={self.version}"

    def holds_at(self, now: float) -> bool:
        return (self.valid_from is None or now >= self.valid_from) and (
            self.valid_until is None or now < self.valid_until
        )

    def class_of(self, jurisdiction: Jurisdiction) -> JurisdictionClass | None:
        """The class whose readers get what this reader gets, or None where no class does.

        None happens only for a reader an edge cannot see as such: one with a country
        whom an anonymous-IP database flagged, where a rule names `anonymous`.
        """
        try:
            return self._class_of[jurisdiction]
        except KeyError:
            pass
        reached = frozenset(r.id for r in self._rules if r.id not in self._universal and reaches(r, jurisdiction))
        found = self._by_rules.get(reached)
        if len(self._class_of) >= _CLASS_OF_CACHE_SIZE:
            self._class_of.clear()
        self._class_of[jurisdiction] = found
        return found

    def to_json(self, header: str = DEFAULT_CLASS_HEADER) -> dict[str, Any]:
        """The canonical form: what `compliance edge` writes as `classes.json`."""
        return {
            "format": 1,
            "version": self.version,
            "header": header,
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "default": self.default,
            "classes": {
                c.name: {
                    "value": self.header_value(c.name),
                    "members": list(c.members),
                    "rules": list(c.rules),
                    "notices": list(c.notices),
                    "blocks": list(c.blocks),
                }
                for c in sorted(self.classes.values(), key=lambda c: c.name)
            },
            "members": dict(self.members),
        }


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


class ClassTable:
    """Every class map of a rule set, one per period; built once per load (the `Engine`'s)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ruleset = engine.ruleset
        self.member_names = members_of(ruleset)
        readers = [(m, member_jurisdiction(m)) for m in self.member_names]
        boundaries = engine.boundaries
        samples = [boundaries[0] - 1.0] if boundaries else [0.0]
        samples.extend(boundaries)
        maps: list[ClassMap] = []
        for index, sample in enumerate(samples):
            start = None if index == 0 else samples[index]
            until = boundaries[index] if index < len(boundaries) else None
            built = _build(ruleset, engine, readers, sample, start, until)
            if maps and maps[-1].version == built.version:
                previous = maps.pop()
                built = _build(ruleset, engine, readers, sample, previous.valid_from, until)
            maps.append(built)
        self.maps: tuple[ClassMap, ...] = tuple(maps)
        self._starts = [m.valid_from if m.valid_from is not None else float("-inf") for m in maps]
        self._current = maps[0]

    def at(self, now: float) -> ClassMap:
        """The class map in force at `now` (a POSIX timestamp)."""
        current = self._current
        if current.holds_at(now):
            return current
        current = self._current = self.maps[bisect.bisect_right(self._starts, now) - 1]
        return current


def _build(
    ruleset: RuleSet,
    engine: Engine,
    readers: list[tuple[str, Jurisdiction]],
    sample: float,
    valid_from: float | None,
    valid_until: float | None,
) -> ClassMap:
    rules = tuple(r for r in engine.in_force(sample) if r.mode == "enforce")
    reach = {m: frozenset(r.id for r in rules if reaches(r, j)) for m, j in readers}
    universal = frozenset.intersection(*reach.values()) if reach else frozenset()
    groups: dict[frozenset[str], list[str]] = {}
    for member, reached in reach.items():
        groups.setdefault(reached - universal, []).append(member)
    by_id = {r.id: r for r in rules}
    classes: dict[str, JurisdictionClass] = {}
    by_rules: dict[frozenset[str], JurisdictionClass] = {}
    for reached, grouped in groups.items():
        name = _class_name(reached)
        shown = sorted({by_id[i].notice for i in reached | universal if by_id[i].action == "notice"})
        blocks = sorted({by_id[i].notice for i in reached | universal if by_id[i].action == "block"})
        cls = JurisdictionClass(
            name=name,
            members=tuple(grouped),
            rules=tuple(sorted(reached)),
            notices=tuple(shown),
            blocks=tuple(blocks),
            representative=member_jurisdiction(grouped[0]),
        )
        classes[name] = by_rules[reached] = cls
    members = {m: _class_name(reach[m] - universal) for m, _ in readers}
    canonical = json.dumps(
        [sorted(members.items()), sorted(_content(r, ruleset) for r in rules)],
        sort_keys=True,
        ensure_ascii=True,
        default=str,
    )
    version = _digest(canonical, 12)
    by_header = {f"{name};v={version}".encode("ascii"): cls for name, cls in classes.items()}
    return ClassMap(
        version=version,
        valid_from=valid_from,
        valid_until=valid_until,
        classes=classes,
        members=members,
        default=members[UNKNOWN],
        _rules=rules,
        _universal=universal,
        _by_rules=by_rules,
        by_header=by_header,
    )


class EdgeClass:
    """The jurisdiction class an edge keyed its cache on, for one request (see `class_header`)."""

    __slots__ = ("cls", "name", "own", "version")

    def __init__(self, cls: JurisdictionClass, own: JurisdictionClass | None, version: str) -> None:
        self.cls = cls
        self.name = cls.name.encode("ascii")
        #: The class of the middleware's own resolution (None where no class matches it).
        self.own = own
        self.version = version

    @property
    def agreed(self) -> bool:
        return self.own is self.cls

    def audit_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"class": self.cls.name, "class_map": self.version}
        if not self.agreed:
            fields["own_class"] = None if self.own is None else self.own.name
        return fields
