"""What readers were shown: audit events counted per day, rule, jurisdiction and outcome.

One pass over the events, keeping only the counts: memory grows with the number
of distinct (day, rule, jurisdiction, outcome) rows, never with the size of the logs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from compliance.cli.audit_read import parse_line

__all__ = ["Row", "Summary", "summarize"]

#: Row key: day, rule, notice, jurisdiction, outcome, why.
Key = tuple[str, str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class Row:
    day: str
    rule: str
    notice: str
    jurisdiction: str
    outcome: str
    why: str
    count: int


@dataclass(frozen=True, slots=True)
class Summary:
    rows: tuple[Row, ...]
    events: int
    first: str | None
    last: str | None

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["day", "rule", "notice", "jurisdiction", "outcome", "why", "count"])
        for row in self.rows:
            writer.writerow([row.day, row.rule, row.notice, row.jurisdiction, row.outcome, row.why, row.count])
        return out.getvalue()

    def json(self) -> str:
        document = {
            "events": self.events,
            "from": self.first,
            "until": self.last,
            "rows": [
                {
                    "day": r.day,
                    "rule": r.rule,
                    "notice": r.notice,
                    "jurisdiction": r.jurisdiction,
                    "outcome": r.outcome,
                    "why": r.why or None,
                    "count": r.count,
                }
                for r in self.rows
            ],
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _jurisdiction(value: Any) -> str:
    if not isinstance(value, dict):
        return "unknown"
    where = value.get("subdivision") or value.get("country")
    if not isinstance(where, str) or not where:
        return "anonymous" if value.get("anonymous") else "unknown"
    return f"{where} (anonymous)" if value.get("anonymous") else where


class _Fast:
    """The fields a summary needs, cut out of a bare decision line without parsing all of it.

    An event's `jurisdiction` and `rules` repeat from line to line, so each distinct
    text of them is parsed once; a line the cut does not fit (a log formatter's
    output, another key order) is parsed whole.
    """

    def __init__(self) -> None:
        self.parsed: dict[bytes, Any] = {}
        self.places: dict[bytes, str] = {}

    def _place(self, text: bytes) -> str:
        found = self.places.get(text)
        if found is None:
            found = _jurisdiction(json.loads(text))
            if len(self.places) < 65536:
                self.places[text] = found
        return found

    def _value(self, text: bytes) -> Any:
        found = self.parsed.get(text, _MISSING)
        if found is _MISSING:
            found = json.loads(text)
            if len(self.parsed) < 65536:
                self.parsed[text] = found
        return found

    def fields(self, raw: bytes) -> tuple[float, str, Any] | None:
        if b'"event":"decision"' not in raw:
            return None
        at = raw.find(b'"time":')
        j = raw.find(b'"jurisdiction":{')
        r = raw.find(b'"rules":[')
        if at < 0 or j < 0 or r < 0:
            return None
        end = raw.find(b",", at)
        j_end = raw.find(b"}", j)
        r_end = raw.find(b"]", r)
        while r_end > 0 and raw[r_end + 1 : r_end + 2] not in (b",", b"}"):
            r_end = raw.find(b"]", r_end + 1)
        if end < 0 or j_end < 0 or r_end < 0:
            return None
        try:
            return float(raw[at + 7 : end]), self._place(raw[j + 15 : j_end + 1]), self._value(raw[r + 8 : r_end + 1])
        except ValueError:
            return None


_MISSING: Any = object()


def summarize(lines: Iterable[bytes], start: float | None = None, until: float | None = None) -> Summary:
    """The counts of the decision events among `lines` (raw audit log lines), between `start` and `until`."""
    counts: dict[Key, int] = {}
    days: dict[int, str] = {}
    seen = 0
    first: float | None = None
    last: float | None = None
    fast = _Fast()
    for raw in lines:
        got = fast.fields(raw)
        if got is None:
            record = parse_line(raw)
            if record is None or record.get("event") != "decision" or not isinstance(record.get("time"), int | float):
                continue
            got = (float(record["time"]), _jurisdiction(record.get("jurisdiction")), record.get("rules"))
        moment, where, rules = got
        if (start is not None and moment < start) or (until is not None and moment >= until):
            continue
        seen += 1
        if first is None or moment < first:
            first = moment
        if last is None or moment > last:
            last = moment
        index = int(moment // 86400)
        day = days.get(index)
        if day is None:
            day = days[index] = datetime.fromtimestamp(index * 86400, UTC).date().isoformat()
        for entry in rules or ():
            if not isinstance(entry, dict):
                continue
            outcome = str(entry.get("outcome", ""))
            why = str(entry.get("why", "")) if outcome in ("missed", "not-applicable") else ""
            key = (day, str(entry.get("rule", "")), str(entry.get("notice", "")), where, outcome, why)
            counts[key] = counts.get(key, 0) + 1
    rows = tuple(Row(*key, count) for key, count in sorted(counts.items()))
    return Summary(rows, seen, _iso(first), _iso(last))


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
