"""Errors raised by compliance.

The hierarchy::

    ComplianceError                 root of everything this package raises
    + RuleFileError                 a rule set that cannot be loaded; carries every Problem found
    + ConfigError (also ValueError) a bad argument to ComplianceMiddleware or a resolver

A `Problem` is one finding in a rule or case file, with its file, line and column
(1-based, as an editor shows them). Errors stop a rule set from loading; warnings
(a passed `review_by`, for instance) do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["ComplianceError", "ConfigError", "Problem", "RuleFileError"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    column: int
    code: str
    message: str
    severity: Severity = "error"
    rule_id: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"


class ComplianceError(Exception):
    """Root of every error this package raises."""


class ConfigError(ComplianceError, ValueError):
    """A bad option given to the middleware or a resolver."""


class RuleFileError(ComplianceError):
    """A rule set that cannot be loaded.

    `problems` holds every problem found (errors first, in file order); `path`,
    `line`, `column` and `rule_id` are those of the first error, for callers that
    only show one.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        found = tuple(problems)
        if not found:
            raise ValueError("RuleFileError needs at least one problem")
        errors = [p for p in found if p.severity == "error"]
        warnings = [p for p in found if p.severity != "error"]
        self.problems: tuple[Problem, ...] = tuple(errors + warnings)
        first = self.problems[0]
        self.path = first.path
        self.line = first.line
        self.column = first.column
        self.rule_id = first.rule_id
        count = len(errors)
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{first}{more}")

    def __reduce__(self) -> tuple[type[RuleFileError], tuple[tuple[Problem, ...]]]:
        # Pickled with its problems (a reload read in another process), not with its message alone.
        return RuleFileError, (self.problems,)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")
