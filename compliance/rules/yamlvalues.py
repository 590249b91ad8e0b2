"""The values of the strict YAML reader: scalars, lists and mappings, each with its line and column."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["YamlList", "YamlMap", "YamlScalar", "YamlValue", "to_python"]


# Not `frozen`: a rule file makes tens of thousands of values, and a frozen dataclass's `__init__`
# costs three times a plain one's. Values are never changed once read; `unsafe_hash` keeps them
# hashable by value as frozen ones are.
@dataclass(slots=True, unsafe_hash=True)
class YamlScalar:
    """A scalar, always as the text written. `style` is None for a plain (unquoted) value."""

    value: str
    line: int
    column: int
    style: str | None = None
    #: For a plain value: the comment that follows it on the same line ("# 2026/1234"), which YAML drops.
    comment: str | None = None

    @property
    def is_empty(self) -> bool:
        """True where nothing was written after the key (`key:`), as opposed to `key: ""`."""
        return self.style is None and self.value == ""


@dataclass(slots=True, unsafe_hash=True)
class YamlList:
    items: tuple[YamlValue, ...]
    line: int
    column: int

    def __iter__(self) -> Iterator[YamlValue]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(slots=True, unsafe_hash=True)
class YamlMap:
    """A mapping in the order written. `entries` maps each key to (the key as written, the value)."""

    entries: dict[str, tuple[YamlScalar, YamlValue]] = field(default_factory=dict)
    line: int = 1
    column: int = 1

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> YamlValue | None:
        entry = self.entries.get(key)
        return None if entry is None else entry[1]

    def key(self, key: str) -> YamlScalar:
        return self.entries[key][0]

    def items(self) -> Iterator[tuple[YamlScalar, YamlValue]]:
        return iter(self.entries.values())


YamlValue = YamlScalar | YamlList | YamlMap


def to_python(value: YamlValue | None) -> object:
    """Plain Python values: str, list and dict (the marks are dropped)."""
    if value is None:
        return None
    if isinstance(value, YamlScalar):
        return value.value
    if isinstance(value, YamlList):
        return [to_python(item) for item in value.items]
    return {key: to_python(item) for key, (_, item) in value.entries.items()}
