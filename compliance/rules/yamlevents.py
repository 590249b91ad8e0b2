"""The strict YAML tree built from libyaml's event stream (PyYAML's C extension).

About ten times faster than PyYAML's pure-Python parser. `read_events` returns
None for any text it does not read cleanly (a syntax error, an anchor, an alias,
a tag, a second document, a key that is a list or mapping, a tab or an unusual
line break, deep nesting) and where libyaml is missing: `yamlstrict` then reads
the text with the pure parser, whose result and wording are the reference. Both
give the same tree and the same problems (the property tests compare them).
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from compliance.errors import Problem
from compliance.rules.yamlvalues import YamlList, YamlMap, YamlScalar, YamlValue

__all__ = ["read_events"]

#: libyaml's parser (PyYAML's C extension), or None where PyYAML was built without it.
_CParser: Any
try:
    from yaml import _yaml

    _CParser = _yaml.CParser
except ImportError:
    _CParser = None


class _NotClean(Exception):
    """The fast reader met something it leaves to the reference reader."""


#: Text the fast reader leaves to the reference one: tabs, byte order marks past the start, and line
#: breaks other than \n and \r\n
#: (found with `in`, at memchr speed); explicit keys (`? key`), whose empty values libyaml marks
#: elsewhere; a comment straight after a block scalar's indicator (`|#`), which libyaml accepts and
#: PyYAML refuses. Characters YAML does not allow stop libyaml itself (its set is PyYAML's).
_ODD_CHARACTERS = ("\t", "\x85", "\u2028", "\u2029", "\ufeff")
_EXPLICIT_KEY = re.compile(r"(?:^|(?<=[\s\[{,]))\?(?:[\s\]},]|$)")
_INDICATOR_COMMENT = re.compile(r"[|>][-+0-9]*#")


def _leave_to_pure(text: str) -> bool:
    if any(character in text for character in _ODD_CHARACTERS):
        return True
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return True
    if "?" in text and _EXPLICIT_KEY.search(text):
        return True
    for indicator in ("|", ">"):
        at = text.find(indicator)
        while at >= 0:
            if _INDICATOR_COMMENT.match(text, at):
                return True
            at = text.find(indicator, at + 1)
    return False


#: Deeper than this, the reference reader decides (it refuses nesting beyond Python's recursion limit).
_MAX_FAST_DEPTH = 64


def read_events(text: str, path: str) -> tuple[YamlValue | None, list[Problem]] | None:
    """The tree from libyaml's events, or None where the reference reader must decide."""
    if _CParser is None or _leave_to_pure(text):
        return None
    try:
        parser = _CParser(text)
    except UnicodeEncodeError:  # a lone surrogate in a str: the reference reader words it
        return None
    try:
        return _build_from_events(parser, text, path)
    except (_NotClean, yaml.YAMLError):
        return None
    finally:
        parser.dispose()


def _build_from_events(parser: Any, text: str, path: str) -> tuple[YamlValue | None, list[Problem]]:
    """Build the tree as `_build` would from the composed nodes, reading each event once.

    The innermost open list or mapping lives in locals (`items`, `entries`, its mark and the
    pending key); the ones around it wait on `stack`. About twenty thousand events per
    thousand rules pass through this loop, so it does as little per event as it can.
    """
    get_event = parser.get_event
    comment_may_follow = text.startswith
    # Locals, not globals, in the loop.
    scalar_event, mapping_start, sequence_start = ScalarEvent, MappingStartEvent, SequenceStartEvent
    new_scalar, blanks = YamlScalar, _BLANKS
    problems: list[Problem] = []
    # The frames around the innermost one: (items, entries, line, column, pending key).
    stack: list[tuple[Any, ...]] = []
    items: list[YamlValue] | None = None  # the innermost open list
    entries: dict[str, tuple[YamlScalar, YamlValue]] | None = None  # the innermost open mapping
    key: YamlScalar | None = None  # in a mapping: its key, once read, until its value is
    line = column = 0
    root: YamlValue | None = None
    documents = 0
    value: YamlValue
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event:
            if event.anchor is not None or event.tag is not None:
                raise _NotClean
            mark = event.start_mark
            style = event.style or None
            if entries is not None and key is None:
                # In key position: a plain key, no comment.
                key = new_scalar(event.value, mark.line + 1, mark.column + 1, style)
                continue
            scalar = event.value
            comment = None
            if style is None and scalar:
                end = event.end_mark.index
                # A comment needs a space or tab first: one look at the next character, mostly.
                if comment_may_follow(blanks, end):
                    comment = _comment_at(text, end)
            value = new_scalar(scalar, mark.line + 1, mark.column + 1, style, comment)
        elif kind is mapping_start or kind is sequence_start:
            if event.anchor is not None or event.tag is not None:
                raise _NotClean
            if (entries is not None and key is None) or len(stack) >= _MAX_FAST_DEPTH:
                raise _NotClean  # a key that is a list or mapping; or deep nesting
            stack.append((items, entries, line, column, key))
            mark = event.start_mark
            line, column, key = mark.line + 1, mark.column + 1, None
            if kind is mapping_start:
                items, entries = None, {}
            else:
                items, entries = [], None
            continue
        elif kind is MappingEndEvent:
            assert entries is not None
            value = YamlMap(entries, line, column)
            items, entries, line, column, key = stack.pop()
        elif kind is SequenceEndEvent:
            assert items is not None
            value = YamlList(tuple(items), line, column)
            items, entries, line, column, key = stack.pop()
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _NotClean
            continue
        elif kind is StreamEndEvent:
            return root, problems
        elif kind is AliasEvent:
            raise _NotClean
        else:  # stream start, document end
            continue
        if items is not None:
            items.append(value)
            continue
        if entries is None:
            if isinstance(value, YamlScalar) and value.is_empty:
                raise _NotClean  # a document of nothing but "---": libyaml marks it elsewhere
            root = value
            continue
        assert key is not None
        first = entries.get(key.value)
        if first is not None:
            first_key = first[0]
            problems.append(
                Problem(
                    path,
                    key.line,
                    key.column,
                    "duplicate-key",
                    f'"{key.value}" is given twice in the same mapping (first at line {first_key.line}, column '
                    f"{first_key.column}); keep one of them.",
                )
            )
        else:
            entries[key.value] = (key, value)
        key = None


#: What a comment after a plain value starts with.
_BLANKS: Final = (" ", "\t")


def _comment_at(text: str, end: int) -> str | None:
    """The comment after a plain value that ends at `end` (as `_comment_after`, on the text itself)."""
    stop = text.find("\n", end)
    rest = text[end : stop if stop >= 0 else len(text)]
    stripped = rest.lstrip(" \t")
    if stripped.startswith("#") and len(stripped) < len(rest):
        return stripped.rstrip("\0\r")
    return None
