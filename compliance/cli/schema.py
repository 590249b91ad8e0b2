"""`compliance schema rules|cases [-o FILE]`: the JSON Schema of the rule format or of the case format.

Editors that read JSON Schema (VS Code's YAML extension, JetBrains IDEs, anything
built on yaml-language-server) then complete the fields and mark mistakes as the
lawyer types, given one line at the top of the file:

    # yaml-language-server: $schema=../schemas/rules.schema.json

The schema checks the shape of a file (fields, lists, the form of codes, tags and
dates); `compliance validate` checks everything, with a sentence for each problem.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources

from compliance.cli import COMMANDS
from compliance.cli.results import ExitCode

__all__ = ["SCHEMAS", "add_parser", "run", "schema_text"]

SCHEMAS = ("rules", "cases")


def schema_text(name: str) -> str:
    return resources.files("compliance").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "schema",
        help=COMMANDS["schema"],
        description="Print the JSON Schema of rule files (rules) or of case files (cases), for editors that "
        "complete and check YAML as it is typed.",
    )
    parser.add_argument("name", choices=SCHEMAS, help="which format")
    parser.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead of standard output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = schema_text(args.name)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return int(ExitCode.OK)
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        sys.stderr.write(f"compliance schema: cannot write {args.output}: {error.strerror}.\n")
        return int(ExitCode.UNUSABLE)
    print(f"Wrote {args.output}: the JSON Schema of {args.name} files.")
    return int(ExitCode.OK)
