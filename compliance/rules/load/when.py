"""A rule's `when:`: the conditions on the reader's request (languages, headers, cookies)."""

from __future__ import annotations

import re
from typing import Final

from compliance.rules.load.messages import describe
from compliance.rules.load.values import FileReader
from compliance.rules.model import Condition
from compliance.rules.yamlstrict import YamlMap, YamlScalar, YamlValue

__all__ = ["WHEN_KEYS", "read_when"]

WHEN_KEYS: Final = ("accept_language", "headers", "cookies")
_LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}\Z")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
#: A cookie value as RFC 6265 allows it (optionally in double quotes).
_COOKIE_VALUE: Final = re.compile(
    r'(?:"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"|[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*)\Z'
)
#: Headers a condition may not name, and what to write instead.
_OWN_FIELD: Final = {
    "accept-language": 'use "accept_language: [ru]", which reads the languages the way browsers list them',
    "cookie": 'use "cookies: {name: value}", which reads each cookie on its own',
    "host": 'use the rule\'s "hosts"',
}


def read_when(reader: FileReader, node: YamlValue, action: str) -> Condition | None:
    """The rule's condition, or None where it has a mistake (each reported where it was written)."""
    if action == "block":
        reader.error(
            node,
            "when-on-block",
            '"when" is not allowed on a "block" rule: whether a page is blocked must not depend on what a '
            "reader's browser sends, or a reader could lift the block by leaving a header out. Put the "
            'condition on a notice rule, or remove "when".',
        )
        return None
    if action != "notice":
        reader.error(
            node,
            "when-on-block",
            f'"when" is not allowed on a "{action}" rule: whether an element is taken out of a page must not '
            "depend on what a reader's browser sends, or a reader could keep it by leaving a header out. Put "
            'the condition on a notice rule, or remove "when".',
        )
        return None
    if not isinstance(node, YamlMap) or not node.entries:
        wrong = not isinstance(node, YamlMap) and not _empty(node)
        reader.error(
            node,
            "bad-type" if wrong else "empty-value",
            '"when" needs at least one condition on the request, such as when: {headers: {Sec-GPC: "1"}}, '
            'when: {accept_language: [ru, be]} or when: {cookies: {consent: "yes"}}'
            + (f", not {describe(node)}." if wrong else "."),
        )
        return None
    reader.check_keys(node, WHEN_KEYS, '"when"')
    ok = all(key.value in WHEN_KEYS for key, _ in node.items())
    languages: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    value = node.get("accept_language")
    if value is not None:
        found = _languages(reader, value)
        ok = ok and found is not None
        languages = found or ()
    value = node.get("headers")
    if value is not None:
        pairs = _pairs(reader, value, "headers", '{Sec-GPC: "1"}')
        checked = pairs is not None and _check_headers(reader, pairs)
        ok = ok and checked
        headers = tuple((k.value, v) for k, v in pairs or ())
    value = node.get("cookies")
    if value is not None:
        pairs = _pairs(reader, value, "cookies", '{consent: "yes"}')
        checked = pairs is not None and _check_cookies(reader, pairs)
        ok = ok and checked
        cookies = tuple((k.value, v) for k, v in pairs or ())
    return Condition(languages, headers, cookies) if ok else None


def _empty(node: YamlValue) -> bool:
    return isinstance(node, YamlScalar) and not node.value.strip()


def _languages(reader: FileReader, node: YamlValue) -> tuple[str, ...] | None:
    found = reader.strings(node, "accept_language", "[ru, be]")
    if found is None:
        return None
    items, complete = found
    if not items and complete:
        reader.error(node, "empty-value", '"accept_language" is empty; name at least one language, such as [ru, be].')
        return None
    languages: list[str] = []
    for item in items:
        tag = item.value.strip()
        if _LANGUAGE.match(tag):
            if tag.lower() not in languages:
                languages.append(tag.lower())
            continue
        primary = tag.partition("-")[0]
        hint = (
            f' Write the language alone, "{primary.lower()}": a reader whose browser asks for {tag} asks for '
            f"{primary.lower()}, and so does one who asks for any other {primary.lower()}-XX."
            if "-" in tag and _LANGUAGE.match(primary)
            else ""
        )
        reader.error(
            item,
            "bad-language",
            f'"{tag}" is not a language in "accept_language": each entry is a two- or three-letter language code, '
            f"such as ru or be.{hint}",
        )
        complete = False
    return tuple(languages) if complete else None


def _pairs(reader: FileReader, node: YamlValue, field_name: str, example: str) -> list[tuple[YamlScalar, str]] | None:
    if not isinstance(node, YamlMap):
        reader.error(
            node,
            "bad-type" if not _empty(node) else "empty-value",
            f'"{field_name}" needs a mapping of names to values, such as {field_name}: {example}'
            + ("" if _empty(node) else f", not {describe(node)}")
            + ".",
        )
        return None
    if not node.entries:
        reader.error(node, "empty-value", f'"{field_name}" is empty; write at least one, such as {example}.')
        return None
    pairs: list[tuple[YamlScalar, str]] = []
    complete = True
    for key, value in node.items():
        if not isinstance(value, YamlScalar):
            reader.error(
                value,
                "bad-type",
                f'The value of "{key.value}" in "{field_name}" is text, such as {example}, not {describe(value)}; '
                "a condition names one value.",
            )
            complete = False
            continue
        text = value.value.strip(" \t")
        if not text:
            reader.error(
                value,
                "empty-value",
                f'The value of "{key.value}" in "{field_name}" is empty; write the value the request must carry.',
            )
            complete = False
            continue
        pairs.append((key, text))
    return pairs if complete else None


def _check_headers(reader: FileReader, pairs: list[tuple[YamlScalar, str]]) -> bool:
    ok = True
    seen: dict[str, YamlScalar] = {}
    for key, value in pairs:
        name = key.value
        lowered = name.lower()
        if not _TOKEN.match(name):
            reader.error(key, "bad-header", f'"{name}" is not an HTTP header name (letters, digits and -, no spaces).')
            ok = False
        elif lowered in _OWN_FIELD:
            reader.error(key, "bad-header", f'"{name}" cannot be a header condition: {_OWN_FIELD[lowered]}.')
            ok = False
        elif lowered in seen:
            reader.error(
                key,
                "duplicate-header",
                f'The header "{name}" is already named as "{seen[lowered].value}" at line {seen[lowered].line}; '
                "header names are the same in any case. Name it once.",
            )
            ok = False
        else:
            seen[lowered] = key
        if not all(" " <= c <= "~" or c == "\t" for c in value):
            reader.error(key, "bad-header", f'The value of "{name}" has characters a request header cannot carry.')
            ok = False
    return ok


def _check_cookies(reader: FileReader, pairs: list[tuple[YamlScalar, str]]) -> bool:
    ok = True
    for key, value in pairs:
        if not _TOKEN.match(key.value):
            reader.error(key, "bad-cookie", f'"{key.value}" is not a cookie name (letters, digits and -, no spaces).')
            ok = False
        elif not _COOKIE_VALUE.match(value):
            reader.error(
                key,
                "bad-cookie",
                f'The value of the cookie "{key.value}" has characters a cookie value cannot carry '
                "(spaces, commas, semicolons, backslashes or quotes inside).",
            )
            ok = False
    return ok
