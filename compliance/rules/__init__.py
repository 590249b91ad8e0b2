"""Rule sets: the rule-file loader and the frozen values it produces."""

from __future__ import annotations

from compliance.rules.load import load_rules, load_rules_text
from compliance.rules.model import (
    ANONYMOUS,
    EVERYONE,
    HTML_PLACES,
    SELECTOR_PLACES,
    UNKNOWN,
    Link,
    Location,
    Notice,
    PathPattern,
    Place,
    Rule,
    RuleSet,
)

__all__ = [
    "ANONYMOUS",
    "EVERYONE",
    "HTML_PLACES",
    "Link",
    "Location",
    "Notice",
    "PathPattern",
    "Place",
    "Rule",
    "RuleSet",
    "SELECTOR_PLACES",
    "UNKNOWN",
    "load_rules",
    "load_rules_text",
]
