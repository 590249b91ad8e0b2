"""The `compliance` command: validate, explain, test, report, audit, edge, preview, bundle, schema.

Each command is a module with `add_parser` and `run`; `run` returns the exit code
(see `results.py`, where the codes are decided). The commands are thin: they load
the rules (`compliance.rules.load`), ask the decision core
(`compliance.rules.decide`), and print through the formats in `output.py`.

Only the module of the command being run is imported: `compliance --help` and
`compliance --version` (which a pre-commit hook may call on every commit) load
none of them, and none of the libraries they use.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from compliance._version import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

#: Each command's name and its line in `compliance --help`; `compliance.cli.NAME` is its module.
COMMANDS: dict[str, str] = {
    "validate": "check rule files: every problem as FILE:LINE:COL: message",
    "explain": "which rules fire for a reader on a page, and why the others do not",
    "test": "run case files against the rules, an app in-process, or a server",
    "report": "a self-contained HTML page: which notice each jurisdiction gets on which paths",
    "audit": "the audit trail: verify its hash chains, or count what readers were shown",
    "edge": "the jurisdiction-class map and nginx / Varnish configuration for a shared cache",
    "preview": "a link that shows a page in a browser as a reader in a jurisdiction gets it (staging)",
    "bundle": "sign rule bundles: make an Ed25519 key pair, or sign a bundle for servers to verify",
    "schema": "the JSON Schema of rule files or case files, for editors",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser. `command`'s module adds its options; the other commands are only listed."""
    parser = argparse.ArgumentParser(
        prog="compliance",
        description="Check legal-notice rules, and prove what readers see.",
        epilog="Exit codes: 0 pass, 1 failures (or warnings under --strict), 2 an unusable rule or case file, "
        "a bad option, or an app or server that cannot be reached.",
    )
    parser.add_argument("--version", action="version", version=f"compliance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if name == command:
            importlib.import_module(f"compliance.cli.{name}").add_parser(commands)
        else:
            commands.add_parser(name, help=summary)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command `argv` names: its first argument that is not an option (the top level's take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(_command(argv)).parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        from compliance.cli.results import ExitCode

        # The reader of our output went away (`| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.FAILED)
    except KeyboardInterrupt:
        return 130
    return code
