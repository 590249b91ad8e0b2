"""The `expect` of a test case: what the reader must (and must not) get.

    expect:
      notices: [undesirable-organization]   # the exact set of notices shown
      includes: [imprint]                   # these are shown, whatever else is
      excludes: [foreign-agent]             # these are not shown
      order: [undesirable-organization, imprint]   # these, in this order where they share a place
      status: 200
      language: en
      contains: ["What this means for you"]
      lacks: ["https://www.rt.com/"]          # the page's text (its HTML) holds none of these

Read by `compliance.cli.cases` with the same strict reader; every problem is
reported with its file, line and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from compliance.rules.load import check_language
from compliance.rules.model import Location
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue

__all__ = ["EXPECT_KEYS", "Expect", "describe", "read_expect"]

EXPECT_KEYS: Final = ("notices", "includes", "excludes", "order", "status", "language", "contains", "lacks")
#: The fields that name notices, each a list of notice ids.
_ID_LISTS: Final = ("notices", "includes", "excludes", "order")

_NOTICE_ID = re.compile(r"[a-z0-9-]+\Z")
_STATUS = re.compile(r"[1-5][0-9][0-9]\Z")

Report = Callable[[YamlValue, str, str], None]


@dataclass(frozen=True, slots=True)
class Expect:
    """What a case expects; None (or empty) where it expects nothing of that."""

    notices: frozenset[str] | None = None
    status: int | None = None
    language: str | None = None
    contains: tuple[str, ...] = ()
    #: Where each notice id the case names was written, to point at an unknown one.
    notice_locations: tuple[tuple[str, Location], ...] = ()
    includes: frozenset[str] = frozenset()
    excludes: frozenset[str] = frozenset()
    order: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()


def describe(value: YamlValue) -> str:
    if isinstance(value, YamlList):
        return "a list"
    if isinstance(value, YamlMap):
        return "a mapping"
    return f'the text "{value.value}"'


def _at(node: YamlMap, key: str) -> YamlValue:
    return node.get(key) or node


def _text(node: YamlMap, key: str, error: Report) -> YamlScalar | None:
    value = node.get(key)
    if value is None or (isinstance(value, YamlScalar) and value.is_empty):
        return None
    if not isinstance(value, YamlScalar):
        error(value, "bad-type", f'"{key}" of an expectation needs text, not {describe(value)}.')
        return None
    return value


def _ids(node: YamlValue, key: str, path: str, error: Report, where: list[tuple[str, Location]]) -> list[str] | None:
    if isinstance(node, YamlScalar) and node.is_empty:
        error(node, "bad-type", f'"{key}" needs a list of notice ids; write [] for none.')
        return None
    if not isinstance(node, YamlList):
        hint = f" [{node.value}]" if isinstance(node, YamlScalar) else " [notice-id]"
        error(node, "bad-type", f'"{key}" needs a list of notice ids, in brackets even for one:{hint}.')
        return None
    ids: list[str] = []
    ok = True
    for item in node:
        if not isinstance(item, YamlScalar) or not _NOTICE_ID.match(item.value):
            error(item, "bad-notice", f'Each entry of "{key}" is a notice id, such as undesirable-organization.')
            ok = False
            continue
        ids.append(item.value)
        where.append((item.value, Location(path, item.line, item.column)))
    return ids if ok else None


def read_expect(node: YamlMap, what: str, path: str, error: Report) -> Expect | None:
    """The expectation `node`, or None after reporting each of its problems through `error`."""
    ok = True
    for name, _ in node.items():
        if name.value not in EXPECT_KEYS:
            ok = False
            error(
                name,
                "unknown-key",
                f'"{name.value}" is not a field of an expectation; an expectation has: {", ".join(EXPECT_KEYS)}.',
            )
    if not any(key in node for key in EXPECT_KEYS):
        error(node, "missing-field", f'The "expect" of {what} expects nothing; give at least "notices" or "includes".')
        ok = False
    where: list[tuple[str, Location]] = []
    lists: dict[str, list[str]] = {}
    for key in _ID_LISTS:
        value = node.get(key)
        if value is None:
            continue
        ids = _ids(value, key, path, error, where)
        if ids is None:
            ok = False
        else:
            lists[key] = ids
    notices = frozenset(lists["notices"]) if "notices" in lists else None
    includes = frozenset(lists.get("includes", ()))
    excludes = frozenset(lists.get("excludes", ()))
    order = tuple(lists.get("order", ()))
    both = sorted(includes & excludes)
    if both:
        error(
            _at(node, "excludes"),
            "contradiction",
            f'"{both[0]}" is both in "includes" and in "excludes" of {what}; a notice cannot be shown and not shown.',
        )
        ok = False
    if notices is not None:
        for key, given in (("includes", includes), ("order", frozenset(order))):
            if given - notices:
                error(
                    _at(node, key),
                    "contradiction",
                    f'"{sorted(given - notices)[0]}" is in "{key}" but not in "notices" of {what}, '
                    "which lists every notice shown.",
                )
                ok = False
        if excludes & notices:
            error(
                _at(node, "excludes"),
                "contradiction",
                f'"{sorted(excludes & notices)[0]}" is both in "notices" and in "excludes" of {what}.',
            )
            ok = False
    if "order" in lists:
        if len(order) < 2:
            error(_at(node, "order"), "bad-order", '"order" lists at least two notice ids, the first one shown first.')
            ok = False
        elif len(set(order)) != len(order):
            error(_at(node, "order"), "bad-order", '"order" names each notice once.')
            ok = False
    status: int | None = None
    status_node = _text(node, "status", error)
    if status_node is not None:
        if not _STATUS.match(status_node.value):
            error(status_node, "bad-status", f'"{status_node.value}" is not an HTTP status such as 200 or 451.')
            ok = False
        else:
            status = int(status_node.value)
    language: str | None = None
    language_value = node.get("language")
    tags: list[YamlScalar] = []
    if isinstance(language_value, YamlList):
        tags = [item for item in language_value if isinstance(item, YamlScalar) and item.value]
        if not tags or len(tags) != len(language_value):
            error(language_value, "bad-type", '"language" is one language tag (en), or a list of them ([ru, en]).')
            ok = False
    else:
        language_node = _text(node, "language", error)
        tags = [language_node] if language_node is not None else []
    for tag in tags:
        problem = check_language(tag.value)
        if problem is not None:
            error(tag, "bad-language", problem)
            ok = False
    if tags:
        # A notice shown in several languages (a rule's `languages: [ru, en]`) reads as "ru, en", in order.
        language = ", ".join(tag.value for tag in tags)
    texts: dict[str, list[str]] = {"contains": [], "lacks": []}
    for key, what_of in (("contains", "must contain"), ("lacks", "must not contain")):
        texts_node = node.get(key)
        if texts_node is None:
            continue
        if isinstance(texts_node, YamlScalar) and not texts_node.is_empty:
            texts[key].append(texts_node.value)
        elif isinstance(texts_node, YamlList):
            for item in texts_node:
                if isinstance(item, YamlScalar) and item.value:
                    texts[key].append(item.value)
                else:
                    error(item, "bad-type", f'Each entry of "{key}" is the text the page {what_of}.')
                    ok = False
        else:
            error(texts_node, "bad-type", f'"{key}" needs a list of texts the page {what_of}.')
            ok = False
    if not ok:
        return None
    contains, lacks = tuple(texts["contains"]), tuple(texts["lacks"])
    return Expect(notices, status, language, contains, tuple(where), includes, excludes, order, lacks)
