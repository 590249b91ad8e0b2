"""`compliance report --rules PATH [-o FILE] [--format html|markdown]`: the legal team's report.

Writes `compliance-report.html` in the current folder unless `-o` says otherwise
(`-o -` is standard output). The page is built by `compliance.cli.report_page`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from compliance.cli import COMMANDS, output
from compliance.cli.common import load_or_report
from compliance.cli.report_page import report_html, report_markdown
from compliance.cli.results import ExitCode
from compliance.errors import ConfigError
from compliance.reader.databases import DEFAULT_GEOIP_MAX_AGE_DAYS, GeoIP2Resolver
from compliance.rules.lint import lint
from compliance.rules.model import RuleSet

__all__ = ["add_parser", "run"]

DEFAULT_NAMES = {"html": "compliance-report.html", "markdown": "compliance-report.md"}


@output.register("report", "html")
def _html(args: tuple[RuleSet, str, datetime] | tuple[RuleSet, str, datetime, str | None]) -> str:
    ruleset, source, now, *geoip = args
    ruleset = ruleset.at(now.timestamp())  # groups' members as they stand when the report is written
    warnings = (*ruleset.warnings, *lint(ruleset))
    return report_html(ruleset, source, now=now, warnings=warnings, geoip=geoip[0] if geoip else None)


@output.register("report", "markdown")
def _markdown(args: tuple[RuleSet, str, datetime] | tuple[RuleSet, str, datetime, str | None]) -> str:
    ruleset, source, now, *geoip = args
    ruleset = ruleset.at(now.timestamp())  # groups' members as they stand when the report is written
    warnings = (*ruleset.warnings, *lint(ruleset))
    return report_markdown(ruleset, source, now=now, warnings=warnings, geoip=geoip[0] if geoip else None)


def geoip_line(path: str, now: datetime) -> str:
    """The GeoIP database in words: its kind and build date, and whether it is older than the start-up limit.

    Raises ConfigError where it cannot be opened.
    """
    with GeoIP2Resolver(path, max_age_days=None) as database:
        built, kind = database.build_date, database.database_type
    days = int((now - built).total_seconds() // 86400)
    old = f"; older than {DEFAULT_GEOIP_MAX_AGE_DAYS:g} days: update it" if days > DEFAULT_GEOIP_MAX_AGE_DAYS else ""
    return f"GeoIP database {path} ({kind}) built {built.date().isoformat()}, {days} days before this report{old}"


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
    parser.add_argument("--geoip-db", metavar="FILE", help="the deployment's GeoIP database: its build date is shown")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ruleset = load_or_report(args.rules)
    if ruleset is None:
        return int(ExitCode.UNUSABLE)
    now = datetime.now(UTC)
    geoip: str | None = None
    if args.geoip_db is not None:
        try:
            geoip = geoip_line(args.geoip_db, now)
        except ConfigError as error:
            sys.stderr.write(f"compliance report: {error}.\n")
            return int(ExitCode.UNUSABLE)
    text = output.get("report", args.format)((ruleset, args.rules, now, geoip))
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
    print(
        f"Wrote {target}: {output.plural(len(ruleset.notices), 'notice')}, {output.plural(len(ruleset.rules), 'rule')}."
    )
    return int(ExitCode.OK)
