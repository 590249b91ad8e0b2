"""`compliance report --rules PATH [-o FILE] [--format html|markdown] [--geoip-db FILE] [--with-tests CASES...]`.

The legal team's report, and the auditor's evidence. Writes `compliance-report.html`
in the current folder unless `-o` says otherwise (`-o -` is standard output). The
page is built by `compliance.cli.report_page`; what it is evidence of (the rule
set's digest, the git commit, the GeoIP database, the moment, the case results)
by `compliance.cli.report_evidence`. With `--with-tests`, a failing case still
writes the report, and the command exits 1.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from compliance.cli import COMMANDS, output
from compliance.cli.common import load_or_report
from compliance.cli.report_evidence import Evidence, gather
from compliance.cli.report_page import report_html, report_markdown
from compliance.cli.results import ExitCode, TestRun
from compliance.cli.test import run_rules_only
from compliance.rules.lint import lint
from compliance.rules.model import RuleSet

__all__ = ["add_parser", "run"]

DEFAULT_NAMES = {"html": "compliance-report.html", "markdown": "compliance-report.md"}


@output.register("report", "html")
def _html(args: tuple[RuleSet, Evidence]) -> str:
    ruleset, evidence = args
    ruleset = ruleset.at(evidence.generated.timestamp())  # groups' members as they stand when the report is written
    return report_html(
        ruleset,
        evidence.source,
        now=evidence.generated,
        warnings=(*ruleset.warnings, *lint(ruleset)),
        evidence=evidence,
    )


@output.register("report", "markdown")
def _markdown(args: tuple[RuleSet, Evidence]) -> str:
    ruleset, evidence = args
    ruleset = ruleset.at(evidence.generated.timestamp())  # groups' members as they stand when the report is written
    return report_markdown(
        ruleset,
        evidence.source,
        now=evidence.generated,
        warnings=(*ruleset.warnings, *lint(ruleset)),
        evidence=evidence,
    )


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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ruleset = load_or_report(args.rules)
    if ruleset is None:
        return int(ExitCode.UNUSABLE)
    now = datetime.now(UTC)
    tests: TestRun | None = None
    try:
        if args.with_tests:
            tests = run_rules_only(ruleset, args.with_tests, args.geoip_db, now.timestamp())
        evidence = gather(ruleset, args.rules, now, geoip_db=args.geoip_db, tests=tests)
    except ValueError as error:
        sys.stderr.write(f"compliance report: {error}; no report was written.\n")
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
