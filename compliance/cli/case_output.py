"""The output formats of `compliance test`: text, json, junit, github and sarif (registered in `output`)."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from compliance.cli.output import _sarif, _sarif_result, github_line, register
from compliance.cli.results import CaseResult, TestRun

__all__ = ["summary", "test_github", "test_json", "test_junit", "test_sarif", "test_text", "verdict"]


# -- test ------------------------------------------------------------------------------------


def summary(run: TestRun) -> str:
    return f"{run.passed} passed, {run.failed} failed, {run.skipped} skipped"


def _coverage_lines(run: TestRun) -> list[str]:
    uncovered = run.uncovered
    if not run.rules:
        return []
    if not uncovered:
        return [f"Coverage: every rule ({len(run.rules)}) is exercised by at least one case."]
    lines = [f"Rules no case exercised ({len(uncovered)} of {len(run.rules)}):"]
    width = max(len(rule.id) for rule in uncovered)
    lines.extend(f"  {rule.id.ljust(width)}  {rule.location}" for rule in uncovered)
    return lines


def verdict(result: CaseResult) -> str:
    """PASS, FAIL or SKIP."""
    return "FAIL" if result.failed else "SKIP" if result.skipped is not None else "PASS"


def case_where(result: CaseResult) -> str:
    return f"{result.case.location}: {result.case.request.describe()}"


def case_lines(result: CaseResult) -> list[str]:
    """One case in the text format: its verdict and name, then why it failed or was skipped."""
    lines = [f"{verdict(result)}  {result.case.name}"]
    if result.skipped is not None and not result.failed:
        lines.append(f"      {case_where(result)}")
        lines.append(f"      skipped: {result.skipped}")
    elif result.failed:
        lines.append(f"      {case_where(result)}")
        for m in result.mismatches:
            label = f"expected {m.what}:"
            width = max(len(label), len(f"got {m.what}:"))
            lines.append(f"      {label.ljust(width)} {m.expected}")
            lines.append(f"      {f'got {m.what}:'.ljust(width)} {m.got}")
    return lines


def tail_text(run: TestRun) -> str:
    """What the text format prints after the cases: the coverage, then the counts."""
    lines = []
    coverage = _coverage_lines(run)
    if coverage:
        lines.append("")
        lines.extend(coverage)
    lines.append("")
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


@register("test", "text")
def test_text(run: TestRun) -> str:
    lines = [line for result in run.results for line in case_lines(result)]
    return "\n".join(lines) + ("\n" if lines else "") + tail_text(run)


def _case_json(result: CaseResult) -> dict[str, Any]:
    case = result.case
    request = case.request
    observed = result.observed
    return {
        "name": case.name,
        "file": case.location.path,
        "line": case.location.line,
        "column": case.location.column,
        "request": {
            "method": request.method,
            "path": request.path,
            "host": request.host,
            "country": request.country,
            "subdivision": request.subdivision,
            "ip": request.ip,
        },
        "passed": result.passed,
        "outcome": {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[verdict(result)],
        "skipped": result.skipped if not result.failed else None,
        "mismatches": [{"what": m.what, "expected": m.expected, "got": m.got} for m in result.mismatches],
        "got": None
        if observed is None
        else {
            "notices": sorted(observed.notices),
            "status": observed.status,
            "languages": dict(observed.languages),
        },
        "rules_fired": list(result.fired),
    }


@register("test", "json")
def test_json(run: TestRun) -> str:
    document = {
        "mode": run.mode,
        "target": run.target,
        "cases": [_case_json(r) for r in run.results],
        "uncovered_rules": [{"rule": rule.id, "location": str(rule.location)} for rule in run.uncovered],
        "passed": run.passed,
        "failed": run.failed,
        "skipped": run.skipped,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _failure_text(result: CaseResult) -> str:
    lines = [case_where(result)]
    for m in result.mismatches:
        lines.append(f"expected {m.what}: {m.expected}")
        lines.append(f"got {m.what}: {m.got}")
    return "\n".join(lines)


@register("test", "junit")
def test_junit(run: TestRun) -> str:
    by_file: dict[str, list[CaseResult]] = {}
    for result in run.results:
        by_file.setdefault(result.case.location.path, []).append(result)
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    out.append(
        f'<testsuites name={quoteattr("compliance test (" + run.mode + ")")} tests="{len(run.results)}" '
        f'failures="{run.failed}" errors="0" skipped="{run.skipped}">'
    )
    for path, results in by_file.items():
        failed = sum(1 for r in results if r.failed)
        skipped = sum(1 for r in results if verdict(r) == "SKIP")
        out.append(
            f'  <testsuite name={quoteattr(path)} tests="{len(results)}" failures="{failed}" errors="0" '
            f'skipped="{skipped}">'
        )
        for result in results:
            name = quoteattr(result.case.name)
            classname = quoteattr(path)
            if result.passed:
                out.append(f"    <testcase name={name} classname={classname}/>")
                continue
            if not result.failed:
                out.append(f"    <testcase name={name} classname={classname}>")
                out.append(f"      <skipped message={quoteattr(result.skipped or '')}/>")
                out.append("    </testcase>")
                continue
            message = "; ".join(f"expected {m.what} {m.expected}, got {m.got}" for m in result.mismatches)
            out.append(f"    <testcase name={name} classname={classname}>")
            out.append(f"      <failure message={quoteattr(message)}>{xml_escape(_failure_text(result))}</failure>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    uncovered = run.uncovered
    if uncovered:
        text = "\n".join(_coverage_lines(run))
        out.append(f"  <!-- {xml_escape(text).replace('--', '- -')} -->")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


@register("test", "github")
def test_github(run: TestRun) -> str:
    lines = []
    for result in run.results:
        if result.passed:
            lines.append(f"PASS  {result.case.name}")
            continue
        if not result.failed:
            where = result.case.location
            lines.append(
                github_line(
                    "notice", where.path, where.line, where.column, f"SKIP {result.case.name}", result.skipped or ""
                )
            )
            continue
        where = result.case.location
        lines.append(
            github_line(
                "error", where.path, where.line, where.column, f"FAIL {result.case.name}", _failure_text(result)
            )
        )
    for rule in run.uncovered:
        loc = rule.location
        lines.append(
            github_line(
                "warning",
                loc.path,
                loc.line,
                loc.column,
                "compliance coverage",
                f'No case exercises the rule "{rule.id}".',
            )
        )
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


@register("test", "sarif")
def test_sarif(run: TestRun) -> str:
    results = [
        _sarif_result(
            "case-failed",
            "error",
            f'The case "{r.case.name}" failed. ' + _failure_text(r).replace("\n", "; "),
            r.case.location.path,
            r.case.location.line,
            r.case.location.column,
        )
        for r in run.results
        if r.failed
    ]
    results += [
        _sarif_result(
            "rule-not-tested",
            "warning",
            f'No case exercises the rule "{rule.id}".',
            rule.location.path,
            rule.location.line,
            rule.location.column,
        )
        for rule in run.uncovered
    ]
    return _sarif(results, (r["ruleId"] for r in results))
