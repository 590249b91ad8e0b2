"""What each command found, as values: the formatters in `output.py` print them.

Exit codes are decided here, in one place, by each result's `exit_code`:

    0  OK: no errors (validate), every case passed (test), the command did its job
    1  FAILED: an error in the rules (validate), a warning under --strict, a case
       that failed (test)
    2  UNUSABLE: a rule or case file that cannot be loaded (for every command
       but validate, for which that is its finding), a bad option, an app or a
       server that cannot be reached

argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from compliance.cli.cases import Case
from compliance.errors import Problem
from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules.decide import Decision
from compliance.rules.model import Notice, Rule

__all__ = [
    "CaseResult",
    "ExitCode",
    "Explanation",
    "FiringView",
    "Mismatch",
    "Observed",
    "TestRun",
    "ValidateResult",
]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    UNUSABLE = 2


@dataclass(frozen=True, slots=True)
class ValidateResult:
    problems: tuple[Problem, ...]
    files: int
    strict: bool = False

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity != "error")

    @property
    def exit_code(self) -> ExitCode:
        if self.errors or (self.strict and self.warnings):
            return ExitCode.FAILED
        return ExitCode.OK


@dataclass(frozen=True, slots=True)
class Observed:
    """What a reader got: read from a response (end to end) or from the decision (rules only)."""

    notices: frozenset[str]
    status: int | None = None
    #: notice id -> the language it was shown in, where that can be read.
    languages: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    #: The notice ids in the order the page shows them.
    order: tuple[str, ...] = ()
    #: The page's own language (`<html lang>`), where the response shows it.
    page_language: str | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    what: str
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    mismatches: tuple[Mismatch, ...] = ()
    observed: Observed | None = None
    #: The rules the decision core fires for this case (for coverage).
    fired: tuple[str, ...] = ()
    #: Why the case was skipped: what this mode cannot know (None: it was not).
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.skipped is None

    @property
    def failed(self) -> bool:
        return bool(self.mismatches)


@dataclass(frozen=True, slots=True)
class TestRun:
    #: "rules", "app" or "url".
    mode: str
    target: str
    results: tuple[CaseResult, ...]
    rules: tuple[Rule, ...] = ()

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.failed)

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.results if r.skipped is not None and not r.failed)

    @property
    def uncovered(self) -> tuple[Rule, ...]:
        """The rules that fired in no case."""
        fired = {rule_id for r in self.results for rule_id in r.fired}
        return tuple(rule for rule in self.rules if rule.id not in fired)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.failed else ExitCode.OK


@dataclass(frozen=True, slots=True)
class FiringView:
    """A rule that fires, with what the reader gets from it."""

    rule: Rule
    notice: Notice
    #: Where the notice goes, as sentences, in order of preference.
    places: tuple[str, ...]
    language: str | None
    #: Why the notice is not shown although the rule fires (report-only, a content type), or None.
    not_shown: str | None = None
    blocks: bool = False


@dataclass(frozen=True, slots=True)
class Explanation:
    jurisdiction: Jurisdiction
    #: How the jurisdiction was found, as a sentence.
    found: str
    host: str
    path: str
    at: datetime
    content_type: str
    page_language: str | None
    accept_language: str | None
    decision: Decision
    firing: tuple[FiringView, ...] = field(default_factory=tuple)
    #: The request headers given (`--header`, `--cookie` as one Cookie), as written.
    request_headers: tuple[tuple[str, str], ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK
