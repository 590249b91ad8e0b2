"""Bitsets the decision works out once and keeps: per span of time, and per set of covering rules.

`Span` is one span of time between rule boundaries: the rules in force and, per
reader's codes, the rules that reach them. `Cover` is one set of rules that covers
some pages (whatever the pages): its decisions per reader's codes, each with the
span of time it holds for, so a page seen for the first time whose covering rules
another page had costs no decision of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Generic, Protocol, TypeVar

from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules.model import ANONYMOUS, EVERYONE, UNIDENTIFIED, UNKNOWN, Rule

__all__ = ["SPARED", "Cover", "Span", "Timed"]

#: Jurisdictions' reach kept per span.
_REACH_KEPT: Final = 4096
#: The codes of readers a rule-set policy may spare from blocks.
SPARED: Final = frozenset({UNKNOWN, ANONYMOUS})

D = TypeVar("D")


class Timed(Protocol):
    """A compiled rule, as a span reads it."""

    def in_time(self, now: float) -> bool: ...

    @property
    def rule(self) -> Rule: ...

    def codes_at(self, now: float) -> tuple[frozenset[str], frozenset[str]]: ...


class Cover(Generic[D]):
    """A set of rules (bits) that covers some pages, and its decisions per reader's codes, each with the
    span of time it holds for."""

    __slots__ = ("bits", "decisions")

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.decisions: dict[frozenset[str], tuple[D, float, float]] = {}


class Span:
    """One span of time in which no rule starts or ends: the rules in force, and whom they reach."""

    __slots__ = ("_everyone", "_excepted", "_named", "_reach", "_sparing", "in_time")

    def __init__(self, by_bit: Sequence[Timed], now: float) -> None:
        self.in_time = 0
        self._everyone = 0
        #: Rules that spare unknown and anonymous readers unless they name them (a rule-set policy).
        self._sparing = 0
        self._named: dict[str, int] = {}
        self._excepted: dict[str, int] = {}
        for bit, c in enumerate(by_bit):
            flag = 1 << bit
            if c.in_time(now):
                self.in_time |= flag
            jurisdictions, excepted = c.codes_at(now)
            if EVERYONE in jurisdictions:
                self._everyone |= flag
            if c.rule.spares_unidentified:
                self._sparing |= flag
            for code in jurisdictions:
                self._named[code] = self._named.get(code, 0) | flag
            for code in excepted:
                self._excepted[code] = self._excepted.get(code, 0) | flag
        self._reach: dict[frozenset[str], int] = {}

    def reaching(self, jurisdiction: Jurisdiction) -> int:
        """The rules whose jurisdictions, less their exceptions, take in this reader."""
        codes = jurisdiction.codes
        found = self._reach.get(codes)
        if found is None:
            found = self._everyone
            excepted = 0
            for code in codes:
                found |= self._named.get(code, 0)
                excepted |= self._excepted.get(code, 0)
            if self._sparing and codes & SPARED:
                # As `_jurisdiction_ok`: a sparing rule reaches such a reader only where it names
                # one of the reader's unidentified codes.
                named = 0
                for code in codes & UNIDENTIFIED:
                    named |= self._named.get(code, 0)
                found = (found & ~self._sparing) | (named & self._sparing)
            found &= ~excepted
            if len(self._reach) >= _REACH_KEPT:
                self._reach.clear()
            self._reach[codes] = found
        return found
