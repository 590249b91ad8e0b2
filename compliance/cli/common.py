"""What the commands share: loading the rules for a command that needs them, and reading options."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from compliance.cli.cases import parse_moment
from compliance.cli.output import problems_text
from compliance.errors import RuleFileError
from compliance.rules.load import load_rules
from compliance.rules.model import RuleSet

__all__ = ["UsageError", "load_or_report", "moment"]


class UsageError(Exception):
    """A bad option or an unusable input: printed as a sentence, exit 2."""


def load_or_report(path: str) -> RuleSet | None:
    """The rule set at `path`, or None after printing why it cannot be loaded (to stderr)."""
    try:
        return load_rules(path)
    except RuleFileError as error:
        errors = error.errors
        sys.stderr.write(problems_text(errors))
        sys.stderr.write(
            f"The rules in {path} cannot be loaded ({len(errors)} error{'s' if len(errors) != 1 else ''}); "
            f"run `compliance validate {path}` for every problem.\n"
        )
        return None


def moment(text: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 date and time (UTC unless it gives an offset), for an option."""
    found = parse_moment(text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-01-31) or an ISO 8601 date and time (2026-01-31T09:00:00+03:00)"
        )
    return found
