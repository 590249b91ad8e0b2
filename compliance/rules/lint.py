"""What `compliance validate` warns about beyond what the loader checks.

The loader refuses what cannot work and warns about a notice overdue for review
and a rule that has ended. A rule set can load and still not say what its
authors meant; these checks find the usual ways:

* ``shadowed-rule``: another rule fires wherever this one does, and brings the
  same notice first (or blocks the page), so this rule never shows anything;
* ``unused-notice``: a notice that no rule brings;
* ``missing-language``: a notice without a language that it, or a rule that brings it,
  declares in ``required_languages`` (languages a notice merely lacks are no warning);
* ``slow-pattern``: a ``re:`` path with a repetition inside a repetition, which can
  take exponential time on some paths (catastrophic backtracking);
* ``policy-spares``: under ``policy: {blocks: spare-unknown-and-anonymous}``, a block
  that names ``"*"`` (which does not count) and so does not reach ``unknown`` or
  anonymous readers; ``block-reaches-anonymous``: without that policy, a block for
  countries also reaches readers who come through a VPN exit there.

Each finding is a warning `Problem`; none of them stops the rules from loading.
The shadowing check is conservative: it warns only where it can show that the
other rule covers every host, path, time and jurisdiction of this one.
"""

from __future__ import annotations

import warnings
from typing import Any

from compliance.errors import Problem
from compliance.rules.model import EVERYONE, UNIDENTIFIED, Location, Notice, PathPattern, Rule, RuleSet, place_family

__all__ = ["WARNING_KINDS", "lint", "nested_repetition", "warning_rank"]

#: Every kind of warning, most serious first, with what it means in a few words: what
#: readers may be missing comes first, housekeeping last.
WARNING_KINDS: dict[str, str] = {
    "review-overdue": "a notice is past its review date",
    "missing-language": "a notice lacks a language its readers require",
    "text-cut-by-comment": "a text is cut short by a YAML comment",
    "markup-in-text": "a notice's text holds HTML, which readers see as literal text",
    "block-reaches-anonymous": "a block also reaches readers through a VPN or proxy exit",
    "policy-spares": "a block the policy keeps from unknown and anonymous readers",
    "shadowed-rule": "a rule never changes what a reader sees",
    "rule-expired": "a rule has ended",
    "slow-pattern": "a path pattern may take minutes to match",
    "unused-notice": "a notice no rule brings",
    "placement-ignored": "a placement that is not used",
    "empty-group": "a group with no members",
}


def warning_rank(code: str) -> int:
    """Where a kind of warning stands among `WARNING_KINDS` (kinds not listed go last)."""
    for rank, kind in enumerate(WARNING_KINDS):
        if kind == code:
            return rank
    return len(WARNING_KINDS)


def lint(ruleset: RuleSet) -> list[Problem]:
    """The warnings of this module for a loaded rule set, in file order."""
    found: list[Problem] = []
    found += _shadowed(ruleset)
    found += _unused_notices(ruleset)
    found += _missing_languages(ruleset)
    found += _slow_patterns(ruleset)
    found += _blocks(ruleset)
    return sorted(found, key=lambda p: (p.path, p.line, p.column))


def _warning(where: Location | None, code: str, message: str, rule_id: str | None = None) -> Problem:
    if where is None:
        return Problem("<rules>", 1, 1, code, message, "warning", rule_id)
    return Problem(where.path, where.line, where.column, code, message, "warning", rule_id)


# -- blocks and the rule set's policy -------------------------------------------------------


def _blocks(ruleset: RuleSet) -> list[Problem]:
    """Each enforced block checked against the rule set's block policy."""
    found: list[Problem] = []
    for rule in ruleset.rules:
        if rule.action != "block" or rule.mode != "enforce":
            continue
        named = sorted(rule.jurisdictions & UNIDENTIFIED)
        if rule.spares_unidentified:
            if EVERYONE in rule.jurisdictions and not named:
                found.append(
                    _warning(
                        rule.location,
                        "policy-spares",
                        f'The block "{rule.id}" names "*", which the rule set\'s policy (spare-unknown-and-anonymous) '
                        "does not count: it does not block unknown or anonymous readers. Add unknown and anonymous "
                        "to its jurisdictions if they are meant to be blocked too.",
                        rule.id,
                    )
                )
        elif (
            not named
            and ruleset.policy_location is None
            and any(code not in UNIDENTIFIED for code in rule.jurisdictions)
        ):
            whom = (
                "every reader no source can place and every anonymous reader"
                if EVERYONE in rule.jurisdictions
                else "readers who come through a VPN or proxy exit in those places as well"
            )
            found.append(
                _warning(
                    rule.location,
                    "block-reaches-anonymous",
                    f'The block "{rule.id}" also blocks {whom}. Write '
                    '"policy: {blocks: spare-unknown-and-anonymous}" in the rule set to spare them, '
                    'or "policy: {blocks: as-written}" to say this is meant.',
                    rule.id,
                )
            )
    return found


# -- shadowed rules -------------------------------------------------------------------------


def _shadowed(ruleset: RuleSet) -> list[Problem]:
    found: list[Problem] = []
    index = _CoverIndex(ruleset.rules)
    for rule in ruleset.rules:
        for other in index.candidates(rule):
            if other is rule or other.when is not None or not _covers(other, rule):
                continue  # a rule with `when:` fires for some requests only: it shadows nothing
            if other.action == "block" and other.mode == "enforce" and rule.action == "notice":
                why = f'the rule "{other.id}" blocks every page this rule covers, so its notice is never shown'
            elif (
                other.action == rule.action
                and other.notice == rule.notice
                and other.mode == rule.mode
                and place_family(other.placement) == place_family(rule.placement)
                and (-other.priority, other.id) < (-rule.priority, rule.id)
            ):
                why = (
                    f'the rule "{other.id}" ({other.location}) brings the same notice "{rule.notice}" wherever this '
                    "rule fires, and goes first"
                )
            else:
                continue
            found.append(
                _warning(
                    rule.location,
                    "shadowed-rule",
                    f'The rule "{rule.id}" never changes what a reader sees: {why}. Remove it, or narrow the other '
                    "rule.",
                    rule.id,
                )
            )
            break
    return found


_Kind = tuple[str, str, str] | None


class _CoverIndex:
    """The rules that may shadow a rule, found without comparing every pair.

    A rule can only be shadowed by an enforced block, or by a rule with the same action, notice
    and mode, one of whose paths covers the rule's first path: the same pattern, `/**`, a
    `PREFIX/**` above it, or (for a path without `*`) a glob that matches it. Candidates come
    in rule-set order, as a scan over every rule would meet them.
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self._rules = rules
        self._order = {id(rule): n for n, rule in enumerate(rules)}
        self._by_source: dict[tuple[_Kind, str], list[Rule]] = {}
        #: Globs by their first segment (or "*" where that segment has one).
        self._globs: dict[tuple[_Kind, str], list[tuple[PathPattern, Rule]]] = {}
        for rule in rules:
            kinds: list[_Kind] = [(rule.action, rule.notice, rule.mode)]
            if rule.action == "block" and rule.mode == "enforce":
                kinds.append(None)
            for kind in kinds:
                for pattern in rule.paths:
                    self._by_source.setdefault((kind, pattern.source), []).append(rule)
                    if not pattern.source.startswith("re:"):
                        first = pattern.source[1:].split("/", 1)[0]
                        key = "*" if "*" in first else first
                        self._globs.setdefault((kind, key), []).append((pattern, rule))

    def candidates(self, rule: Rule) -> list[Rule]:
        if not rule.paths:
            return list(self._rules)
        kinds: list[_Kind] = [(rule.action, rule.notice, rule.mode)]
        if rule.action == "notice":
            kinds.append(None)
        source = rule.paths[0].source
        sources = {source, "/**"}
        if not source.startswith("re:"):
            segments = source.split("/")
            for end in range(1, len(segments) + 1):
                prefix = "/".join(segments[:end])
                if "*" in prefix:
                    break
                sources.add(prefix + "/**")
        found: dict[int, Rule] = {}
        for kind in kinds:
            for key in sources:
                for other in self._by_source.get((kind, key), ()):
                    found[id(other)] = other
            if "*" not in source and not source.startswith("re:"):
                first = source[1:].split("/", 1)[0]
                for bucket in (first, "*"):
                    for pattern, other in self._globs.get((kind, bucket), ()):
                        if pattern.matches(source):
                            found[id(other)] = other
        return sorted(found.values(), key=lambda other: self._order[id(other)])


def _covers(a: Rule, b: Rule) -> bool:
    """True where `a` fires for every reader, host, path and moment for which `b` fires."""
    return (
        _covers_hosts(a.hosts, b.hosts)
        and _covers_time(a, b)
        and _covers_jurisdictions(a, b)
        and all(any(_pattern_covers(p, q) for p in a.paths) for q in b.paths)
        and all(any(e.source == f.source for f in b.except_paths) for e in a.except_paths)
    )


def _covers_hosts(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a:
        return True
    if not b:
        return False
    return all(h in a or any(p.startswith("*.") and h.endswith(p[1:]) for p in a) for h in b)


def _covers_time(a: Rule, b: Rule) -> bool:
    starts = a.start is None or (b.start is not None and a.start <= b.start)
    ends = a.until is None or (b.until is not None and b.until <= a.until)
    return starts and ends


def _covers_jurisdictions(a: Rule, b: Rule) -> bool:
    if not a.except_jurisdictions <= b.except_jurisdictions:
        return False
    if EVERYONE in a.jurisdictions:
        return True
    if EVERYONE in b.jurisdictions:
        return False
    # A country code also matches every subdivision of that country.
    return all(code in a.jurisdictions or code.split("-")[0] in a.jurisdictions for code in b.jurisdictions)


def _pattern_covers(a: PathPattern, b: PathPattern) -> bool:
    """True where every path `b` matches, `a` matches too (conservatively: False when unsure)."""
    if a.source == b.source or a.source == "/**":
        return True
    if a.source.startswith("re:") or b.source.startswith("re:"):
        return False
    if "*" not in b.source:
        return a.matches(b.source)
    if a.source.endswith("/**"):
        prefix = a.source[:-3]
        if "*" not in prefix and (b.source == prefix or b.source.startswith(prefix + "/")):
            return True
    return False


# -- notices ----------------------------------------------------------------------------------


def _unused_notices(ruleset: RuleSet) -> list[Problem]:
    used = {rule.notice for rule in ruleset.rules}
    return [
        _warning(
            notice.location,
            "unused-notice",
            f'No rule brings the notice "{notice.id}", so no reader sees it; add a rule, or remove the notice.',
        )
        for notice in ruleset.notices.values()
        if notice.id not in used
    ]


def _missing_languages(ruleset: RuleSet) -> list[Problem]:
    """A notice without a language that it, or a rule bringing it, declares in `required_languages`."""
    found: list[Problem] = []
    for notice in ruleset.notices.values():
        # Each requirement (a tuple of alternatives) with who asks for it, in the order they were written.
        asked: dict[tuple[str, ...], list[str]] = {}
        for requirement in notice.required_languages:
            asked.setdefault(requirement, []).append("the notice itself")
        for rule in ruleset.rules:
            if rule.notice == notice.id:
                for requirement in rule.required_languages:
                    asked.setdefault(requirement, []).append(f'the rule "{rule.id}" ({rule.location})')
        for requirement, who in asked.items():
            if any(_has_language(notice, tag) for tag in requirement):
                continue
            wanted = " or ".join(f'"{tag}"' for tag in requirement)
            found.append(
                _warning(
                    notice.location,
                    "missing-language",
                    f'The notice "{notice.id}" has no text in {wanted}, which {_and(who)} '
                    f'{"requires" if len(who) == 1 else "require"} ("required_languages"); those readers get '
                    f'"{notice.default_language}" instead. Add the text, or remove the requirement.',
                )
            )
    return found


def _has_language(notice: Notice, tag: str) -> bool:
    """True where a reader asking for `tag` gets it: the notice has `tag`, or its language (`pt` for `pt-BR`)."""
    written = {language.lower() for language in notice.text}
    return tag.lower() in written or tag.split("-")[0].lower() in written


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# -- slow regular expressions ------------------------------------------------------------------


def _slow_patterns(ruleset: RuleSet) -> list[Problem]:
    found: list[Problem] = []
    for rule in ruleset.rules:
        for field_name, patterns in (("paths", rule.paths), ("except_paths", rule.except_paths)):
            for pattern in patterns:
                if pattern.source.startswith("re:") and nested_repetition(pattern.source[3:]):
                    found.append(
                        _warning(
                            rule.location,
                            "slow-pattern",
                            f'The pattern "{pattern.source}" in "{field_name}" of the rule "{rule.id}" repeats '
                            "something that itself repeats, such as (a+)+ or (.*)*: on some paths it can take "
                            "minutes to match (catastrophic backtracking). Write each repetition once, such as a+.",
                            rule.id,
                        )
                    )
    return found


def nested_repetition(expression: str) -> bool:
    """True where a regular expression repeats, without bound, something that itself repeats without bound.

    `(a+)+`, `(.*)*` and `(\\w+\\s?)*` are found; `(/[a-z]+)*` is not, because each round of
    the outer repetition must start with a "/" that the inner one cannot match, so a
    path can be split into rounds in one way only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import sre_constants as c
        import sre_parse

    try:
        parsed = sre_parse.parse(expression)
    except Exception:
        return False
    repeats = {c.MAX_REPEAT, c.MIN_REPEAT} | ({c.POSSESSIVE_REPEAT} if hasattr(c, "POSSESSIVE_REPEAT") else set())

    def unbounded(arg: Any) -> bool:
        return bool(arg[1] == c.MAXREPEAT or arg[1] > 10)

    def inner_repeats(items: Any) -> list[Any]:
        """The bodies of the unbounded repetitions anywhere inside `items`."""
        found: list[Any] = []
        for op, arg in items:
            if op in repeats:
                if unbounded(arg):
                    found.append(arg[2])
                found += inner_repeats(arg[2])
            elif op == c.SUBPATTERN:
                found += inner_repeats(arg[-1])
            elif op == c.BRANCH:
                for branch in arg[1]:
                    found += inner_repeats(branch)
        return found

    def mandatory_literals(items: Any) -> list[int]:
        found: list[int] = []
        for op, arg in items:
            if op == c.LITERAL:
                found.append(arg)
            elif op == c.SUBPATTERN:
                found += mandatory_literals(arg[-1])
            elif op in repeats and arg[0] >= 1:
                found += mandatory_literals(arg[2])
        return found

    def dangerous(body: Any) -> bool:
        inner = inner_repeats(body)
        if not inner:
            return False
        return all(any(_may_match(piece, chr(literal), c) for piece in inner) for literal in mandatory_literals(body))

    def walk(items: Any) -> bool:
        for op, arg in items:
            if op in repeats:
                if unbounded(arg) and dangerous(arg[2]):
                    return True
                if walk(arg[2]):
                    return True
            elif op == c.SUBPATTERN:
                if walk(arg[-1]):
                    return True
            elif op == c.BRANCH and any(walk(branch) for branch in arg[1]):
                return True
        return False

    return walk(parsed)


def _may_match(body: Any, char: str, c: Any) -> bool:
    """Whether a repeated body (one character matcher, else assumed to match anything) may match `char`."""
    items = list(body)
    if len(items) != 1:
        return True
    op, arg = items[0]
    if op == c.LITERAL:
        return bool(arg == ord(char))
    if op == c.NOT_LITERAL:
        return bool(arg != ord(char))
    if op == c.IN:
        negate = False
        hit = False
        for kind, value in arg:
            if kind == c.NEGATE:
                negate = True
            elif kind == c.LITERAL:
                hit = hit or value == ord(char)
            elif kind == c.RANGE:
                hit = hit or value[0] <= ord(char) <= value[1]
            elif kind == c.CATEGORY:
                hit = hit or _in_category(value, char, c)
            else:
                return True
        return hit != negate
    return True


def _in_category(category: Any, char: str, c: Any) -> bool:
    tests = {
        c.CATEGORY_DIGIT: char.isdigit(),
        c.CATEGORY_NOT_DIGIT: not char.isdigit(),
        c.CATEGORY_SPACE: char.isspace(),
        c.CATEGORY_NOT_SPACE: not char.isspace(),
        c.CATEGORY_WORD: char.isalnum() or char == "_",
        c.CATEGORY_NOT_WORD: not (char.isalnum() or char == "_"),
    }
    return tests.get(category, True)
