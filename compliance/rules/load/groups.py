"""The "groups" section (named lists of jurisdictions, merged and expanded) and the jurisdictions rules name."""

from __future__ import annotations

from compliance.rules.groups import BUILTIN_GROUPS, check_code
from compliance.rules.load.messages import Sink, describe, sentences, suggest
from compliance.rules.load.state import GroupDraft, Loader
from compliance.rules.load.values import FileReader
from compliance.rules.yamlstrict import YamlMap, YamlScalar, YamlValue

__all__ = ["check_jurisdiction", "merge_groups", "read_groups"]


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
        found = reader.strings(value, name, '[EE, LV, LT] or ["@EU", CH]')
        if found is None:
            continue
        members = found[0]
        if not members:
            reader.warning(
                value, "empty-group", f'The group "{name}" has no members; a rule that names it matches no one.'
            )
        reader.loader.groups.append(GroupDraft(name, reader.path, key, members))


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

    expanded: dict[str, frozenset[str]] = {}
    visiting: list[str] = []
    reported: set[frozenset[str]] = set()

    def expand(name: str) -> frozenset[str]:
        if name in expanded:
            return expanded[name]
        visiting.append(name)
        codes: set[str] = set()
        for member in defined[name].members:
            word = member.value
            if not word.startswith("@"):
                codes.add(word)
                continue
            ref = word[1:]
            if ref in BUILTIN_GROUPS:
                codes |= BUILTIN_GROUPS[ref]
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
                codes |= expand(ref)
        visiting.pop()
        result = frozenset(codes)
        expanded[name] = result
        return result

    for name in defined:
        expand(name)
    loader.defined_groups = defined
    return expanded


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
