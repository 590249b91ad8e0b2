"""Reading audit logs: the product's own JSON lines, bare or inside a log formatter's output.

A line is an audit event when it is the event's JSON object, when a prefix
(a timestamp, a level) comes before that object, or when the object is a field
of a JSON log formatter's output (`{"level": "INFO", "message": "{\\"event\\": ...}"}`,
or the fields themselves under a key). Other lines are counted and skipped.

Files are read one line at a time (gzip-ed ones too), so any size of log takes
the same memory; a rotated set (`audit.jsonl`, `audit.jsonl.1`, `audit.jsonl.2.gz`)
is read oldest first.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuditLine", "Reading", "parse_line", "read_events", "read_lines", "rotation_order"]

_ROTATED = re.compile(r"^(?P<base>.*?)(?:[.-](?P<n>\d+))?(?P<gz>\.gz)?$")
_EVENTS = frozenset({"decision", "checkpoint", "preview", "dropped"})


@dataclass(frozen=True, slots=True)
class AuditLine:
    path: str
    line: int
    record: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(slots=True)
class Reading:
    """What reading found besides the events: lines that are not audit events, and files that cannot be read."""

    lines: int = 0
    bytes: int = 0
    other_lines: int = 0
    unreadable: list[str] = field(default_factory=list)


def rotation_order(paths: Iterable[str]) -> list[str]:
    """Oldest first: within a rotated set, the highest number first and the file with no number last."""

    def key(path: str) -> tuple[str, int]:
        match = _ROTATED.match(os.path.basename(path))
        assert match is not None
        number = match.group("n")
        base = os.path.join(os.path.dirname(path), match.group("base"))
        return (base, -int(number) if number is not None else 1)

    given = list(paths)
    order = {path: index for index, path in enumerate(given)}
    groups: dict[str, list[str]] = {}
    for path in given:
        groups.setdefault(key(path)[0], []).append(path)
    result: list[str] = []
    for _, members in sorted(groups.items(), key=lambda item: min(order[p] for p in item[1])):
        result.extend(sorted(members, key=lambda p: key(p)[1]))
    return result


def _open(path: str) -> io.BufferedIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(path, "rb")
    return open(path, "rb")


def _event_of(value: Any, depth: int = 0) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if value.get("event") in _EVENTS and ("time" in value or "chain" in value):
            return value
        if depth < 2:
            for inner in value.values():
                if isinstance(inner, dict | str):
                    found = _event_of(inner, depth + 1)
                    if found is not None:
                        return found
        return None
    if isinstance(value, str) and depth > 0 and value.startswith("{") and '"event"' in value:
        try:
            return _event_of(json.loads(value), depth)
        except ValueError:
            return None
    return None


def parse_line(text: bytes) -> dict[str, Any] | None:
    """The audit event one line holds, or None."""
    start = text.find(b"{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    return _event_of(value)


def read_lines(paths: Iterable[str], reading: Reading) -> Iterator[tuple[str, int, bytes]]:
    """Every line of `paths`, in the order given, with its file and number."""
    for path in paths:
        try:
            handle = _open(path)
        except OSError as error:
            reading.unreadable.append(f"{path}: {error.strerror or error}")
            continue
        try:
            with handle:
                for number, raw in enumerate(handle, 1):
                    reading.lines += 1
                    reading.bytes += len(raw)
                    yield path, number, raw
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            reading.unreadable.append(f"{path}: {error}")


def read_events(paths: Iterable[str], reading: Reading) -> Iterator[AuditLine]:
    """Every audit event of `paths`, in the order given, with its file and line."""
    for path, number, raw in read_lines(paths, reading):
        record = parse_line(raw)
        if record is None:
            if raw.strip():
                reading.other_lines += 1
            continue
        yield AuditLine(path, number, record)
