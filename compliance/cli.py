"""The `compliance` command (validate, explain, test, report)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import RuleFileError
from .rules import load_rules

__all__ = ["main"]


def _validate(args: argparse.Namespace) -> int:
    status = 0
    for path in args.paths:
        try:
            ruleset = load_rules(path)
        except RuleFileError as error:
            for problem in error.problems:
                print(problem)
            status = 1
            continue
        for problem in ruleset.warnings:
            print(problem)
        if args.strict and ruleset.warnings:
            status = max(status, 1)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compliance", description="Check legal-notice rules and what readers see.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check rule files; every problem as FILE:LINE:COL: message")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--strict", action="store_true", help="warnings fail too")
    validate.set_defaults(run=_validate)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
