"""The report's matrix: what readers get, one row per class of readers, sized to fit a page.

Readers (each country, each subdivision a rule names, `unknown`, `anonymous`) who
are reached by the same rules, whatever the date, share a row. What every reader
gets (rules for `"*"` without exceptions) is listed once, above the rows, not in
each of them. Each rule's part in a cell says whether it blocks (451) or where
the notice goes (every place, in order of preference), on which pages and hosts,
when, and whether it has ended or not yet started at the report's moment.

`matrix_html` and `matrix_markdown` say the same, as do `classes_html` and
`classes_markdown` for the jurisdiction classes an edge cache keys on (the classes
in force at the report's moment and those the rules' dates bring later); `in_force` and `rule_status`
are shared with the map and the notice cards.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from compliance.cli.words import describe_placement, jurisdiction_name, moment_words
from compliance.rules.classes import (
    NO_NOTICE_CLASS,
    ClassMap,
    ClassTable,
    JurisdictionClass,
    member_jurisdiction,
    members_of,
)
from compliance.rules.decide import Engine, reaches
from compliance.rules.model import ANONYMOUS, UNKNOWN, Rule, RuleSet
from compliance.rules.when import words as condition_words

__all__ = [
    "ClassRow",
    "class_rows",
    "classes_html",
    "classes_markdown",
    "everyone_rules",
    "in_force",
    "matrix_html",
    "matrix_markdown",
    "rule_status",
]

_MEMBERS_SHOWN = 12


@dataclass(frozen=True, slots=True)
class ClassRow:
    """Readers reached by the same rules; `rules` is empty for those who get only what every reader gets."""

    members: tuple[str, ...]
    rules: tuple[Rule, ...]


def in_force(rule: Rule, now: datetime) -> bool:
    return (rule.start is None or rule.start <= now) and (rule.until is None or now < rule.until)


def rule_status(rule: Rule, now: datetime) -> str | None:
    """ "ended 2024-01-01" or "not yet in force: starts 2027-01-01" at `now`, or None for a rule in force."""
    if rule.until is not None and rule.until <= now:
        return f"ended {moment_words(rule.until)}"
    if rule.start is not None and now < rule.start:
        return f"not yet in force: starts {moment_words(rule.start)}"
    return None


def everyone_rules(ruleset: RuleSet) -> tuple[Rule, ...]:
    """The rules that reach every reader kind: shown once, not in every row."""
    members = [member_jurisdiction(m) for m in members_of(ruleset)]
    return tuple(r for r in ruleset.rules if all(reaches(r, j) for j in members))


def class_rows(ruleset: RuleSet) -> list[ClassRow]:
    """Every reader kind, grouped by the rules (bar those for everyone) that reach it; the rest last."""
    universal = {r.id for r in everyone_rules(ruleset)}
    rules = [r for r in ruleset.rules if r.id not in universal]
    grouped: dict[tuple[str, ...], list[str]] = {}
    for member in members_of(ruleset):
        reader = member_jurisdiction(member)
        key = tuple(r.id for r in rules if reaches(r, reader))
        grouped.setdefault(key, []).append(member)
    by_id = {r.id: r for r in rules}
    rows = [ClassRow(_ordered(members), tuple(by_id[i] for i in key)) for key, members in grouped.items()]
    return sorted(rows, key=lambda row: (not row.rules, _order_key(row.members[0])))


def _ordered(members: list[str]) -> tuple[str, ...]:
    return tuple(sorted(members, key=_order_key))


def _order_key(member: str) -> tuple[int, str, str]:
    if member in (UNKNOWN, ANONYMOUS):
        return (1, member, "")
    return (0, jurisdiction_name(member.split("-")[0]), member)


def members_words(members: tuple[str, ...], *, limit: int = _MEMBERS_SHOWN) -> str:
    shown = [m if m in (UNKNOWN, ANONYMOUS) else f"{m} ({jurisdiction_name(m)})" for m in members[:limit]]
    more = len(members) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def row_words(ruleset: RuleSet, row: ClassRow) -> str:
    """The row's readers, and the rule set's groups that hold them."""
    groups = sorted(f"@{name}" for name, members in ruleset.groups.items() if members & set(row.members))
    return members_words(row.members) + (f" (via {', '.join(groups)})" if groups else "")


def entry_words(rule: Rule, now: datetime, code: Callable[[str], str] = str) -> list[str]:
    """A rule's part in a cell, as short phrases; `code` marks up paths, hosts and places."""
    words = []
    if rule.action == "block":
        words.append("BLOCKED: the page is answered with 451 Unavailable For Legal Reasons, carrying the notice")
    else:
        places = describe_placement(rule.placement, rule.fallback, rule.match, rule.action)
        words.append(("" if rule.action in ("remove", "replace") else "goes ") + ", else ".join(places))
    words.append("on " + ", ".join(code(p.source) for p in rule.paths))
    if rule.except_paths:
        words.append("except " + ", ".join(code(p.source) for p in rule.except_paths))
    if rule.hosts:
        words.append("only on the hosts " + ", ".join(code(h) for h in rule.hosts))
    if rule.start:
        words.append(f"from {moment_words(rule.start)}")
    if rule.until:
        words.append(f"until {moment_words(rule.until)}")
    if rule.when is not None:
        words.append(condition_words(rule.when))
    status = rule_status(rule, now)
    if status:
        words.append(status)
    if rule.mode == "report-only":
        words.append("REPORT-ONLY: decided and audited, not shown")
    return words


def _notice_columns(ruleset: RuleSet, rows: list[ClassRow]) -> list[str]:
    used = {r.notice for row in rows for r in row.rules}
    return [n for n in ruleset.notices if n in used] + ([""] if "" in used else [])  # "": rules that remove only


def _title(ruleset: RuleSet, notice_id: str) -> str:
    return ruleset.notices[notice_id].title if notice_id else "Elements removed (no notice)"


def _notice_head(ruleset: RuleSet, notice_id: str) -> str:
    title = _e(_title(ruleset, notice_id))
    return f'<a href="#notice-{_e(notice_id)}">{title}</a>' if notice_id else title


# -- HTML ------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell_html(rules: list[Rule], now: datetime) -> str:
    if not rules:
        return '<td class="none">not shown</td>'
    items = []
    for rule in rules:
        status = rule_status(rule, now)
        words = [_e(w) for w in entry_words(rule, now) if w != status]  # the tag below says it
        marks = ""
        if rule.action == "block":
            marks += '<span class="tag block">451</span> '
        if status:
            marks += f'<span class="tag off">{_e(status)}</span> '
        items.append(f'{marks}{"; ".join(words)}<br><span class="muted">rule <code>{_e(rule.id)}</code></span>')
    cls = ' class="off"' if all(rule_status(r, now) for r in rules) else ""
    return f"<td{cls}>" + "<hr>".join(items) + "</td>"


def matrix_html(ruleset: RuleSet, now: datetime) -> str:
    out = []
    universal = everyone_rules(ruleset)
    if universal:
        out.append("<h3>Every reader</h3>")
        out.append("<table><thead><tr><th>Notice</th><th>What readers get</th></tr></thead><tbody>")
        for rule in universal:
            out.append(f"<tr><th>{_notice_head(ruleset, rule.notice)}</th>{_cell_html([rule], now)}</tr>")
        out.append("</tbody></table>")
    rows = class_rows(ruleset)
    columns = _notice_columns(ruleset, rows)
    if columns:
        out.append("<h3>By readers</h3>" if universal else "")
        head = "".join(f"<th>{_notice_head(ruleset, n)}</th>" for n in columns)
        out.append(f'<table class="matrix"><thead><tr><th>Readers</th>{head}</tr></thead><tbody>')
        for row in rows:
            if not row.rules:
                label = f"Every other reader ({len(row.members)} kinds)"
                if universal:
                    label += ": only what every reader gets"
                out.append(f'<tr><th>{_e(label)}</th><td class="none" colspan="{len(columns)}">no notice</td></tr>')
                continue
            cells = "".join(_cell_html([r for r in row.rules if r.notice == n], now) for n in columns)
            out.append(f"<tr><th>{_e(row_words(ruleset, row))}</th>{cells}</tr>")
        out.append("</tbody></table>")
    return "\n".join(part for part in out if part)


# -- jurisdiction classes --------------------------------------------------------------------


def _class_maps(ruleset: RuleSet, now: datetime) -> list[ClassMap]:
    """The class map in force now, then those the rules' dates bring later."""
    table = ClassTable(Engine(ruleset))
    return [m for m in table.maps if m.valid_until is None or m.valid_until > now.timestamp()]


def _class_period(class_map: ClassMap) -> str:
    start = "" if class_map.valid_from is None else f"from {moment_words(_utc(class_map.valid_from))} "
    end = (
        "until the rules change"
        if class_map.valid_until is None
        else f"until {moment_words(_utc(class_map.valid_until))}"
    )
    return start + end


def _utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _class_gets(ruleset: RuleSet, cls: JurisdictionClass) -> str:
    gets = [f"blocked (451) by {ruleset.notices[n].title}" for n in cls.blocks]
    gets += [ruleset.notices[n].title for n in cls.notices if n not in cls.blocks]
    return "; ".join(gets) or "no notice of its own"


def _class_members(cls: JurisdictionClass, default: str) -> str:
    special = ("unknown", "anonymous")
    members = [m for m in special if m in cls.members] + [m for m in cls.members if m not in special]
    shown = [m if m in special else f"{m} ({jurisdiction_name(m)})" for m in members[:12]]
    more = len(cls.members) - len(shown)
    text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return text + (" (and every reader the edge cannot place)" if cls.name == default else "")


def classes_html(ruleset: RuleSet, now: datetime) -> str:
    out = []
    for class_map in _class_maps(ruleset, now):
        rows = "".join(
            f"<tr><th><code>{_e(c.name)}</code></th><td>{_e(_class_members(c, class_map.default))}</td>"
            f"<td>{_e(_class_gets(ruleset, c))}</td></tr>"
            for c in sorted(class_map.classes.values(), key=lambda c: (c.name == NO_NOTICE_CLASS, c.name))
        )
        out.append(
            f"<p>Class map <code>{_e(class_map.version)}</code>, {_e(_class_period(class_map))}: a shared cache "
            f"keyed on the class keeps at most {len(class_map.classes)} "
            f"{'copy' if len(class_map.classes) == 1 else 'copies'} of each page.</p>"
            f"<table><thead><tr><th>Class</th><th>Readers</th><th>What they get</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return "\n".join(out)


def classes_markdown(ruleset: RuleSet, now: datetime) -> list[str]:
    out = ["## Jurisdiction classes", ""]
    for class_map in _class_maps(ruleset, now):
        copies = f"{len(class_map.classes)} {'copy' if len(class_map.classes) == 1 else 'copies'}"
        out += [
            f"Class map `{class_map.version}`, {_md(_class_period(class_map))}: a shared cache keyed on the class "
            f"keeps at most {copies} of each page.",
            "",
            "| Class | Readers | What they get |",
            "|---|---|---|",
        ]
        for c in sorted(class_map.classes.values(), key=lambda c: (c.name == NO_NOTICE_CLASS, c.name)):
            out.append(f"| `{c.name}` | {_md(_class_members(c, class_map.default))} | {_md(_class_gets(ruleset, c))} |")
        out.append("")
    return out


# -- Markdown --------------------------------------------------------------------------------


def _md(text: object) -> str:
    value = html.escape(str(text), quote=False)
    value = value.replace("|", "\\|").replace("\n", " ")
    return re.sub(r"([\\`*_\[\]#])", r"\\\1", value)


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "/") + "`"


def _cell_md(rules: list[Rule], now: datetime) -> str:
    if not rules:
        return "not shown"
    parts = []
    for rule in rules:
        words = entry_words(rule, now, _code)
        status = rule_status(rule, now)
        text = "; ".join(
            f"**{_md(w)}**" if w == status else w if w.startswith(("on ", "except ", "only on")) else _md(w)
            for w in words
        )
        if rule.action == "block":
            text = "**451** " + text
        parts.append(f"{text} (rule {_code(rule.id)})")
    return "<br>".join(parts)


def matrix_markdown(ruleset: RuleSet, now: datetime) -> list[str]:
    out: list[str] = []
    universal = everyone_rules(ruleset)
    if universal:
        out += ["### Every reader", "", "| Notice | What readers get |", "|---|---|"]
        out += [f"| {_md(_title(ruleset, r.notice))} | {_cell_md([r], now)} |" for r in universal]
        out.append("")
    rows = class_rows(ruleset)
    columns = _notice_columns(ruleset, rows)
    if columns:
        if universal:
            out += ["### By readers", ""]
        out.append("| Readers | " + " | ".join(_md(_title(ruleset, n)) for n in columns) + " |")
        out.append("|---|" + "---|" * len(columns))
        for row in rows:
            if not row.rules:
                label = f"Every other reader ({len(row.members)} kinds)"
                out.append(f"| {_md(label)} | " + " | ".join("no notice" for _ in columns) + " |")
                continue
            cells = [_cell_md([r for r in row.rules if r.notice == n], now) for n in columns]
            out.append(f"| {_md(row_words(ruleset, row))} | " + " | ".join(cells) + " |")
        out.append("")
    return out
