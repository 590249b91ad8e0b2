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
    """Build the tree as `_build` would from the composed nodes, reading each event once."""
    get_event = parser.get_event
    problems: list[Problem] = []
    # A frame: [YamlMap entries or list items, line, column, the pending key (maps only)].
    stack: list[list[Any]] = []
    root: YamlValue | None = None
    documents = 0
    while True:
        event = get_event()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotClean
            mark = event.start_mark
            style = event.style or None
            if stack and stack[-1][3] is _KEY:
                # In key position: a plain key, no comment.
                stack[-1][3] = YamlScalar(event.value, mark.line + 1, mark.column + 1, style)
                continue
            comment = None
            if style is None and event.value:
                comment = _comment_at(text, event.end_mark.index)
            value: YamlValue = YamlScalar(event.value, mark.line + 1, mark.column + 1, style, comment)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotClean
            if (stack and stack[-1][3] is _KEY) or len(stack) >= _MAX_FAST_DEPTH:
                raise _NotClean  # a key that is a list or mapping; or deep nesting
            mark = event.start_mark
            if kind is MappingStartEvent:
                stack.append([{}, mark.line + 1, mark.column + 1, _KEY])
            else:
                stack.append([[], mark.line + 1, mark.column + 1, None])
            continue
        elif kind is MappingEndEvent:
            entries, line, column, _ = stack.pop()
            value = YamlMap(entries, line, column)
        elif kind is SequenceEndEvent:
            items, line, column, _ = stack.pop()
            value = YamlList(tuple(items), line, column)
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
        if not stack:
            if isinstance(value, YamlScalar) and value.is_empty:
                raise _NotClean  # a document of nothing but "---": libyaml marks it elsewhere
            root = value
            continue
        frame = stack[-1]
        key = frame[3]
        if key is None:
            frame[0].append(value)
            continue
        entries = frame[0]
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
        frame[3] = _KEY


#: The pending key of a map frame when the next scalar is a key.
_KEY: Final = object()


def _comment_at(text: str, end: int) -> str | None:
    """The comment after a plain value that ends at `end` (as `_comment_after`, on the text itself)."""
    stop = text.find("\n", end)
    rest = text[end : stop if stop >= 0 else len(text)]
    stripped = rest.lstrip(" \t")
    if stripped.startswith("#") and len(stripped) < len(rest):
        return stripped.rstrip("\0\r")
    return None
