"""Rules in words, for `explain` and the report: placements, jurisdictions, the matrix of who gets what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pycountry

from compliance.respond.plan import HTML_TYPES
from compliance.rules.groups import BUILTIN_GROUPS
from compliance.rules.model import ANONYMOUS, EVERYONE, HTML_PLACES, UNKNOWN, Place, Rule, RuleSet

__all__ = [
    "rule_facts",
    "Entry",
    "Row",
    "describe_place",
    "describe_placement",
    "entry_words",
    "jurisdiction_name",
    "matrix",
    "moment_words",
    "placement_applies",
]


# -- placement, in words ---------------------------------------------------------------------


def describe_place(place: Place) -> str:
    arg = place.arg or ""
    return {
        "body-start": "at the top of the page, right after <body>",
        "body-end": "at the end of the page, right before </body>",
        "marker": f"in place of the comment <!-- {arg} --> in the page",
        "before": f"right before the first element matching {arg}",
        "after": f"right after the first element matching {arg}",
        "prepend": f"first thing inside the first element matching {arg}",
        "append": f"last thing inside the first element matching {arg}",
        "header": f"in the response header {arg} (the notice ids)",
        "json": f'in the field "{arg}" of a JSON response',
    }[place.kind]


def describe_placement(placement: Sequence[Place]) -> tuple[str, ...]:
    """Where a notice goes, in order of preference, with the last resort of an HTML page."""
    places = [describe_place(p) for p in placement]
    if placement and placement[0].kind in HTML_PLACES and placement[-1].kind != "body-end":
        places.append(describe_place(Place("body-end")) + " (always the last resort)")
    return tuple(places) or (describe_place(Place("body-end")),)


def placement_applies(placement: Sequence[Place], media_type: str) -> str | None:
    """None where a response of `media_type` can carry this placement, else why not."""
    kind = placement[0].kind if placement else "body-end"
    if kind == "header":
        return None
    if kind == "json":
        if media_type == "application/json" or media_type.endswith("+json"):
            return None
        return f"the response is {media_type}, which has no JSON field to carry it"
    if media_type in HTML_TYPES:
        return None
    return f"the response is {media_type}, which takes no HTML notice"


# -- names -----------------------------------------------------------------------------------


@cache
def _subdivision_names() -> dict[str, str]:
    return {str(sub.code): str(sub.name) for sub in pycountry.subdivisions}


@cache
def jurisdiction_name(code: str) -> str:
    if code == EVERYONE:
        return "Every reader"
    if code == UNKNOWN:
        return "Readers whose country no source knows"
    if code == ANONYMOUS:
        return "Readers using Tor or an anonymizer"
    if code == "XK":
        return "Kosovo"
    if "-" in code:
        country = jurisdiction_name(code.split("-")[0])
        name = _subdivision_names().get(code)
        return f"{name}, {country}" if name else country
    found = pycountry.countries.get(alpha_2=code)
    if found is None:
        return code
    return str(getattr(found, "common_name", None) or found.name)


# -- the matrix ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One rule's part in a cell of the matrix."""

    rule: Rule
    #: Jurisdictions this rule excludes within the row (a country's subdivisions, say).
    except_within: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    code: str
    name: str
    via: tuple[str, ...]
    cells: dict[str, tuple[Entry, ...]]


def _applies(rule: Rule, code: str) -> bool:
    country = code.split("-")[0]
    if code in rule.except_jurisdictions or country in rule.except_jurisdictions:
        return False
    return EVERYONE in rule.jurisdictions or code in rule.jurisdictions or country in rule.jurisdictions


def _sort_key(code: str) -> tuple[int, str, str]:
    if code == EVERYONE:
        return (0, "", "")
    if code in (UNKNOWN, ANONYMOUS):
        return (2, code, "")
    country = code.split("-")[0]
    return (1, jurisdiction_name(country), code)


def _via(ruleset: RuleSet, code: str) -> tuple[str, ...]:
    """The groups that hold `code`: the rule set's own, and the built-in ones its rules name."""
    named = {word[1:] for rule in ruleset.rules for word in rule.jurisdictions_written if word.startswith("@")}
    found = [f"@{name}" for name, members in ruleset.groups.items() if code in members]
    found += [f"@{name}" for name, members in BUILTIN_GROUPS.items() if name in named and code in members]
    return tuple(sorted(found))


def matrix(ruleset: RuleSet) -> list[Row]:
    codes: set[str] = set()
    for rule in ruleset.rules:
        codes |= rule.jurisdictions
    rows = []
    notice_ids = list(ruleset.notices)
    for code in sorted(codes, key=_sort_key):
        cells: dict[str, tuple[Entry, ...]] = {}
        for notice_id in notice_ids:
            entries = []
            for rule in ruleset.rules:
                if rule.notice != notice_id or not _applies(rule, code):
                    continue
                within = tuple(sorted(x for x in rule.except_jurisdictions if x.startswith(code + "-")))
                entries.append(Entry(rule, within))
            cells[notice_id] = tuple(entries)
        rows.append(Row(code, jurisdiction_name(code), _via(ruleset, code), cells))
    return rows


def moment_words(moment: datetime) -> str:
    if moment.hour == moment.minute == moment.second == 0:
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def entry_words(
    entry: Entry,
    code: Callable[[str], str] = str,
    blocked: str = "BLOCKED (451)",
    report_only: str = "REPORT-ONLY: not shown",
) -> list[str]:
    """A rule's part in a cell, as short phrases; `code` marks up paths and hosts."""
    rule = entry.rule
    words = []
    if rule.action == "block":
        words.append(blocked)
    words.append("on " + ", ".join(code(p.source) for p in rule.paths))
    if rule.except_paths:
        words.append("except " + ", ".join(code(p.source) for p in rule.except_paths))
    if rule.hosts:
        words.append("hosts " + ", ".join(code(h) for h in rule.hosts))
    if entry.except_within:
        words.append("not in " + ", ".join(entry.except_within))
    if rule.start:
        words.append(f"from {moment_words(rule.start)}")
    if rule.until:
        words.append(f"until {moment_words(rule.until)}")
    if rule.mode == "report-only":
        words.append(report_only)
    return words


def rule_facts(rule: Rule) -> list[str]:
    """What a rule says of itself beyond who and where: its legal basis, reference and fixed languages."""
    facts = []
    if rule.legal_basis:
        facts.append(f"legal basis: {rule.legal_basis}")
    if rule.reference:
        facts.append(f"reference: {rule.reference}")
    if rule.languages:
        facts.append(f"always in: {', '.join(rule.languages)}")
    return facts
