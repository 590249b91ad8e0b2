"""The output formats of each command, in one registry (conftest's Outputter, in Python).

`get(command, name)` returns the formatter that turns a command's result into the
text it prints; `formats(command)` lists the names a command offers:

    validate  text (errors as FILE:LINE:COL: error[CODE]: message, then warnings grouped and counted by
              kind, most serious first, then a summary), json, github, sarif, junit
    explain   text, json
    test      text (one line a case, coverage, "N passed, N failed, N skipped"), json, junit, github, sarif
    report    html, markdown (built by `compliance.cli.report_page`)

`github` prints GitHub Actions workflow commands (`::error file=...::message`), which
the Actions log shows as annotations on the pull request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from compliance.cli.results import Explanation, ValidateResult
from compliance.cli.words import head_element_words
from compliance.errors import Problem
from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules.lint import WARNING_KINDS, warning_rank
from compliance.rules.model import Rule
from compliance.rules.when import words as condition_words

__all__ = ["Outputter", "describe_jurisdiction", "formats", "get", "plural", "register", "warning_kinds"]

Outputter = Callable[[Any], str]
_F = TypeVar("_F", bound=Callable[..., str])

_REGISTRY: dict[str, dict[str, Outputter]] = {}


def register(command: str, name: str) -> Callable[[_F], _F]:
    def add(formatter: _F) -> _F:
        _REGISTRY.setdefault(command, {})[name] = formatter
        return formatter

    return add


def formats(command: str) -> list[str]:
    return list(_REGISTRY.get(command, {}))


def get(command: str, name: str) -> Outputter:
    try:
        return _REGISTRY[command][name]
    except KeyError:
        raise ValueError(f"{command} has no output format {name!r}; it has {', '.join(formats(command))}") from None


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


# -- validate --------------------------------------------------------------------------------


def validate_summary(result: ValidateResult) -> str:
    return (
        f"{plural(len(result.errors), 'error')}, {plural(len(result.warnings), 'warning')} "
        f"in {plural(result.files, 'file')}"
    )


@register("validate", "text")
def validate_text(result: ValidateResult) -> str:
    """Errors in file order; then warnings grouped by kind, most serious first, and counted (when there are
    several); then the summary."""
    lines = [str(p) for p in result.errors]
    kinds = warning_kinds(result.warnings)
    if kinds:
        if lines:
            lines.append("")
        for _, found in kinds:
            lines.extend(str(p) for p in found)
    if len(result.warnings) > 1:
        lines.append("")
        lines.append("Warnings by kind, most serious first:")
        width = max(len(code) for code, _ in kinds)
        count_width = len(str(max(len(found) for _, found in kinds)))
        for code, found in kinds:
            meaning = WARNING_KINDS.get(code, "")
            lines.append(f"  {len(found):>{count_width}}  {code:<{width}}  {meaning}".rstrip())
    lines.append(validate_summary(result))
    return "\n".join(lines) + "\n"


def warning_kinds(warnings: Iterable[Problem]) -> list[tuple[str, list[Problem]]]:
    """The warnings grouped by kind (code), most serious kind first; in file order within a kind."""
    grouped: dict[str, list[Problem]] = {}
    for problem in warnings:
        grouped.setdefault(problem.code, []).append(problem)
    return sorted(grouped.items(), key=lambda item: (warning_rank(item[0]), item[0]))


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "filename": problem.path,
        "location": {"row": problem.line, "column": problem.column},
        "severity": problem.severity,
        "code": problem.code,
        "message": problem.message,
        "rule": problem.rule_id,
    }


@register("validate", "json")
def validate_json(result: ValidateResult) -> str:
    document = {
        "problems": [_problem_json(p) for p in result.problems],
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "warnings_by_kind": [
            {"code": code, "count": len(found), "meaning": WARNING_KINDS.get(code)}
            for code, found in warning_kinds(result.warnings)
        ],
        "files": result.files,
        "exit_code": int(result.exit_code),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(level: str, path: str, line: int, column: int, title: str, message: str) -> str:
    return (
        f"::{level} file={_gh_property(path)},line={line},col={column},title={_gh_property(title)}::{_gh_data(message)}"
    )


@register("validate", "github")
def validate_github(result: ValidateResult) -> str:
    lines = [
        github_line(
            "error" if p.severity == "error" else "warning", p.path, p.line, p.column, f"compliance {p.code}", p.message
        )
        for p in result.problems
    ]
    lines.append(validate_summary(result))
    return "\n".join(lines) + "\n"


# -- explain ---------------------------------------------------------------------------------


def describe_jurisdiction(j: Jurisdiction) -> str:
    """`RU (Russian Federation)`, `UA-43 (Avtonomna Respublika Krym, Ukraine)`, `unknown`."""
    from compliance.cli.words import jurisdiction_name

    kinds = ", ".join(sorted(j.kinds))
    if j.country is None:
        if kinds:
            return f"unknown, {'anonymous, ' if j.anonymous else ''}{kinds}"
        return "unknown, anonymous (Tor or an anonymizer)" if j.anonymous else "unknown"
    text = f"{j.subdivision or j.country} ({jurisdiction_name(j.subdivision or j.country)})"
    if j.anonymous:
        text += ", anonymous"
    if kinds:
        text += f", {kinds}"
    return text


@register("explain", "text")
def explain_text(result: Explanation) -> str:
    decision = result.decision
    lines = [
        f"Reader:    {describe_jurisdiction(result.jurisdiction)}, {result.found}",
        f'           codes it matches: {", ".join(sorted(result.jurisdiction.codes))}, "*" (and any group that holds '
        "them)",
        f"Page:      {result.path} on {result.host or 'any host'}, {result.content_type}"
        + ("\n           the query string is not part of any decision" if "?" in result.path else ""),
        f"Time:      {_moment(result)}",
    ]
    if result.page_language or result.accept_language:
        said = []
        if result.page_language:
            said.append(f"the page is in {result.page_language}")
        if result.accept_language:
            said.append(f"the browser asks for {result.accept_language}")
        lines.append(f"Language:  {', '.join(said)}")
    if result.request_headers:
        lines.append(f"Request:   {', '.join(f'{name}: {value}' for name, value in result.request_headers)}")
    for view in result.firing:
        lines.append("")
        verb = "BLOCKS" if view.blocks else "FIRES"
        lines.append(f"{verb}  {view.rule.id}  ({view.rule.location})")
        if view.notice.id:
            lines.append(f"  notice    {view.notice.id}: {view.notice.title}")
        else:
            lines.append("  notice    none: the rule takes elements out and shows nothing")
        if view.blocks:
            lines.append("  result    the page is answered with 451 Unavailable For Legal Reasons, carrying the notice")
        elif view.not_shown:
            lines.append(f"  shown     no: {view.not_shown}")
        elif view.rule.action in ("remove", "replace"):
            lines.append(f"  does      {view.places[0]}")
        else:
            lines.append(f"  goes      {view.places[0]}")
            lines.extend(f"            else {place}" for place in view.places[1:])
            lines.extend(f"  element   {head_element_words(element)}" for element in view.notice.head)
        if view.language is not None and not view.not_shown and view.rule.action != "remove":
            if view.rule.languages:
                lines.append(f"  language  {view.language} (always: the rule's languages)")
            elif view.notice.languages:
                lines.append(f"  language  {view.language} (always: the notice's languages)")
            else:
                others = ", ".join(view.notice.text)
                lines.append(f"  language  {view.language} (the notice is written in {others})")
        if view.rule.when is not None:
            lines.append(f"  when      {condition_words(view.rule.when)}, and this request does")
        if view.rule.legal_basis:
            lines.append(f"  basis     {view.rule.legal_basis}")
        if view.rule.reference:
            lines.append(f"  reference {view.rule.reference}")
        extras = []
        if view.rule.mode != "enforce":
            extras.append(f"mode {view.rule.mode}")
        if view.rule.priority:
            extras.append(f"priority {view.rule.priority}")
        if view.rule.start or view.rule.until:
            extras.append(_window(view.rule))
        if extras:
            lines.append(f"  rule      {', '.join(extras)}")
    for skip in decision.skipped:
        lines.append("")
        lines.append(f"DOES NOT FIRE  {skip.rule.id}  ({skip.rule.location})")
        lines.append(f"  why       {skip.reason}")
    fired = len(result.firing)
    lines.append("")
    lines.append(
        f"{plural(fired, 'rule')} {'fires' if fired == 1 else 'fire'} for this reader, "
        f"{len(decision.skipped)} {'does' if len(decision.skipped) == 1 else 'do'} not."
    )
    return "\n".join(lines) + "\n"


def _moment(result: Explanation) -> str:
    return result.at.isoformat().replace("+00:00", "Z")


def _window(rule: Rule) -> str:
    parts = []
    if rule.start:
        parts.append(f"from {rule.start.isoformat().replace('+00:00', 'Z')}")
    if rule.until:
        parts.append(f"until {rule.until.isoformat().replace('+00:00', 'Z')}")
    return " ".join(parts)


@register("explain", "json")
def explain_json(result: Explanation) -> str:
    j = result.jurisdiction
    document = {
        "jurisdiction": {
            "country": j.country,
            "subdivision": j.subdivision,
            "anonymous": j.anonymous,
            "anonymity": sorted(j.kinds),
            "source": j.source,
            "found": result.found,
        },
        "host": result.host or None,
        "path": result.path,
        "at": _moment(result),
        "content_type": result.content_type,
        "fires": [
            {
                "rule": v.rule.id,
                "notice": v.notice.id,
                "location": str(v.rule.location),
                "action": v.rule.action,
                "mode": v.rule.mode,
                "blocks": v.blocks,
                "places": list(v.places),
                "language": v.language,
                "legal_basis": v.rule.legal_basis,
                "reference": v.rule.reference,
                "when": None if v.rule.when is None else condition_words(v.rule.when),
                "shown": v.not_shown is None,
                "not_shown": v.not_shown,
            }
            for v in result.firing
        ],
        "does_not_fire": [
            {"rule": s.rule.id, "location": str(s.rule.location), "code": s.code, "reason": s.reason}
            for s in result.decision.skipped
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def problems_text(problems: Iterable[Problem]) -> str:
    return "".join(f"{p}\n" for p in problems)


# -- for machines: SARIF (code scanning) and JUnit for validate, SARIF for test ---------------------------


def _sarif(results: list[dict[str, Any]], codes: Iterable[str]) -> str:
    from compliance._version import __version__

    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "compliance",
                        "version": __version__,
                        "rules": [{"id": code} for code in sorted(set(codes))],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _sarif_result(code: str, level: str, message: str, path: str, line: int, column: int) -> dict[str, Any]:
    return {
        "ruleId": code,
        "level": level,
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": path},
                    "region": {"startLine": line, "startColumn": column},
                }
            }
        ],
    }


@register("validate", "sarif")
def validate_sarif(result: ValidateResult) -> str:
    return _sarif(
        [
            _sarif_result(p.code, "error" if p.severity == "error" else "warning", p.message, p.path, p.line, p.column)
            for p in result.problems
        ],
        (p.code for p in result.problems),
    )


@register("validate", "junit")
def validate_junit(result: ValidateResult) -> str:
    by_file: dict[str, list[Problem]] = {}
    for problem in result.problems:
        by_file.setdefault(problem.path, []).append(problem)
    failing = [p for p in result.problems if p.severity == "error" or result.strict]
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    out.append(
        f'<testsuites name="compliance validate" tests="{max(result.files, len(by_file))}" '
        f'failures="{len(failing)}" errors="0">'
    )
    out.append(f'  <testsuite name="compliance validate" tests="{len(result.problems)}" failures="{len(failing)}">')
    for problem in result.problems:
        name = quoteattr(f"{problem.path}:{problem.line}:{problem.column} {problem.code}")
        if problem in failing:
            out.append(f"    <testcase name={name} classname={quoteattr(problem.path)}>")
            out.append(f"      <failure message={quoteattr(problem.message)}>{xml_escape(str(problem))}</failure>")
            out.append("    </testcase>")
        else:
            out.append(f"    <testcase name={name} classname={quoteattr(problem.path)}>")
            out.append(f"      <system-out>{xml_escape(str(problem))}</system-out>")
            out.append("    </testcase>")
    out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
