"""`compliance validate PATH...`: every problem in every rule and case file, one line each.

Each PATH is a rule file or a folder of them (one rule set). Case files are
checked too: those in a folder's `tests` folders, and any PATH that is a case
file itself (a mapping with `cases:`). The loader's errors and warnings come
first, then the warnings of `compliance.rules.lint`; then one summary line.
"""

from __future__ import annotations

import argparse
import os
import sys

from compliance.cli import COMMANDS, output
from compliance.cli.cases import check_notices, load_cases
from compliance.cli.results import ExitCode, ValidateResult
from compliance.errors import Problem, RuleFileError
from compliance.rules.lint import lint
from compliance.rules.load import load_rules
from compliance.rules.model import RuleSet
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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    missing = [path for path in args.paths if not os.path.exists(path)]
    if missing:
        for path in missing:
            sys.stderr.write(f'compliance validate: there is no file or folder "{path}"; check the path.\n')
        return int(ExitCode.UNUSABLE)
    result = validate(args.paths, strict=args.strict)
    print(output.get("validate", args.format)(result), end="")
    return int(result.exit_code)


def validate(paths: list[str], *, strict: bool = False) -> ValidateResult:
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
