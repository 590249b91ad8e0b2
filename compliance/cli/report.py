"""`compliance report --rules PATH [-o FILE] [--format html|markdown] [--geoip-db FILE] [--with-tests CASES...]
[--audit FILE... [--audit-from WHEN] [--audit-until WHEN]]`.

The legal team's report, and the auditor's evidence. Writes `compliance-report.html`
in the current folder unless `-o` says otherwise (`-o -` is standard output). The
page is built by `compliance.cli.report_page`; what it is evidence of (the rule
set's digest, the git commit, the GeoIP database, the moment, the case results,
what the audit trail says readers were shown)
by `compliance.cli.report_evidence`. With `--with-tests`, a failing case still
writes the report, and the command exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from compliance.cli import COMMANDS, output
from compliance.cli.audit_read import Reading, read_lines, rotation_order
from compliance.cli.audit_summary import Summary, summarize
from compliance.cli.common import load_or_report, moment
from compliance.cli.report_evidence import Evidence, gather
from compliance.cli.report_page import report_html, report_markdown
from compliance.cli.results import ExitCode, TestRun
from compliance.cli.verdict import run_rules_only
from compliance.rules.lint import lint
from compliance.rules.model import RuleSet

__all__ = ["add_parser", "run"]

DEFAULT_NAMES = {"html": "compliance-report.html", "markdown": "compliance-report.md"}


def _written_by(page: Callable[..., str]) -> Callable[[tuple[RuleSet, Evidence]], str]:
    """The report format that `page` (report_html or report_markdown) writes."""

    def write(args: tuple[RuleSet, Evidence]) -> str:
        ruleset, evidence = args
        ruleset = ruleset.at(evidence.generated.timestamp())  # groups' members as they stand when written
        warnings = (*ruleset.warnings, *lint(ruleset))
        return page(ruleset, evidence.source, now=evidence.generated, warnings=warnings, evidence=evidence)

    return write


output.register("report", "html")(_written_by(report_html))
output.register("report", "markdown")(_written_by(report_markdown))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report",
        help=COMMANDS["report"],
        description="Write the report for the legal team: every notice as readers see it, and which "
        "jurisdictions get it on which pages. HTML by default (compliance-report.html), or Markdown.",
    )
    parser.add_argument("--rules", required=True, metavar="PATH", help="a rule file, or a folder of them")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="where to write it (default compliance-report.html; - for stdout)"
    )
    parser.add_argument("--format", choices=output.formats("report"), default="html", help="output format")
    parser.add_argument(
        "--geoip-db", metavar="FILE", help="the GeoIP database in use: its type and build date go in the report"
    )
    parser.add_argument(
        "--with-tests",
        nargs="+",
        metavar="CASES",
        help="case files (or folders of them), run against the rules: their results and coverage go in the report",
    )
    parser.add_argument(
        "--audit",
        nargs="+",
        metavar="FILE",
        help="audit log files (a rotated, gzip-ed set too): what readers were shown goes in the report",
    )
    parser.add_argument(
        "--audit-from", type=moment, metavar="WHEN", help="count audit events from this date or time (inclusive)"
    )
    parser.add_argument(
        "--audit-until", type=moment, metavar="WHEN", help="count audit events until this date or time (exclusive)"
    )
    parser.set_defaults(run=run)


def _audit(args: argparse.Namespace) -> tuple[Summary, tuple[str, ...]]:
    """The audit logs' counts; ValueError names a file that is missing or cannot be read."""
    missing = [path for path in args.audit if not os.path.isfile(path)]
    if missing:
        raise ValueError(f'there is no file "{missing[0]}"; check the path to the audit log')
    files = rotation_order(args.audit)
    reading = Reading()
    start = args.audit_from.timestamp() if args.audit_from else None
    until = args.audit_until.timestamp() if args.audit_until else None
    summary = summarize((raw for _, _, raw in read_lines(files, reading)), start, until)
    if reading.unreadable:
        raise ValueError(f"cannot read {reading.unreadable[0]}")
    return summary, tuple(files)


def run(args: argparse.Namespace) -> int:
    ruleset = load_or_report(args.rules)
    if ruleset is None:
        return int(ExitCode.UNUSABLE)
    now = datetime.now(UTC)
    tests: TestRun | None = None
    try:
        if args.with_tests:
            tests = run_rules_only(ruleset, args.with_tests, args.geoip_db, now.timestamp())
        audit, audit_files = _audit(args) if args.audit else (None, ())
        evidence = gather(
            ruleset, args.rules, now, geoip_db=args.geoip_db, tests=tests, audit=audit, audit_files=audit_files
        )
    except ValueError as error:
        *problems, why = str(error).split("\n")
        sys.stderr.write("".join(f"{line}\n" for line in problems))
        sys.stderr.write(f"compliance report: {why}; no report was written.\n")
        return int(ExitCode.UNUSABLE)
    text = output.get("report", args.format)((ruleset, evidence))
    target = args.output or DEFAULT_NAMES[args.format]
    if target == "-":
        sys.stdout.write(text)
        return int(ExitCode.OK)
    try:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        sys.stderr.write(f"compliance report: cannot write {target}: {error.strerror}.\n")
        return int(ExitCode.UNUSABLE)
    said = (
        f"Wrote {target}: {output.plural(len(ruleset.notices), 'notice')}, {output.plural(len(ruleset.rules), 'rule')}"
    )
    if tests is not None:
        said += f"; cases: {tests.passed} passed, {tests.failed} failed, {tests.skipped} skipped"
    print(said + ".")
    return int(tests.exit_code if tests is not None else ExitCode.OK)
