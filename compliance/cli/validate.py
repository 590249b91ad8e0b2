"""`compliance validate PATH...`: every problem in every rule and case file, one line each.

Each PATH is a rule file or a folder of them (one rule set). Case files are
checked too: those in a folder's `tests` folders, and any PATH that is a case
file itself (a mapping with `cases:`). The loader's errors and warnings come
first, then the warnings of `compliance.rules.lint`; then one summary line.

A rule that names a subdivision (`US-CA`) matches only where the reader's
subdivision is known: from a City (or Enterprise) GeoIP database, or a CDN's
region header. With the deployment's sources (`--geoip-db PATH`, `--region-header
NAME`), such a rule gets a warning when none of them can tell a subdivision;
without them, a note (on standard error, with the text format) says what they need.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from compliance.cli import COMMANDS, output
from compliance.cli.cases import check_notices, load_cases
from compliance.cli.results import ExitCode, ValidateResult
from compliance.errors import ConfigError, Problem, RuleFileError
from compliance.reader.databases import GeoIP2Resolver
from compliance.rules.lint import lint
from compliance.rules.load import load_rules
from compliance.rules.model import Rule, RuleSet
from compliance.rules.yamlstrict import YamlMap, read_yaml

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "validate",
        help=COMMANDS["validate"],
        description="Check rule files (and the case files in their tests folders) and print every problem, "
        "one a line, then a summary. Exit 0 when there is no error, 1 when there is one (or a warning, "
        "with --strict), 2 on a usage error.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a rule file, or a folder of them")
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.add_argument("--format", choices=output.formats("validate"), default="text", help="output format")
    parser.add_argument(
        "--geoip-db",
        metavar="FILE",
        help="the deployment's GeoIP database: rules that name subdivisions need a City one",
    )
    parser.add_argument(
        "--region-header", metavar="NAME", help="the CDN region header the deployment reads (subdivisions from it)"
    )
    parser.set_defaults(run=run)


_SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}\Z")


def _subdivisions(rule: Rule) -> list[str]:
    """The subdivision codes a rule names (directly or through groups), sorted."""
    codes = rule.jurisdictions | rule.except_jurisdictions | {d.code for d in rule.dated}
    return sorted(code for code in codes if _SUBDIVISION.match(code))


def subdivision_problems(
    ruleset: RuleSet, geoip_db: str | None, region_header: str | None
) -> tuple[list[Problem], str | None]:
    """Warnings for rules naming subdivisions that the deployment's sources cannot tell, and a note without them.

    Raises ConfigError where the database cannot be opened.
    """
    naming = [(rule, codes) for rule in ruleset.rules if (codes := _subdivisions(rule))]
    if not naming:
        return [], None
    if geoip_db is None and region_header is None:
        named = sorted({code for _, codes in naming for code in codes})
        shown = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
        who = f"{len(naming)} rules name" if len(naming) != 1 else "1 rule names"
        return [], (
            f"note: {who} subdivisions ({shown}), which match "
            "only where a reader's subdivision is known: from a City GeoIP database or a CDN region header. "
            "Give --geoip-db PATH or --region-header NAME to check the deployment's sources."
        )
    if region_header is not None:
        return [], None
    assert geoip_db is not None
    database = GeoIP2Resolver(geoip_db, max_age_days=None)
    try:
        if database.subdivisions:
            return [], None
        kind = database.database_type
    finally:
        database.close()
    problems = [
        Problem(
            rule.location.path,
            rule.location.line,
            rule.location.column,
            "no-subdivision-source",
            f'The rule "{rule.id}" names {", ".join(codes)}, but {geoip_db} is a {kind} database, which tells '
            "countries only, and no region header is read: the rule never matches there. Use a City database, "
            "or read a CDN region header (--region-header), or name the country instead.",
            "warning",
            rule.id,
        )
        for rule, codes in naming
    ]
    return problems, None


def run(args: argparse.Namespace) -> int:
    missing = [path for path in args.paths if not os.path.exists(path)]
    if missing:
        for path in missing:
            sys.stderr.write(f'compliance validate: there is no file or folder "{path}"; check the path.\n')
        return int(ExitCode.UNUSABLE)
    notes: list[str] = []
    try:
        result = validate(
            args.paths, strict=args.strict, geoip_db=args.geoip_db, region_header=args.region_header, notes=notes
        )
    except ConfigError as error:
        sys.stderr.write(f"compliance validate: {error}.\n")
        return int(ExitCode.UNUSABLE)
    print(output.get("validate", args.format)(result), end="")
    if args.format == "text":
        for note in notes:
            sys.stderr.write(note + "\n")
    return int(result.exit_code)


def validate(
    paths: list[str],
    *,
    strict: bool = False,
    geoip_db: str | None = None,
    region_header: str | None = None,
    notes: list[str] | None = None,
) -> ValidateResult:
    """Every problem in the rule and case files at `paths`; `notes` gets what is said besides them."""
    problems: list[Problem] = []
    files: set[str] = set()
    for path in paths:
        if os.path.isfile(path) and _is_case_file(path):
            cases, found, read = load_cases([path])
            problems += found
            files.update(read)
            continue
        ruleset: RuleSet | None = None
        try:
            ruleset = load_rules(path)
        except RuleFileError as error:
            problems += error.problems
        else:
            problems += ruleset.warnings
            problems += _not_already(lint(ruleset), ruleset.warnings)
            files.update(ruleset.files)
            found_here, note = subdivision_problems(ruleset, geoip_db, region_header)
            problems += found_here
            if note is not None and notes is not None:
                notes.append(note)
        files.update(_rule_files(path))
        for folder in _test_folders(path):
            cases, found, read = load_cases([folder])
            problems += [p for p in found if p.code != "no-case-files"]
            files.update(read)
            if ruleset is not None:
                problems += check_notices(cases, ruleset.notices)
    return ValidateResult(tuple(_ordered(problems)), len(files), strict)


def _not_already(new: list[Problem], old: tuple[Problem, ...]) -> list[Problem]:
    seen = {(p.path, p.line, p.column, p.code) for p in old}
    return [p for p in new if (p.path, p.line, p.column, p.code) not in seen]


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.path, p.line, p.column, p.severity != "error"))


def _is_case_file(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    if b"cases" not in data and b"\\" not in data:  # no key "cases", however quoted: not read twice
        return False
    top, _ = read_yaml(data, path)
    return isinstance(top, YamlMap) and "cases" in top


def _rule_files(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path] if os.path.exists(path) else []
    found = []
    for folder, folders, names in os.walk(path):
        folders[:] = [n for n in folders if n != "tests" and not n.startswith(".")]
        found += [os.path.join(folder, n) for n in names if n.endswith((".yaml", ".yml")) and not n.startswith(".")]
    return found


def _test_folders(path: str) -> list[str]:
    if not os.path.isdir(path):
        return []
    found = []
    for folder, folders, _ in os.walk(path):
        folders[:] = sorted(n for n in folders if not n.startswith("."))
        if os.path.basename(folder) == "tests":
            found.append(folder)
            folders[:] = []
    return found
