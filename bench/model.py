"""The benchmark's results: sections of rows, each row maybe held to a target."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Row", "Section", "Target", "fmt"]


@dataclass(frozen=True)
class Target:
    """`value op limit` must hold: `<=` for costs, `>=` for throughput and ratios."""

    op: Literal["<=", ">=", "<", ">"]
    limit: float
    unit: str = ""

    def met(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.limit
        if self.op == ">=":
            return value >= self.limit
        return value < self.limit if self.op == "<" else value > self.limit

    def __str__(self) -> str:
        sign = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}[self.op]
        return f"{sign} {self.limit:g}{(' ' + self.unit) if self.unit else ''}"


@dataclass
class Row:
    name: str
    #: Formatted cells, by column name (the section's columns other than scenario, target, result).
    cells: dict[str, str]
    #: The figure held to the target (in the target's unit), if any.
    value: float | None = None
    target: Target | None = None
    note: str = ""
    #: Raw figures, for results.json.
    data: dict[str, Any] = field(default_factory=dict)
    #: Why this row does not measure what it is named for (then it is held to no target).
    invalid: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None or self.invalid:
            return None
        return self.target.met(self.value)

    @property
    def result(self) -> str:
        if self.invalid and self.target is not None:
            return f"not judged: {self.invalid}"
        met = self.met
        return "" if met is None else "met" if met else "**missed**"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        target = data.get("target")
        return cls(
            data["name"],
            data["cells"],
            value=data.get("value"),
            target=None if target is None else Target(target["op"], target["limit"], target.get("unit", "")),
            note=data.get("note", ""),
            data=data.get("data", {}),
            invalid=data.get("invalid") or "",
        )

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "cells": self.cells, "value": self.value, "note": self.note, "data": self.data}
        out["invalid"] = self.invalid or None
        out["target"] = None if self.target is None else {**asdict(self.target), "text": str(self.target)}
        out["met"] = self.met
        return out


@dataclass
class Section:
    key: str
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    @property
    def has_targets(self) -> bool:
        return any(row.target is not None for row in self.rows)

    def markdown(self) -> str:
        headers = ["scenario", *self.columns] + (["target", "result"] if self.has_targets else [])
        lines = ["| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * len(self.columns)]
        if self.has_targets:
            lines[1] += " --- | --- |"
        for row in self.rows:
            cells = [row.name + (f" ({row.note})" if row.note else ""), *(row.cells.get(c, "") for c in self.columns)]
            if self.has_targets:
                cells += [str(row.target) if row.target else "", row.result]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    @classmethod
    def from_json(cls, key: str, data: dict[str, Any]) -> Section:
        rows = [Row.from_json(r) for r in data["rows"]]
        return cls(key, data["title"], data["columns"], rows, data.get("notes", []))

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": [r.to_json() for r in self.rows],
            "notes": self.notes,
        }


def fmt(value: float) -> str:
    """A figure with about three significant digits, no exponent."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.001:
        return f"{value:.3g}"
    return "0" if value == 0 else f"{value:.1e}"
