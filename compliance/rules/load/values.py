"""The shapes of values in a rule file: text, lists, choices, dates and ids, each checked where it is read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from functools import cache
from typing import TypeVar

from compliance.rules.load.messages import describe, quoted_list, sentences, suggest
from compliance.rules.load.state import Loader
from compliance.rules.yamlstrict import YamlMap, YamlScalar, YamlValue

__all__ = ["FileReader"]

_T = TypeVar("_T")

_ID = re.compile(r"[a-z0-9-]+\Z")
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\Z"
)


@cache
def _key_set(allowed: tuple[str, ...]) -> frozenset[str]:
    return frozenset(allowed)


class FileReader:
    """One file being read: where its problems go (its path, the rule being read) and how values are read."""

    def __init__(self, loader: Loader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.rule_id: str | None = None

    def error(self, at: YamlValue, code: str, message: str) -> None:
        self.loader.sink.add(self.path, at.line, at.column, code, message, "error", self.rule_id)

    def warning(self, at: YamlValue, code: str, message: str) -> None:
        self.loader.sink.add(self.path, at.line, at.column, code, message, "warning", self.rule_id)

    def check_keys(self, node: YamlMap, allowed: Sequence[str], what: str) -> None:
        if not node.entries.keys() - _key_set(tuple(allowed)):
            return  # (every key known: one set operation, where most mappings end)
        for key, _ in node.items():
            if key.value not in allowed:
                hint = suggest(key.value, allowed)
                self.error(
                    key,
                    "unknown-key",
                    sentences(
                        f'"{key.value}" is not a field of {what}',
                        hint,
                        f"{what[0].upper()}{what[1:]} has: {', '.join(allowed)}.",
                    ),
                )

    def optional(self, node: YamlMap, key: str) -> YamlValue | None:
        """The value of `key`, or None where it is absent or nothing is written after it."""
        entry = node.entries.get(key)  # (what `node.get` does, without a call: most keys are absent)
        if entry is None:
            return None
        value = entry[1]
        if isinstance(value, YamlScalar) and value.style is None and not value.value:  # `is_empty`
            return None
        return value

    def required(self, node: YamlMap, key: str, at: YamlValue, what: str, example: str) -> YamlValue | None:
        value = self.optional(node, key)
        if value is None:
            where: YamlValue = node.key(key) if key in node else at
            self.error(where, "missing-field", f'{what} has no "{key}"; it needs one ({example}).')
        return value

    def text(self, value: YamlValue, field_name: str) -> str | None:
        if not isinstance(value, YamlScalar):
            self.error(value, "bad-type", f'"{field_name}" needs text, not {describe(value)}.')
            return None
        if not value.value.strip():
            self.error(value, "empty-value", f'"{field_name}" is empty; write its text, or leave the field out.')
            return None
        return value.value

    def strings(self, value: YamlValue, field_name: str, example: str) -> tuple[list[YamlScalar], bool] | None:
        """The text entries of a list, and whether every entry was text; None where `value` is not a list."""
        if isinstance(value, YamlScalar):
            one = value.value if _PLAIN_SAFE.match(value.value) else f'"{value.value}"'
            self.error(
                value,
                "bad-type",
                f'"{field_name}" needs a list, such as {example}; to give one value, write it in brackets: [{one}].'
                if value.value
                else f'"{field_name}" needs a list, such as {example}.',
            )
            return None
        if isinstance(value, YamlMap):
            self.error(value, "bad-type", f'"{field_name}" needs a list, such as {example}, not {describe(value)}.')
            return None
        for item in value.items:  # (a loop, not `all`: no generator per list)
            if type(item) is not YamlScalar:
                break
        else:  # the usual list: text entries only
            return list(value.items), True  # type: ignore[arg-type]
        items: list[YamlScalar] = []
        for item in value:
            if isinstance(item, YamlScalar):
                items.append(item)
            else:
                self.error(
                    item, "bad-type", f'Each entry of "{field_name}" is text, such as {example}, not {describe(item)}.'
                )
        return items, len(items) == len(value)

    def choice(self, value: YamlValue, field_name: str, choices: Sequence[_T]) -> _T | None:
        text = self.text(value, field_name)
        if text is None:
            return None
        for choice in choices:
            if choice == text:
                return choice
        hint = suggest(text, [str(choice) for choice in choices])
        self.error(
            value,
            f"bad-{field_name}",
            sentences(
                f'"{text}" is not a valid "{field_name}"', hint, f"It is one of {quoted_list(map(str, choices))}."
            ),
        )
        return None

    def date_value(self, value: YamlValue, field_name: str) -> date | None:
        text = self.text(value, field_name)
        if text is None:
            return None
        if _DATE.match(text):
            try:
                return date.fromisoformat(text)
            except ValueError as error:
                self.error(value, "bad-date", f'"{text}" is not a real date ({error}).')
                return None
        self.error(value, "bad-date", f'"{text}" is not a date; write dates as YYYY-MM-DD, such as 2027-06-30.')
        return None

    def moment(self, value: YamlValue, field_name: str) -> datetime | None:
        text = self.text(value, field_name)
        if text is None:
            return None
        known = self.loader.moments.get(text)
        if known is not None:
            return known
        moment = self._moment(value, text)
        if moment is not None:
            self.loader.moments[text] = moment
        return moment

    def _moment(self, value: YamlValue, text: str) -> datetime | None:
        if _DATE.match(text) or _DATETIME.match(text):
            try:
                if _DATE.match(text):
                    return datetime.combine(date.fromisoformat(text), time(0), UTC)
                moment = datetime.fromisoformat(text.upper().replace(",", "."))
            except ValueError as error:
                self.error(value, "bad-date", f'"{text}" is not a real date or time ({error}).')
                return None
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        self.error(
            value,
            "bad-date",
            f'"{text}" is not a date; write a date as YYYY-MM-DD (2024-08-20, midnight UTC) or a date and time '
            "in ISO 8601 (2024-08-20T09:00:00+03:00; UTC where no offset is given).",
        )
        return None

    def check_id(self, key: YamlScalar, what: str) -> bool:
        word = key.value
        if _ID.match(word):
            return True
        fixed = re.sub(r"[^a-z0-9-]", "", re.sub(r"[\s_]+", "-", word.strip().lower()))
        hint = f' Did you mean "{fixed}"?' if fixed and fixed != word else ""
        self.error(key, "bad-id", f'"{word}" is not a valid {what}: use lowercase letters, digits and "-" only.{hint}')
        return False
