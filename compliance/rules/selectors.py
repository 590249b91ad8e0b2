"""The CSS selector subset of the rule format: one grammar, read by the loader and by the matcher.

A type (`article`), `#id`, `.class`, `[attr]`, `[attr=value]`, and the
operators `[attr^=value]` (starts with), `[attr$=value]` (ends with),
`[attr*=value]` (contains), `[attr~=value]` (one of its whitespace-separated
words) and `[attr|=value]` (exactly, or followed by `-`), each value quoted
(`"..."`, `'...'`) or bare, compounds of these (`div.story-body`, `a[href].x`), the descendant
combinator (`article h1`) and the child combinator (`main > article`).
`parse_selector` reads a selector into `Selector`; `check_selector` says what
the loader reports about one it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["Compound", "Selector", "check_selector", "parse_selector"]

_IDENT = r"-?(?:[A-Za-z_]|[^\x00-\x7f])(?:[A-Za-z0-9_-]|[^\x00-\x7f])*"
_ATTRIBUTE = rf"""\[[ \t]*({_IDENT})[ \t]*(?:([~|^$*]?)=[ \t]*(?:"([^"\\]*)"|'([^'\\]*)'|([A-Za-z0-9_-]+))[ \t]*)?\]"""
_COMPOUND = re.compile(
    rf"(?:[A-Za-z][A-Za-z0-9-]*(?:#{_IDENT}|\.{_IDENT}|{_ATTRIBUTE})*|(?:#{_IDENT}|\.{_IDENT}|{_ATTRIBUTE})+)"
)
_COMBINATOR = re.compile(r"[ \t\n]*>[ \t\n]*|[ \t\n]+")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_PART = re.compile(rf"#({_IDENT})|\.({_IDENT})|{_ATTRIBUTE}")

# An attribute test whose bare value holds what only a quoted one may (`[src^=https://x/]`).
_BARE: Final = re.compile(r"(\[[ \t]*[^\s\]=~|^$*\"']+[ \t]*[~|^$*]?=[ \t]*)([^\s\]\"']+)")
_HTML_SPACE_TOKENS: Final = re.compile(rb"[^\t\n\x0c\r ]+")

_SUPPORTED = (
    "Selectors may use a type (article), #id, .class, [attr], [attr=value] (also ^=, $=, *=, ~= and |=, "
    'the value bare or in quotes), and the descendant (" ") and child (">") combinators.'
)


def _any_case(word: bytes) -> bytes:
    return b"".join(b"[%c%c]" % (c, c ^ 0x20) if 0x61 <= c <= 0x7A else re.escape(bytes([c])) for c in word)


def _word_in(found: bytes, value: bytes) -> bool:
    words = _HTML_SPACE_TOKENS.findall(found)
    return bool(value) and _HTML_SPACE_TOKENS.fullmatch(value) is not None and value in words


# CSS Selectors 4: `^=`, `$=` and `*=` with an empty value match nothing, as does `~=` with an empty
# value or one holding whitespace.
_OPERATORS: Final[dict[str, Callable[[bytes, bytes], bool]]] = {
    "^": lambda found, value: bool(value) and found.startswith(value),
    "$": lambda found, value: bool(value) and found.endswith(value),
    "*": lambda found, value: bool(value) and value in found,
    "~": _word_in,
    "|": lambda found, value: found == value or found.startswith(value + b"-"),
}


@dataclass(frozen=True, slots=True)
class Compound:
    """One compound selector: a type (lower case, or None), ids, classes and attribute tests, as bytes."""

    tag: bytes | None
    ids: tuple[bytes, ...] = ()
    classes: tuple[bytes, ...] = ()
    attributes: tuple[tuple[bytes, bytes | None], ...] = ()  # (lower-case name, value or None)
    operators: tuple[tuple[bytes, str, bytes], ...] = ()  # (lower-case name, "^" "$" "*" "~" or "|", value)

    @property
    def tests_attributes(self) -> bool:
        """Whether there is more to match than the type."""
        return bool(self.ids or self.classes or self.attributes or self.operators)

    def needle(self) -> bytes:
        """A regex for bytes every start tag this compound matches contains (for compounds without a type)."""
        values = [
            *self.ids,
            *self.classes,
            *(value for _, value in self.attributes if value),
            *(value for _, _, value in self.operators if value),
        ]
        if values:
            return re.escape(max(values, key=len))
        names = [*(name for name, _ in self.attributes), *(name for name, _, _ in self.operators)]
        return _any_case(max(names, key=len))

    def matches(self, attributes: dict[bytes, bytes]) -> bool:
        """Whether a start tag with these attributes (names lower case) passes the non-type tests."""
        if self.ids:
            found = attributes.get(b"id")
            if found is None or any(value != found for value in self.ids):
                return False
        if self.classes:
            tokens = _HTML_SPACE_TOKENS.findall(attributes.get(b"class", b""))
            if any(value not in tokens for value in self.classes):
                return False
        for name, value in self.attributes:
            found = attributes.get(name)
            if found is None or (value is not None and found != value):
                return False
        for name, operator, value in self.operators:
            found = attributes.get(name)
            if found is None or not _OPERATORS[operator](found, value):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Selector:
    """Compounds from the outermost to the subject; `child[j]` is True where `>` joins compound j and j + 1."""

    compounds: tuple[Compound, ...]
    child: tuple[bool, ...]
    text: str


def _split(text: str) -> tuple[list[str], list[bool], int]:
    """The compounds and combinators (True for ">") from the start of `text`, taking turns, and where they stop.

    They stop at len(text) where all of it is read; after a combinator where
    there are as many combinators as compounds.
    """
    compounds: list[str] = []
    child: list[bool] = []
    position = 0
    while position < len(text):
        if len(compounds) == len(child):
            match = _COMPOUND.match(text, position)
            if match is None or match.end() == position:
                break
            compounds.append(match.group(0))
        else:
            match = _COMBINATOR.match(text, position)
            if match is None or match.end() == position:
                break
            child.append(">" in match.group(0))
        position = match.end()
    return compounds, child, position


_PARSED: dict[str, Selector | None] = {}


def parse_selector(text: str) -> Selector | None:
    """The selector, or None where `text` is not in the supported subset (cached)."""
    try:
        return _PARSED[text]
    except KeyError:
        pass
    selector = _parse(text)
    if len(_PARSED) >= 1024:
        _PARSED.clear()
    _PARSED[text] = selector
    return selector


def _parse(text: str) -> Selector | None:
    source = text.strip()
    compounds, child, position = _split(source)
    if position < len(source) or len(child) == len(compounds):  # not all read, empty, or ending with ">"
        return None
    if len(compounds) > 60:  # the matcher's states are bits of one int; no real selector comes near
        return None
    return Selector(tuple(_compound(compound) for compound in compounds), tuple(child), source)


def _compound(text: str) -> Compound:
    tag: bytes | None = None
    position = 0
    type_match = _TYPE.match(text)
    if type_match is not None:
        tag = type_match.group(0).lower().encode("ascii")
        position = type_match.end()
    ids: list[bytes] = []
    classes: list[bytes] = []
    attributes: list[tuple[bytes, bytes | None]] = []
    operators: list[tuple[bytes, str, bytes]] = []
    for part in _PART.finditer(text, position):
        id_, class_, name, operator, double, single, bare = part.groups()
        if id_ is not None:
            ids.append(id_.encode("utf-8"))
        elif class_ is not None:
            classes.append(class_.encode("utf-8"))
        else:
            value = double if double is not None else single if single is not None else bare
            if operator:
                operators.append((name.encode("utf-8").lower(), operator, value.encode("utf-8")))
            else:
                attributes.append((name.encode("utf-8").lower(), None if value is None else value.encode("utf-8")))
    return Compound(tag, tuple(ids), tuple(classes), tuple(attributes), tuple(operators))


def check_selector(selector: str) -> str | None:
    """None for a selector of the supported subset, else a sentence naming the unsupported part."""
    text = selector.strip()
    if not text:
        return f"The selector is empty. {_SUPPORTED}"
    compounds, child, position = _split(text)
    if position < len(text):
        return _unsupported_message(text, position)
    if len(child) == len(compounds):
        return f'The selector "{text}" ends with ">", which needs an element after it.'
    return None


def _unsupported_message(text: str, position: int) -> str:
    bare = _BARE.match(text, position)
    if bare and not re.fullmatch(r"[A-Za-z0-9_-]+", bare.group(2)):
        value = bare.group(2)
        quoted = text[: bare.start(2)] + f'"{value}"' + text[bare.end(2) :]
        return (
            f'The selector "{text}" has the value {value} without quotes; a value other than letters, digits, '
            f'"-" and "_" needs them: {quoted} (in YAML, put the whole selector in single quotes: '
            f"'{quoted}')."
        )
    extra = " For several places in order of preference, write a list of placements." if text[position] == "," else ""
    part = _unsupported(text, position)
    return f'The selector "{text}" uses {part}, which is not supported here.{extra} {_SUPPORTED}'


def _unsupported(text: str, position: int) -> str:
    rest = text[position:]
    char = rest[0]
    if char == ":":
        match = re.match(r"::?[A-Za-z-]*(?:\([^)]*\))?", rest)
        part = match.group(0) if match else ":"
        return f'the pseudo-{"element" if part.startswith("::") else "class"} "{part}"'
    if char == "+":
        return 'the sibling combinator "+"'
    if char == "~":
        return 'the sibling combinator "~"'
    if char == "*":
        return 'the universal selector "*"'
    if char == ",":
        return 'a list of selectors (",")'
    if char == ">":
        return 'a ">" with no element before it'
    if char == "[":
        operator = re.match(r"\[[^\]=]*?([^\s\w\]=-]+=)", rest)
        if operator:
            return f'the attribute operator "{operator.group(1)}"'
        return f'the attribute selector "{rest.split("]", 1)[0]}]"'
    if char == "|":
        return 'a namespace ("|")'
    return f'"{char}"'
