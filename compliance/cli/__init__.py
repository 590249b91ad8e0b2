"""The `compliance` command: validate, explain, test, report.

Each command is a module with `add_parser` and `run`; `run` returns the exit code
(see `results.py`, where the codes are decided). The commands are thin: they load
the rules (`compliance.rules.load`), ask the decision core
(`compliance.rules.decide`), and print through the formats in `output.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from compliance import __version__
from compliance.cli import explain, report, test, validate
from compliance.cli.results import ExitCode

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compliance",
        description="Check legal-notice rules, and prove what readers see.",
        epilog="Exit codes: 0 pass, 1 failures (or warnings under --strict), 2 an unusable rule or case file, "
        "a bad option, or an app or server that cannot be reached.",
    )
    parser.add_argument("--version", action="version", version=f"compliance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (validate, explain, test, report):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.FAILED)
    except KeyboardInterrupt:
        return 130
    return code
