"""The "groups" section (named lists of jurisdictions, merged and expanded) and the jurisdictions rules name."""

from __future__ import annotations

from typing import Final

from compliance.rules.groups import BUILTIN_GROUPS, BUILTIN_HISTORY, check_code
from compliance.rules.load.messages import Sink, describe, sentences, suggest
from compliance.rules.load.state import ALWAYS, GroupDraft, Loader, Period
from compliance.rules.load.values import FileReader
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue

__all__ = [
    "MEMBER_KEYS",
    "add_period",
    "builtin_periods",
    "check_jurisdiction",
    "merge_groups",
    "read_groups",
    "within",
]

MEMBER_KEYS: Final = ("member", "from", "until")


def read_groups(reader: FileReader, groups: YamlValue) -> None:
    if not isinstance(groups, YamlMap):
        reader.error(
            groups,
            "bad-type",
            f'"groups" needs a mapping of group names to lists of codes, such as "baltics: [EE, LV, LT]", not '
            f"{describe(groups)}.",
        )
        return
    for key, value in groups.items():
        name = key.value
        if name.startswith("@"):
            reader.error(
                key,
                "bad-id",
                f'Write the group name without "@" where it is defined ("{name[1:]}:"); rules then name it "{name}".',
            )
            continue
        if name.upper() in BUILTIN_GROUPS:
            reader.error(
                key,
                "bad-id",
                f'"{name}" is the name of the built-in group "@{name.upper()}"; choose another name for this group.',
            )
            continue
        if not reader.check_id(key, "group name"):
            continue
        read = _read_members(reader, name, value)
        if read is None:
            continue
        members, periods = read
        if not members:
            reader.warning(
                value, "empty-group", f'The group "{name}" has no members; a rule that names it matches no one.'
            )
        reader.loader.groups.append(GroupDraft(name, reader.path, key, members, periods))


def _read_members(reader: FileReader, name: str, value: YamlValue) -> tuple[list[YamlScalar], list[Period]] | None:
    """A group's members: codes and groups, each on its own or as `{member: GB, from: ..., until: ...}`."""
    if not isinstance(value, YamlList):
        found = reader.strings(value, name, '[EE, LV, LT] or ["@EU", CH]')
        return None if found is None else (found[0], [ALWAYS] * len(found[0]))
    members: list[YamlScalar] = []
    periods: list[Period] = []
    for item in value:
        if isinstance(item, YamlScalar):
            members.append(item)
            periods.append(ALWAYS)
            continue
        if not isinstance(item, YamlMap):
            reader.error(item, "bad-type", f'Each member of "{name}" is a code or a group, such as RU or "@EU".')
            continue
        reader.check_keys(item, MEMBER_KEYS, "a group member")
        member = reader.required(item, "member", item, "This member", "member: GB")
        if member is None or reader.text(member, "member") is None or not isinstance(member, YamlScalar):
            continue
        start_node, until_node = reader.optional(item, "from"), reader.optional(item, "until")
        start = reader.moment(start_node, "from") if start_node is not None else None
        until = reader.moment(until_node, "until") if until_node is not None else None
        if (start_node is not None and start is None) or (until_node is not None and until is None):
            continue
        if start is not None and until is not None and start >= until:
            reader.error(
                until_node or item,
                "bad-date-range",
                f'"until" must be after "from" for the member {member.value}; it would never belong to the group.',
            )
            continue
        members.append(member)
        periods.append((start, until))
    return members, periods


def merge_groups(loader: Loader) -> dict[str, frozenset[str]]:
    defined: dict[str, GroupDraft] = {}
    for draft in loader.groups:
        first = defined.get(draft.name)
        if first is not None:
            loader.sink.add(
                draft.path,
                draft.key.line,
                draft.key.column,
                "duplicate-id",
                f'The group "{draft.name}" is already defined at {first.path}:{first.key.line}:'
                f"{first.key.column}; group names are unique across all rule files.",
            )
            continue
        defined[draft.name] = draft
    for draft in defined.values():
        for member in draft.members:
            check_jurisdiction(loader.sink, draft.path, member, defined, None)

    expanded: dict[str, dict[str, list[Period]]] = {name: builtin_periods(name) for name in BUILTIN_HISTORY}
    visiting: list[str] = []
    reported: set[frozenset[str]] = set()

    def expand(name: str) -> dict[str, list[Period]]:
        if name in expanded:
            return expanded[name]
        visiting.append(name)
        codes: dict[str, list[Period]] = {}
        draft = defined[name]
        for member, period in zip(draft.members, draft.periods or [ALWAYS] * len(draft.members), strict=True):
            word = member.value
            if not word.startswith("@"):
                add_period(codes, word, period)
                continue
            ref = word[1:]
            if ref in BUILTIN_HISTORY:
                for code, periods in expanded[ref].items():
                    for inner in periods:
                        add_period(codes, code, within(inner, period))
            elif ref in visiting:
                cycle = visiting[visiting.index(ref) :] + [ref]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    head = defined[cycle[0]]
                    loader.sink.add(
                        head.path,
                        head.key.line,
                        head.key.column,
                        "group-cycle",
                        f"These groups contain each other in a circle: {' -> '.join(cycle)}; a group cannot "
                        "contain itself, directly or through other groups.",
                    )
            elif ref in defined:
                for code, periods in recurse[0](ref).items():
                    for inner in periods:
                        add_period(codes, code, within(inner, period))
        visiting.pop()
        expanded[name] = codes
        return codes

    # `expand` reaches itself through this list, emptied at the end: a function that named itself in its
    # closure would be a cycle keeping the loader, and every YAML node it read, alive until a cyclic
    # collection (a pass over the whole new rule set); without one they go as soon as the load ends.
    recurse = [expand]
    for name in defined:
        expand(name)
    recurse.clear()
    loader.defined_groups = defined
    loader.group_periods = expanded
    # Every code that ever belongs to the group, for reports.
    return {name: frozenset(expanded[name]) for name in defined}


def builtin_periods(name: str) -> dict[str, list[Period]]:
    """A built-in group's members with their periods (`ALWAYS` for members throughout)."""
    always, dated = BUILTIN_HISTORY[name]
    found: dict[str, list[Period]] = {code: [ALWAYS] for code in always}
    for code, start, until in dated:
        add_period(found, code, (start, until))
    return found


def within(inner: Period, outer: Period) -> Period | None:
    """The part of `inner` inside `outer` (a member of a group that is itself a member for a while)."""
    starts = [t for t in (inner[0], outer[0]) if t is not None]
    ends = [t for t in (inner[1], outer[1]) if t is not None]
    start, until = (max(starts) if starts else None), (min(ends) if ends else None)
    if start is not None and until is not None and start >= until:
        return None
    return start, until


def add_period(codes: dict[str, list[Period]], code: str, period: Period | None) -> None:
    if period is None:
        return
    periods = codes.setdefault(code, [])
    if ALWAYS in periods:
        return
    if period == ALWAYS:
        periods[:] = [ALWAYS]
    elif period not in periods:
        periods.append(period)


def check_jurisdiction(
    sink: Sink, path: str, member: YamlScalar, groups: dict[str, GroupDraft], rule_id: str | None
) -> bool:
    """Whether `member` is a known code or group; where not, the problem is added to `sink`."""
    word = member.value
    if word.startswith("@"):
        ref = word[1:]
        if ref in BUILTIN_GROUPS or ref in groups:
            return True
        choices = [f"@{name}" for name in (*BUILTIN_GROUPS, *groups)]
        hint = suggest(word, choices)
        sink.add(
            path,
            member.line,
            member.column,
            "undefined-group",
            sentences(
                f'There is no group "{word}"',
                hint,
                'Groups are defined under "groups:"; the built-in groups are "@EU" and "@EEA".',
            ),
            rule_id=rule_id,
        )
        return False
    message = check_code(word, groups)
    if message is None:
        return True
    sink.add(path, member.line, member.column, "unknown-jurisdiction", message, rule_id=rule_id)
    return False
