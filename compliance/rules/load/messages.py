"""The sentences of problems: where they are collected, and the phrases several parts share."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time

from compliance.errors import Problem, Severity
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlValue

__all__ = ["Sink", "describe", "moment_words", "quoted_list", "rule_name", "sentences", "suggest"]


@dataclass
class Sink:
    """Every problem found in one load, in the order found."""

    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        path: str,
        line: int,
        column: int,
        code: str,
        message: str,
        severity: Severity = "error",
        rule_id: str | None = None,
    ) -> None:
        self.problems.append(Problem(path, line, column, code, message, severity, rule_id))


def describe(value: YamlValue) -> str:
    if isinstance(value, YamlList):
        return "a list"
    if isinstance(value, YamlMap):
        return "a mapping (key: value lines)"
    return f'the text "{value.value}"'


def suggest(word: str, choices: Iterable[str]) -> str:
    """'did you mean "x"?' for a close match, or ''."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    if word.lower() in lowered:
        return f'did you mean "{lowered[word.lower()]}"?'
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""


def sentences(first: str, hint: str, rest: str = "") -> str:
    """`first` and the hint in one sentence ("...; did you mean "x"?"), then `rest`."""
    text = f"{first}; {hint}" if hint else f"{first}."
    return f"{text} {rest}" if rest else text


def quoted_list(words: Iterable[str]) -> str:
    return ", ".join(f'"{word}"' for word in words)


def rule_name(name: str | None) -> str:
    return f'The rule "{name}"' if name else "This rule"


def moment_words(moment: datetime) -> str:
    """A rule's `from` or `until` as messages write it: the date alone at midnight."""
    if moment.time() == time(0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")
