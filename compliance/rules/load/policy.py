"""The "policy" section: what a rule set holds to across all its rules (today: whom a block may reach)."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from compliance.rules.load.messages import describe
from compliance.rules.load.state import Loader
from compliance.rules.load.values import FileReader
from compliance.rules.model import BLOCK_POLICIES, Location, Rule
from compliance.rules.yamlstrict import YamlMap, YamlScalar, YamlValue

__all__ = ["POLICY_KEYS", "apply_policy", "merge_policy", "read_policy"]

POLICY_KEYS: Final = ("blocks",)


def read_policy(reader: FileReader, policy: YamlValue) -> None:
    if not isinstance(policy, YamlMap):
        reader.error(
            policy,
            "bad-type",
            f'"policy" needs a mapping, such as "policy: {{blocks: spare-unknown-and-anonymous}}", not '
            f"{describe(policy)}.",
        )
        return
    reader.check_keys(policy, POLICY_KEYS, "a policy")
    node = reader.optional(policy, "blocks")
    if node is None:
        return
    value = reader.choice(node, "blocks", BLOCK_POLICIES)
    if value is not None and isinstance(node, YamlScalar):
        reader.loader.policies.append((value, Location(reader.path, node.line, node.column)))


def merge_policy(loader: Loader) -> tuple[str, Location | None]:
    """The rule set's block policy and where it is written; two different policies are an error."""
    if not loader.policies:
        return BLOCK_POLICIES[0], None
    value, first = loader.policies[0]
    for other, where in loader.policies[1:]:
        if other != value:
            loader.sink.add(
                where.path,
                where.line,
                where.column,
                "conflicting-policy",
                f'This file says "blocks: {other}" but {first} says "blocks: {value}"; a rule set has one policy. '
                "Write the same value in both files, or write it in one file only.",
            )
    return value, first


def apply_policy(rules: list[Rule], policy: str) -> list[Rule]:
    """The rules with the block policy applied to each block."""
    if policy != "spare-unknown-and-anonymous":
        return rules
    return [replace(rule, spares_unidentified=True) if rule.action == "block" else rule for rule in rules]
