"""A strict YAML reader for rule and case files.

PyYAML composes the text into nodes (so every value keeps its line and column);
this module turns the nodes into a small tree of `YamlScalar`, `YamlList` and
`YamlMap` values, each with a 1-based line and column. It refuses what a rule file
has no use for and what makes YAML surprising:

* every scalar stays a string: `NO` is Norway, `on`/`yes`/`off` are words and
  `2024-08-20` is text until a schema asks for a date;
* anchors and aliases (`&x`, `*x`), which also allow expansion bombs;
* tags (`!!python/object`, `!foo`, even `!!str`);
* a key given twice in one mapping, and keys that are lists or mappings;
* more than one document in a file;
* files that are not UTF-8 (a byte order mark is fine).

An empty file (or one with only comments) reads as `None`.

Where PyYAML has its C extension (libyaml), the tree is built straight from
libyaml's event stream, about ten times faster than PyYAML's own parser. Any text
that path does not read cleanly (a syntax error, an anchor, an alias, a tag, a
second document, a key that is a list or mapping, a tab or an unusual line break,
deep nesting) is read again by PyYAML's pure-Python parser, whose result and
wording are the reference: both paths give the same tree and the same problems.
"""

from __future__ import annotations

import re

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compliance.errors import Problem
from compliance.rules.yamlevents import read_events
from compliance.rules.yamlvalues import YamlList, YamlMap, YamlScalar, YamlValue, to_python

__all__ = ["YamlList", "YamlMap", "YamlScalar", "YamlValue", "read_yaml", "to_python"]

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


class _Refused(Exception):
    def __init__(self, code: str, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.line = line
        self.column = column
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that stops at the first anchor, alias or tag, before anything is expanded."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line, column = event.start_mark.line + 1, event.start_mark.column + 1
        if isinstance(event, AliasEvent):
            raise _Refused(
                "alias",
                line,
                column,
                f'"*{event.anchor}" is a YAML alias (a reference to a value written elsewhere). Rule files do not '
                "use anchors or aliases; write the value out in full. A value that starts with * must be quoted, "
                'such as "*".',
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _Refused(
                "alias",
                line,
                column,
                f'"&{event.anchor}" is a YAML anchor. Rule files do not use anchors or aliases; write each value '
                "out in full. A value that starts with & must be quoted.",
            )
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.tag is not None:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise _Refused(
                "tag",
                line,
                column,
                f'"{tag}" is a YAML tag. Rule files do not use tags; write the value alone (in quotes if it '
                "starts with !).",
            )
        return super().compose_node(parent, index)


def read_yaml(data: bytes | str, path: str) -> tuple[YamlValue | None, list[Problem]]:
    """Read one YAML document strictly.

    Returns the value (None for an empty file) and the problems found. Where the text
    cannot be read at all (bad encoding, a syntax error, an alias, a tag, a second
    document) the value is None and there is one problem. Duplicate and non-text keys
    are reported all at once; the first occurrence of a duplicated key is kept.
    """
    if isinstance(data, bytes):
        text_or_problem = _decode(data, path)
        if isinstance(text_or_problem, Problem):
            return None, [text_or_problem]
        text = text_or_problem
    else:
        text = data
    text = text.removeprefix("\ufeff")
    fast = read_events(text, path)
    if fast is not None:
        return fast
    return _read_pure(text, path)


def _read_pure(text: str, path: str) -> tuple[YamlValue | None, list[Problem]]:
    """The reference reader: PyYAML's pure-Python parser, and the wording of every refusal."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
    except _Refused as refused:
        return None, [Problem(path, refused.line, refused.column, refused.code, refused.message)]
    except yaml.reader.ReaderError as error:
        line, column = _line_column(text, error.position)
        character = error.character
        number = ord(character) if isinstance(character, str) else int(character)
        message = f"The file contains the control character U+{number:04X}, which YAML does not allow; remove it."
        return None, [Problem(path, line, column, "bad-character", message)]
    except yaml.MarkedYAMLError as error:
        return None, [_quoted_start(error, text, path) or _syntax_problem(error, path)]
    except RecursionError:
        return None, [Problem(path, 1, 1, "yaml-syntax", "The file is nested too deeply to be a rule file.")]
    if node is None:
        return None, []
    problems: list[Problem] = []
    try:
        value = _build(node, path, problems)
    except RecursionError:
        return None, [Problem(path, 1, 1, "yaml-syntax", "The file is nested too deeply to be a rule file.")]
    return value, problems


def _decode(data: bytes, path: str) -> str | Problem:
    for bom, name in _OTHER_BOMS.items():
        if data.startswith(bom):
            return Problem(path, 1, 1, "encoding", f"The file is saved as {name}; save it as UTF-8.")
    try:
        return data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as error:
        offset = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
        before = data[offset : error.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        byte = data[error.start]
        return Problem(
            path,
            line,
            column,
            "encoding",
            f"The file is not UTF-8: the byte 0x{byte:02X} here is not valid UTF-8 (the file may have been saved "
            "as Latin-1 or Windows-1252); save it as UTF-8.",
        )


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


# PyYAML's problem text (start of it) -> a plain sentence.
_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    (
        "found character '\\t' that cannot start any token",
        "A tab is used for indentation here; YAML is indented with spaces only.",
    ),
    (
        "found character '@' that cannot start any token",
        'A value that starts with "@" must be in quotes: write "@EU" or "@group-name", not @EU.',
    ),
    (
        "found character '`' that cannot start any token",
        "A value that starts with ` must be in quotes.",
    ),
    (
        "found character '%' that cannot start any token",
        'A value that starts with "%" must be in quotes.',
    ),
    (
        "expected alphabetic or numeric character",
        'A value that starts with "*" or "&" must be in quotes: write "*" for every reader.',
    ),
    (
        "mapping values are not allowed here",
        'A colon followed by a space (": ") appears where no new key can start. Put the value in quotes if it '
        'contains ": ", or check the indentation of this line.',
    ),
    (
        "could not find expected ':'",
        'A line here should read "key: value" but has no colon, or a value runs on without quotes; check the '
        "indentation and the colons.",
    ),
    (
        "found unexpected end of stream",
        "A quoted value is not closed: the file ends before its closing quote.",
    ),
    (
        "found unknown escape character",
        'A backslash in double quotes starts an unknown escape; use single quotes, or write "\\\\" for a backslash.',
    ),
    (
        "expected ',' or ']'",
        "A list in brackets [ ] is not closed, or two of its items have no comma between them.",
    ),
    (
        "expected ',' or '}'",
        "A mapping in braces { } is not closed, or two of its entries have no comma between them.",
    ),
    (
        "expected <block end>",
        "The indentation is inconsistent here: this line is indented differently from the lines it belongs with.",
    ),
    (
        "did not find expected key",
        "The indentation is inconsistent here: this line is indented differently from the lines it belongs with.",
    ),
    (
        "did not find expected '-' indicator",
        'The indentation is inconsistent here: items of a list each start with "- " at the same column.',
    ),
    (
        "found a tab character",
        "A tab is used for indentation here; YAML is indented with spaces only.",
    ),
)


_QUOTED_START = re.compile(
    r"""^\s*(?:-\s+)?[^\s:#'"][^:#]*:\s+(?P<value>(?P<q>["'])(?:(?!(?P=q)).)*(?P=q)\s*[^\s,#\]}].*?)\s*$"""
)


def _quoted_start(error: yaml.MarkedYAMLError, text: str, path: str) -> Problem | None:
    """A value that starts with a quote and goes on after the closing quote: `title: "Foreign agent" label`."""
    mark = error.problem_mark
    if mark is None:
        return None
    lines = text.splitlines()
    for index in (mark.line, mark.line - 1):
        if not 0 <= index < len(lines):
            continue
        match = _QUOTED_START.match(lines[index])
        if match is None:
            continue
        value = match.group("value")
        other = "'" if match.group("q") == '"' else '"'
        quoted = other + value.replace(other, other * 2) if other == "'" else other + value.replace('"', '\\"')
        return Problem(
            path,
            index + 1,
            match.start("value") + 1,
            "yaml-syntax",
            f"This value starts with a quote, so YAML reads it as ending at the closing quote, and the text after "
            f"that cannot follow it. Put the whole value in quotes of the other kind: {quoted}{other}.",
        )
    return None


def _syntax_problem(error: yaml.MarkedYAMLError, path: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if isinstance(error, yaml.composer.ComposerError) and error.context == "expected a single document in the stream":
        return Problem(
            path,
            line,
            column,
            "multiple-documents",
            'A second YAML document starts here ("---"); a rule file holds one document. Put it in a file of its own.',
        )
    problem = error.problem or error.context or "unreadable"
    for start, hint in _SYNTAX_HINTS:
        if problem.startswith(start):
            message = hint
            break
    else:
        message = "The YAML cannot be read here"
    detail = f" (YAML: {problem})"
    if not message.endswith("."):
        message += "."
    return Problem(path, line, column, "yaml-syntax", message[:-1] + detail + ".")


def _comment_after(node: ScalarNode) -> str | None:
    """The comment after a plain value on the value's last line: `text: Order #2026/1234` loses "#2026/1234"."""
    if node.style is not None or not node.value:
        return None
    end = node.end_mark
    buffer = end.buffer
    if not isinstance(buffer, str):
        return None
    stop = buffer.find("\n", end.pointer)
    rest = buffer[end.pointer : stop if stop >= 0 else len(buffer)]
    stripped = rest.lstrip(" \t")
    if stripped.startswith("#") and len(stripped) < len(rest):
        return stripped.rstrip("\0\r")
    return None


def _build(node: Node, path: str, problems: list[Problem]) -> YamlValue:
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, ScalarNode):
        return YamlScalar(str(node.value), line, column, node.style, _comment_after(node))
    if isinstance(node, SequenceNode):
        return YamlList(tuple(_build(item, path, problems) for item in node.value), line, column)
    if not isinstance(node, MappingNode):
        raise TypeError(f"unexpected YAML node {node!r}")
    entries: dict[str, tuple[YamlScalar, YamlValue]] = {}
    for key_node, value_node in node.value:
        key_line, key_column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
        if not isinstance(key_node, ScalarNode):
            what = "a list" if isinstance(key_node, SequenceNode) else "a mapping"
            problems.append(
                Problem(path, key_line, key_column, "bad-key", f"A key here is {what}; keys are plain words.")
            )
            continue
        key = YamlScalar(str(key_node.value), key_line, key_column, key_node.style)
        value = _build(value_node, path, problems)
        if key.value in entries:
            first = entries[key.value][0]
            problems.append(
                Problem(
                    path,
                    key_line,
                    key_column,
                    "duplicate-key",
                    f'"{key.value}" is given twice in the same mapping (first at line {first.line}, column '
                    f"{first.column}); keep one of them.",
                )
            )
            continue
        entries[key.value] = (key, value)
    return YamlMap(entries, line, column)
