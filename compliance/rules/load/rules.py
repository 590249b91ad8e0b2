"""The "rules" section: each rule's id, notice, jurisdictions, paths, hosts, dates, action, mode and priority."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal, TypeVar

from compliance.rules.load.languages import read_fixed_languages
from compliance.rules.load.messages import describe, moment_words, rule_name
from compliance.rules.load.notices import read_required_languages, warn_cut
from compliance.rules.load.places import read_placement
from compliance.rules.load.state import RuleDraft
from compliance.rules.load.values import FileReader
from compliance.rules.load.when import read_when
from compliance.rules.model import SELECTOR_PLACES, PathPattern
from compliance.rules.paths import PatternError, normalize_host, path_pattern
from compliance.rules.selectors import parse_selector
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue

_T = TypeVar("_T")

__all__ = ["ACTIONS", "DEFAULT_PATHS", "MODES", "RULE_KEYS", "read_rules"]

RULE_KEYS: Final = (
    "id",
    "notice",
    "jurisdictions",
    "except_jurisdictions",
    "paths",
    "hosts",
    "except_paths",
    "placement",
    "action",
    "from",
    "until",
    "priority",
    "mode",
    "legal_basis",
    "reference",
    "language",
    "languages",
    "form",
    "required_languages",
    "fallback",
    "match",
    "when",
)
_RULE_KEY_SET: Final = frozenset(RULE_KEYS)
ACTIONS: Final[tuple[Literal["notice", "block", "remove", "replace"], ...]] = ("notice", "block", "remove", "replace")
#: The actions on the element a selector place matches.
ELEMENT_ACTIONS: Final = ("remove", "replace")
MODES: Final[tuple[Literal["enforce", "report-only"], ...]] = ("enforce", "report-only")
FORMS: Final[tuple[Literal["inline", "block"], ...]] = ("inline", "block")
FALLBACKS: Final[tuple[Literal["body-end", "none"], ...]] = ("body-end", "none")
MATCHES: Final[tuple[Literal["first", "all"], ...]] = ("first", "all")
DEFAULT_PATHS: Final = ("/**",)

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


def read_rules(reader: FileReader, rules: YamlValue) -> None:
    if not isinstance(rules, YamlList):
        reader.error(
            rules,
            "bad-type",
            f'"rules" needs a list of rules, each starting with "- id:", not {describe(rules)}.',
        )
        return
    for node in rules:
        reader.rule_id = None
        if not isinstance(node, YamlMap):
            reader.error(
                node,
                "bad-type",
                f'Each rule is a set of fields ("- id: ...", then "notice:", "jurisdictions:" ...), not '
                f"{describe(node)}.",
            )
            continue
        _read_rule(reader, node)
    reader.rule_id = None


def _read_rule(reader: FileReader, node: YamlMap) -> None:
    id_node = reader.optional(node, "id")
    rule_id: str | None = None
    if isinstance(id_node, YamlScalar):
        reader.rule_id = id_node.value
        if reader.check_id(id_node, "rule id"):
            rule_id = id_node.value
    draft = RuleDraft(rule_id, reader.rule_id, reader.path, node)
    reader.loader.rules.append(draft)
    what = rule_name(reader.rule_id)
    # Most of a rule's fields are optional and absent: each is looked for here, once, before its reading.
    entries = node.entries
    if not _RULE_KEY_SET.issuperset(entries):
        reader.check_keys(node, RULE_KEYS, "a rule")
    if id_node is None:
        reader.required(node, "id", node, what, "id: a name of lowercase letters, digits and -")
        draft.valid = False
    elif not isinstance(id_node, YamlScalar):
        reader.text(id_node, "id")
        draft.valid = False
    elif rule_id is None:
        draft.valid = False

    action_node = node.get("action")
    if node.get("notice") is None and isinstance(action_node, YamlScalar) and action_node.value == "remove":
        notice_node = None  # a rule that only takes elements out may name no notice: its audit names the rule
    else:
        notice_node = reader.required(node, "notice", node, what, "notice: the id of a notice")
        draft.valid = draft.valid and notice_node is not None
    if notice_node is not None:
        if reader.text(notice_node, "notice") is not None and isinstance(notice_node, YamlScalar):
            draft.notice = notice_node
        else:
            draft.valid = False

    jurisdictions_node = reader.required(node, "jurisdictions", node, what, 'jurisdictions: [RU] or ["@EU"]')
    if jurisdictions_node is not None:
        found = reader.strings(jurisdictions_node, "jurisdictions", '[RU] or ["@EU", GB]')
        if found is None:
            draft.valid = False
        elif not found[0] and found[1]:
            reader.error(
                jurisdictions_node,
                "empty-value",
                '"jurisdictions" is empty; name at least one, such as [RU], or "*" for every reader.',
            )
            draft.valid = False
        else:
            draft.jurisdictions = found[0]
            draft.valid = draft.valid and found[1]
    else:
        draft.valid = False
    except_node = reader.optional(node, "except_jurisdictions") if "except_jurisdictions" in entries else None
    if except_node is not None:
        found = reader.strings(except_node, "except_jurisdictions", '[UA-43] or ["@EU"]')
        if found is None:
            draft.valid = False
        else:
            draft.except_jurisdictions = found[0]
            draft.valid = draft.valid and found[1]

    paths = _read_paths(reader, node, "paths", allow_empty=False) if "paths" in entries else ()
    except_paths = _read_paths(reader, node, "except_paths", allow_empty=True) if "except_paths" in entries else ()
    if paths is None or except_paths is None:
        draft.valid = False
    else:
        draft.paths = paths or tuple(_compiled(reader, p) for p in DEFAULT_PATHS)
        draft.except_paths = except_paths
    hosts = _read_hosts(reader, node) if "hosts" in entries else ()
    if hosts is None:
        draft.valid = False
    else:
        draft.hosts = hosts

    action = _optional_choice(reader, draft, node, "action", ACTIONS) if "action" in entries else None
    if action is not None:
        draft.action = action
    placement_node = reader.optional(node, "placement") if "placement" in entries else None
    if placement_node is not None:
        placement = read_placement(reader, placement_node)
        if placement is None:
            draft.valid = False
        else:
            draft.placement = placement
            if draft.action == "block":
                _unused_on_block(reader, placement_node, "placement")
    mode = _optional_choice(reader, draft, node, "mode", MODES) if "mode" in entries else None
    if mode is not None:
        draft.mode = mode
    form = _optional_choice(reader, draft, node, "form", FORMS) if "form" in entries else None
    if form is not None:
        draft.form = form
    fallback_node = reader.optional(node, "fallback") if "fallback" in entries else None
    if fallback_node is not None:
        _read_fallback(reader, draft, fallback_node)
    match_node = reader.optional(node, "match") if "match" in entries else None
    if match_node is not None:
        _read_match(reader, draft, match_node)
    if draft.action in ELEMENT_ACTIONS:
        _check_element_action(reader, draft, node, placement_node, fallback_node)
    when_node = reader.optional(node, "when") if "when" in entries else None
    if when_node is not None:
        draft.when = read_when(reader, when_node, draft.action)
        draft.valid = draft.valid and draft.when is not None

    start_node = reader.optional(node, "from") if "from" in entries else None
    if start_node is not None:
        draft.start = reader.moment(start_node, "from")
        draft.valid = draft.valid and draft.start is not None
    until_node = reader.optional(node, "until") if "until" in entries else None
    if until_node is not None:
        draft.until = reader.moment(until_node, "until")
        draft.until_node = until_node
        draft.valid = draft.valid and draft.until is not None
    if draft.start is not None and draft.until is not None and draft.start >= draft.until:
        reader.error(
            until_node or node,
            "bad-date-range",
            f'"until" ({moment_words(draft.until)}) must be after "from" ({moment_words(draft.start)}); the rule '
            "would never apply.",
        )
        draft.valid = False

    required = read_required_languages(reader, node) if "required_languages" in entries else ()
    if required is None:
        draft.valid = False
    else:
        draft.required_languages = required
    for name in ("legal_basis", "reference"):
        value = reader.optional(node, name) if name in entries else None
        if value is None:
            continue
        if isinstance(value, YamlScalar) and value.comment is not None:
            warn_cut(reader, value, name)
        text = reader.text(value, name)
        if text is None:
            draft.valid = False
        elif name == "legal_basis":
            draft.legal_basis = text
        else:
            draft.reference = text
    if "language" in entries or "languages" in entries:
        languages, languages_ok = read_fixed_languages(reader, node)
        draft.languages = languages
        draft.valid = draft.valid and languages_ok

    priority_node = reader.optional(node, "priority") if "priority" in entries else None
    if priority_node is not None:
        text = reader.text(priority_node, "priority")
        if text is not None and _INTEGER.match(text):
            draft.priority = int(text)
        else:
            if text is not None:
                reader.error(
                    priority_node,
                    "bad-type",
                    f'"priority" needs a whole number, such as 10 or -5; "{text}" is not one.',
                )
            draft.valid = False


def _read_paths(
    reader: FileReader, node: YamlMap, field_name: str, *, allow_empty: bool
) -> tuple[PathPattern, ...] | None:
    value = reader.optional(node, field_name)
    if value is None:
        return ()
    found = reader.strings(value, field_name, '["/news/**"]')
    if found is None:
        return None
    items, complete = found
    if not items and complete and not allow_empty:
        reader.error(
            value,
            "empty-value",
            f'"{field_name}" is empty, so the rule would apply nowhere; leave the field out to mean every path.',
        )
        return None
    patterns: list[PathPattern] = []
    compiled = reader.loader.path_patterns
    for item in items:
        pattern = compiled.get(item.value)
        if pattern is not None:
            patterns.append(pattern)
            continue
        try:
            patterns.append(_compiled(reader, item.value))
        except PatternError as error:
            column = item.column
            if item.style is None and "\n" not in item.value:
                column += error.position
            elif item.style in ("'", '"') and not any(c in item.value for c in "'\"\\\n"):
                column += 1 + error.position
            reader.loader.sink.add(
                reader.path, item.line, column, "bad-path", f'"{item.value}": {error.message}', "error", reader.rule_id
            )
    return tuple(patterns) if complete and len(patterns) == len(items) else None


def _compiled(reader: FileReader, text: str) -> PathPattern:
    """The pattern compiled from `text`, once per load (raises PatternError, every time, for a bad one)."""
    compiled = reader.loader.path_patterns
    pattern = compiled.get(text)
    if pattern is None:
        pattern = compiled[text] = path_pattern(text)
    return pattern


def _read_hosts(reader: FileReader, node: YamlMap) -> tuple[str, ...] | None:
    value = reader.optional(node, "hosts")
    if value is None:
        return ()
    found = reader.strings(value, "hosts", '["www.example.org"]')
    if found is None:
        return None
    items, complete = found
    hosts: list[str] = []
    for item in items:
        try:
            hosts.append(normalize_host(item.value))
        except PatternError as error:
            reader.error(item, "bad-host", f'"{item.value}": {error.message}')
    return tuple(hosts) if complete and len(hosts) == len(items) else None


def _unused_on_block(reader: FileReader, node: YamlValue, field: str) -> None:
    """Warn that a block rule's `field` (placement, fallback, match) is not used."""
    reader.warning(
        node,
        f"{field}-ignored",
        f'A "block" rule answers with a page of its own, so its "{field}" is not used; remove it.',
    )


def _read_fallback(reader: FileReader, draft: RuleDraft, node: YamlValue) -> None:
    """`fallback`: body-end (the default) or none, for a rule whose HTML places the page may not have."""
    fallback = reader.choice(node, "fallback", FALLBACKS)
    if fallback is None:
        draft.valid = False
        return
    draft.fallback = fallback
    if fallback == "body-end":
        return
    kinds = [place.kind for place in draft.placement]
    if draft.action == "block":
        _unused_on_block(reader, node, "fallback")
    elif kinds[0] in ("header", "json", "head", "feed"):
        reader.error(
            node,
            "bad-fallback",
            f'"fallback: none" applies to places in an HTML page; a "{kinds[0]}" placement has no fallback. '
            "Remove the fallback line.",
        )
        draft.valid = False
    elif kinds == ["body-end"] and draft.valid:
        reader.error(
            node,
            "bad-fallback",
            '"fallback: none" needs a placement that a page may not have, such as placement: {marker: '
            'comments} or {after: "#comments"}; write that placement, or remove the fallback line.',
        )
        draft.valid = False
    elif "body-end" in kinds:
        reader.warning(
            node,
            "fallback-ignored",
            '"fallback: none" has no effect while "body-end" is one of the places: the notice goes there '
            "when the places before it are missing. Remove body-end from the placement, or the fallback line.",
        )


def _read_match(reader: FileReader, draft: RuleDraft, node: YamlValue) -> None:
    """`match`: first (the default) or all, for a rule placed at one selector place."""
    match = reader.choice(node, "match", MATCHES)
    if match is None:
        draft.valid = False
        return
    draft.match = match
    if match == "first":
        return
    if draft.action == "block":
        _unused_on_block(reader, node, "match")
    elif draft.valid and (len(draft.placement) != 1 or draft.placement[0].kind not in SELECTOR_PLACES):
        reader.error(
            node,
            "bad-match",
            '"match: all" puts the notice next to every element one selector matches, so the placement must '
            "be one selector place, such as placement: {before: form}; write that placement, or remove the "
            "match line.",
        )
        draft.valid = False


def _check_element_action(
    reader: FileReader, draft: RuleDraft, node: YamlMap, placement: YamlValue | None, fallback: YamlValue | None
) -> None:
    """`action: remove`/`replace` acts on the element one selector place matches."""
    action = draft.action
    where = placement if placement is not None else reader.optional(node, "action") or node
    if not draft.valid:
        return
    if len(draft.placement) != 1 or draft.placement[0].kind not in SELECTOR_PLACES:
        reader.error(
            where,
            "bad-action-placement",
            f'"action: {action}" acts on the element a selector matches, so the placement must be one selector '
            f"place, such as placement: {{before: 'iframe[src^=\"https://www.rt.com/\"]'}} (before, after, "
            "prepend and append all name the element itself here).",
        )
        draft.valid = False
        return
    parsed = parse_selector(draft.placement[0].arg or "")
    if parsed is not None and parsed.compounds[-1].tag == b"body":
        reader.error(
            where,
            "bad-action-placement",
            f'"action: {action}" at body would leave the whole page out. Name the element to {action} inside '
            "the body, such as {before: 'iframe[src^=\"https://www.rt.com/\"]'}; to keep readers from a page, "
            'write "action: block".',
        )
        draft.valid = False
        return
    form = node.get("form")
    if action == "remove" and form is not None:
        reader.warning(
            form,
            "form-ignored",
            '"action: remove" shows no notice, so its "form" is not used; remove it, or write "action: replace".',
        )
    if fallback is not None:
        reader.warning(
            fallback,
            "fallback-ignored",
            f'"action: {action}" has nothing to do on a page without the element, so its "fallback" is not '
            "used; remove it.",
        )


def _optional_choice(reader: FileReader, draft: RuleDraft, node: YamlMap, key: str, choices: Sequence[_T]) -> _T | None:
    """An optional field that takes one of `choices`: its value, or None where it is absent or not one
    of them (which the reader reports, and which makes the draft invalid)."""
    value_node = reader.optional(node, key)
    if value_node is None:
        return None
    value = reader.choice(value_node, key, choices)
    if value is None:
        draft.valid = False
    return value
