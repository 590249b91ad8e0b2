"""Loading rule files (format 1, see the rule-file contract) into a checked `RuleSet`.

`load_rules(path)` reads one file, or every `*.yaml` / `*.yml` file under a folder
(recursively, in sorted path order, skipping folders named `tests`), and merges
them. Every problem in every file is collected before anything is raised: one
`RuleFileError` carries them all, each with its file, line and column and a
sentence for the people who write the rules. Warnings (a notice overdue for
review, a rule that has ended) do not stop loading; they are in
`RuleSet.warnings`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Final, Literal, TypeVar
from urllib.parse import urlsplit

import pycountry

from compliance.errors import Problem, RuleFileError, Severity
from compliance.rules.groups import BUILTIN_GROUPS, check_code
from compliance.rules.model import SELECTOR_PLACES, Link, Location, Notice, PathPattern, Place, PlaceKind, Rule, RuleSet
from compliance.rules.paths import PatternError, normalize_host, path_pattern
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue, read_yaml

__all__ = ["check_language", "check_selector", "load_rules", "load_rules_text"]

_T = TypeVar("_T")

TOP_LEVEL_KEYS: Final = ("groups", "notices", "rules")
NOTICE_KEYS: Final = (
    "title",
    "legal_basis",
    "source_url",
    "owner",
    "review_by",
    "text",
    "link",
    "default_language",
    "css",
)
LINK_KEYS: Final = ("href", "text")
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
)
PLACE_WORDS: Final = ("body-start", "body-end")
PLACE_KEYS: Final = ("marker", "before", "after", "prepend", "append", "header", "json")
ACTIONS: Final[tuple[Literal["notice", "block"], ...]] = ("notice", "block")
MODES: Final[tuple[Literal["enforce", "report-only"], ...]] = ("enforce", "report-only")
DEFAULT_PATHS: Final = ("/**",)
DEFAULT_PLACEMENT: Final = (Place("body-end"),)

_ID = re.compile(r"[a-z0-9-]+\Z")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")
_MARKER = re.compile(r"[A-Za-z0-9._-]+\Z")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\Z"
)
# Headers the response needs for its own purposes; a notice header may not replace them.
_RESERVED_HEADERS: Final = frozenset(
    {
        "cache-control", "connection", "content-encoding", "content-length", "content-range",
        "content-security-policy", "content-type", "date", "etag", "keep-alive", "last-modified", "link",
        "location", "server", "set-cookie", "strict-transport-security", "te", "trailer", "transfer-encoding",
        "upgrade", "vary",
    }
)  # fmt: skip

# The CSS selector subset: type, #id, .class, [attr], [attr=value], compounds, " " and ">".
_CSS_IDENT = r"-?(?:[A-Za-z_]|[^\x00-\x7f])(?:[A-Za-z0-9_-]|[^\x00-\x7f])*"
_CSS_ATTRIBUTE = rf"""\[[ \t]*{_CSS_IDENT}[ \t]*(?:=[ \t]*(?:"[^"\\]*"|'[^'\\]*'|[A-Za-z0-9_-]+)[ \t]*)?\]"""
_CSS_COMPOUND = re.compile(
    rf"(?:[A-Za-z][A-Za-z0-9-]*(?:#{_CSS_IDENT}|\.{_CSS_IDENT}|{_CSS_ATTRIBUTE})*"
    rf"|(?:#{_CSS_IDENT}|\.{_CSS_IDENT}|{_CSS_ATTRIBUTE})+)"
)
_CSS_COMBINATOR = re.compile(r"[ \t\n]*>[ \t\n]*|[ \t\n]+")
_CSS_SUPPORTED = (
    'Selectors may use a type (article), #id, .class, [attr], [attr=value], and the descendant (" ") and '
    'child (">") combinators.'
)


def load_rules(path: str | os.PathLike[str], *, today: date | None = None) -> RuleSet:
    """Load a rule file, or every rule file under a folder, into one RuleSet.

    Folders named `tests` (case files) and hidden files and folders (names starting
    with ".", such as a mounted volume's `..data`) are skipped. File paths in
    problems are joined from `path` as given (`rules/eu.yaml`).
    `today` (a UTC date; default: today) decides the `review-overdue` and
    `rule-expired` warnings. Raises RuleFileError with every problem found.
    """
    root = os.fspath(path)
    if not os.path.exists(root):
        raise RuleFileError(
            [Problem(root, 1, 1, "not-found", f'There is no file or folder "{root}"; check the path to the rules.')]
        )
    loader = _Loader(today)
    if os.path.isdir(root):
        files = _rule_files(root)
        if not files:
            loader.sink.add(
                root, 1, 1, "no-rule-files", f'The folder "{root}" holds no *.yaml or *.yml rule files.', "warning"
            )
        for file in files:
            loader.read_file(file)
    else:
        loader.read_file(root)
    return loader.finish()


def load_rules_text(text: str, name: str = "<string>", *, today: date | None = None) -> RuleSet:
    """Load one rule file given as text; `name` is the path that problems name."""
    loader = _Loader(today)
    loader.read_text(text, name)
    return loader.finish()


def _rule_files(root: str) -> list[str]:
    found: list[tuple[tuple[str, ...], str]] = []
    for folder, folders, names in os.walk(root):
        # Folders named `tests` hold test cases; hidden folders and files (a mounted
        # volume's `..data`, an editor's lock files) are not part of the rule set.
        folders[:] = [name for name in folders if name != "tests" and not name.startswith(".")]
        for name in names:
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                full = os.path.join(folder, name)
                found.append((tuple(os.path.relpath(full, root).split(os.sep)), full))
    return [full for _, full in sorted(found)]


# --- problems ---------------------------------------------------------------------------


@dataclass
class _Sink:
    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        path: str,
        line: int,
        column: int,
        code: str,
        message: str,
        severity: Severity = "error",
        rule_id: str | None = None,
    ) -> None:
        self.problems.append(Problem(path, line, column, code, message, severity, rule_id))


def _describe(value: YamlValue) -> str:
    if isinstance(value, YamlList):
        return "a list"
    if isinstance(value, YamlMap):
        return "a mapping (key: value lines)"
    return f'the text "{value.value}"'


def _suggest(word: str, choices: Iterable[str]) -> str:
    """'did you mean "x"?' for a close match, or ''."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    if word.lower() in lowered:
        return f'did you mean "{lowered[word.lower()]}"?'
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""


def _sentences(first: str, hint: str, rest: str = "") -> str:
    """`first` and the hint in one sentence ("...; did you mean "x"?"), then `rest`."""
    text = f"{first}; {hint}" if hint else f"{first}."
    return f"{text} {rest}" if rest else text


def _quoted_list(words: Iterable[str]) -> str:
    return ", ".join(f'"{word}"' for word in words)


# --- drafts: what one file says, before the set is merged -----------------------------------


@dataclass
class _GroupDraft:
    name: str
    path: str
    key: YamlScalar
    members: list[YamlScalar]


@dataclass
class _NoticeDraft:
    id: str
    path: str
    key: YamlScalar
    notice: Notice | None


@dataclass
class _RuleDraft:
    id: str | None  # None where the id is missing or not valid
    name: str | None  # the id as written, for messages
    path: str
    node: YamlMap
    valid: bool = True
    notice: YamlScalar | None = None
    jurisdictions: list[YamlScalar] = field(default_factory=list)
    except_jurisdictions: list[YamlScalar] = field(default_factory=list)
    paths: tuple[PathPattern, ...] = ()
    except_paths: tuple[PathPattern, ...] = ()
    hosts: tuple[str, ...] = ()
    placement: tuple[Place, ...] = DEFAULT_PLACEMENT
    action: Literal["notice", "block"] = "notice"
    start: datetime | None = None
    until: datetime | None = None
    until_node: YamlValue | None = None
    priority: int = 0
    mode: Literal["enforce", "report-only"] = "enforce"


class _Loader:
    def __init__(self, today: date | None) -> None:
        self.today = today if today is not None else datetime.now(UTC).date()
        self.sink = _Sink()
        self.files: list[str] = []
        self.groups: list[_GroupDraft] = []
        self.notices: list[_NoticeDraft] = []
        self.rules: list[_RuleDraft] = []
        self.defined_groups: dict[str, _GroupDraft] = {}

    # --- reading ----------------------------------------------------------------------------

    def read_file(self, path: str) -> None:
        self.files.append(path)
        try:
            with open(path, "rb") as stream:
                data = stream.read()
        except OSError as error:
            reason = error.strerror or str(error)
            self.sink.add(path, 1, 1, "unreadable", f'The file "{path}" cannot be read: {reason}.')
            return
        self._read(data, path)

    def read_text(self, text: str, path: str) -> None:
        self.files.append(path)
        self._read(text, path)

    def _read(self, data: bytes | str, path: str) -> None:
        value, problems = read_yaml(data, path)
        self.sink.problems.extend(problems)
        if value is None:
            return
        _FileReader(self, path).read(value)

    # --- merging ----------------------------------------------------------------------------

    def finish(self) -> RuleSet:
        groups = self._merge_groups()
        notices = self._merge_notices()
        rules = self._merge_rules(groups, notices)
        order = {path: index for index, path in enumerate(self.files)}
        problems = sorted(self.sink.problems, key=lambda p: (order.get(p.path, -1), p.line, p.column))
        if any(problem.severity == "error" for problem in problems):
            raise RuleFileError(problems)
        return RuleSet(
            rules=tuple(rules),
            notices=MappingProxyType({draft.id: draft.notice for draft in self.notices if draft.notice is not None}),
            groups=MappingProxyType(dict(groups)),
            files=tuple(self.files),
            warnings=tuple(problems),
        )

    def _merge_groups(self) -> dict[str, frozenset[str]]:
        defined: dict[str, _GroupDraft] = {}
        for draft in self.groups:
            first = defined.get(draft.name)
            if first is not None:
                self.sink.add(
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
                self._check_jurisdiction(draft.path, member, defined, None)

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
                        self.sink.add(
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
        self.defined_groups = defined
        return expanded

    def _check_jurisdiction(
        self, path: str, member: YamlScalar, groups: dict[str, _GroupDraft], rule_id: str | None
    ) -> bool:
        word = member.value
        if word.startswith("@"):
            ref = word[1:]
            if ref in BUILTIN_GROUPS or ref in groups:
                return True
            choices = [f"@{name}" for name in (*BUILTIN_GROUPS, *groups)]
            hint = _suggest(word, choices)
            self.sink.add(
                path,
                member.line,
                member.column,
                "undefined-group",
                _sentences(
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
        self.sink.add(path, member.line, member.column, "unknown-jurisdiction", message, rule_id=rule_id)
        return False

    def _merge_notices(self) -> dict[str, _NoticeDraft]:
        defined: dict[str, _NoticeDraft] = {}
        kept: list[_NoticeDraft] = []
        for draft in self.notices:
            first = defined.get(draft.id)
            if first is not None:
                self.sink.add(
                    draft.path,
                    draft.key.line,
                    draft.key.column,
                    "duplicate-id",
                    f'The notice id "{draft.id}" is already used at {first.path}:{first.key.line}:'
                    f"{first.key.column}; notice ids are unique across all rule files.",
                )
                continue
            defined[draft.id] = draft
            kept.append(draft)
        self.notices = kept
        return defined

    def _merge_rules(self, groups: dict[str, frozenset[str]], notices: dict[str, _NoticeDraft]) -> list[Rule]:
        seen: dict[str, _RuleDraft] = {}
        rules: list[Rule] = []
        defined_groups = self.defined_groups
        for draft in self.rules:
            if draft.id is not None:
                first = seen.get(draft.id)
                if first is not None:
                    id_node = draft.node.get("id")
                    at = id_node if id_node is not None else draft.node
                    first_at = first.node.get("id") or first.node
                    self.sink.add(
                        draft.path,
                        at.line,
                        at.column,
                        "duplicate-id",
                        f'The rule id "{draft.id}" is already used at {first.path}:{first_at.line}:'
                        f"{first_at.column}; rule ids are unique across all rule files.",
                        rule_id=draft.name,
                    )
                    draft.valid = False
                else:
                    seen[draft.id] = draft
            if draft.notice is not None and draft.notice.value not in notices:
                hint = _suggest(draft.notice.value, notices)
                known = f" The notices are: {_quoted_list(notices)}." if notices and not hint else ""
                self.sink.add(
                    draft.path,
                    draft.notice.line,
                    draft.notice.column,
                    "unknown-notice",
                    _sentences(
                        f'There is no notice "{draft.notice.value}" in the rule set',
                        hint,
                        f'A rule names the id of a notice defined under "notices:".{known}',
                    ),
                    rule_id=draft.name,
                )
                draft.valid = False
            written: list[tuple[str, ...]] = []
            expanded: list[frozenset[str]] = []
            for members in (draft.jurisdictions, draft.except_jurisdictions):
                codes: set[str] = set()
                for member in members:
                    if not self._check_jurisdiction(draft.path, member, defined_groups, draft.name):
                        draft.valid = False
                        continue
                    word = member.value
                    if word.startswith("@"):
                        codes |= BUILTIN_GROUPS.get(word[1:]) or groups.get(word[1:], frozenset())
                    else:
                        codes.add(word)
                written.append(tuple(member.value for member in members))
                expanded.append(frozenset(codes))
            if draft.until is not None and draft.until <= datetime.combine(self.today, time(0), UTC):
                at_until = draft.until_node or draft.node
                self.sink.add(
                    draft.path,
                    at_until.line,
                    at_until.column,
                    "rule-expired",
                    f'{_rule_name(draft.name)} ended at {_when(draft.until)} ("until") and no longer applies; '
                    'remove the rule, or move "until" if it should still apply.',
                    "warning",
                    draft.name,
                )
            if not draft.valid or draft.id is None or draft.notice is None:
                continue
            rules.append(
                Rule(
                    id=draft.id,
                    notice=draft.notice.value,
                    jurisdictions=expanded[0],
                    except_jurisdictions=expanded[1],
                    paths=draft.paths,
                    except_paths=draft.except_paths,
                    hosts=draft.hosts,
                    placement=draft.placement,
                    action=draft.action,
                    start=draft.start,
                    until=draft.until,
                    priority=draft.priority,
                    mode=draft.mode,
                    location=Location(draft.path, draft.node.line, draft.node.column),
                    jurisdictions_written=written[0],
                    except_jurisdictions_written=written[1],
                )
            )
        return rules


def _rule_name(name: str | None) -> str:
    return f'The rule "{name}"' if name else "This rule"


def _when(moment: datetime) -> str:
    if moment.time() == time(0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- one file -----------------------------------------------------------------------------------


class _FileReader:
    def __init__(self, loader: _Loader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.rule_id: str | None = None

    def error(self, at: YamlValue, code: str, message: str) -> None:
        self.loader.sink.add(self.path, at.line, at.column, code, message, "error", self.rule_id)

    def warning(self, at: YamlValue, code: str, message: str) -> None:
        self.loader.sink.add(self.path, at.line, at.column, code, message, "warning", self.rule_id)

    # --- shapes -----------------------------------------------------------------------------

    def check_keys(self, node: YamlMap, allowed: Sequence[str], what: str) -> None:
        for key, _ in node.items():
            if key.value not in allowed:
                hint = _suggest(key.value, allowed)
                self.error(
                    key,
                    "unknown-key",
                    _sentences(
                        f'"{key.value}" is not a field of {what}',
                        hint,
                        f"{what[0].upper()}{what[1:]} has: {', '.join(allowed)}.",
                    ),
                )

    def optional(self, node: YamlMap, key: str) -> YamlValue | None:
        """The value of `key`, or None where it is absent or nothing is written after it."""
        value = node.get(key)
        if isinstance(value, YamlScalar) and value.is_empty:
            return None
        return value

    def required(self, node: YamlMap, key: str, at: YamlValue, what: str, example: str) -> YamlValue | None:
        value = self.optional(node, key)
        if value is None:
            where: YamlValue = node.key(key) if key in node else at
            self.error(where, "missing-field", f'{what} has no "{key}"; it needs one ({example}).')
        return value

    def text(self, value: YamlValue, field_name: str) -> str | None:
        if not isinstance(value, YamlScalar):
            self.error(value, "bad-type", f'"{field_name}" needs text, not {_describe(value)}.')
            return None
        if not value.value.strip():
            self.error(value, "empty-value", f'"{field_name}" is empty; write its text, or leave the field out.')
            return None
        return value.value

    def strings(self, value: YamlValue, field_name: str, example: str) -> tuple[list[YamlScalar], bool] | None:
        """The text entries of a list, and whether every entry was text; None where `value` is not a list."""
        if isinstance(value, YamlScalar):
            one = value.value if _PLAIN_SAFE.match(value.value) else f'"{value.value}"'
            self.error(
                value,
                "bad-type",
                f'"{field_name}" needs a list, such as {example}; to give one value, write it in brackets: [{one}].'
                if value.value
                else f'"{field_name}" needs a list, such as {example}.',
            )
            return None
        if isinstance(value, YamlMap):
            self.error(value, "bad-type", f'"{field_name}" needs a list, such as {example}, not {_describe(value)}.')
            return None
        items: list[YamlScalar] = []
        for item in value:
            if isinstance(item, YamlScalar):
                items.append(item)
            else:
                self.error(
                    item, "bad-type", f'Each entry of "{field_name}" is text, such as {example}, not {_describe(item)}.'
                )
        return items, len(items) == len(value)

    def choice(self, value: YamlValue, field_name: str, choices: Sequence[_T]) -> _T | None:
        text = self.text(value, field_name)
        if text is None:
            return None
        for choice in choices:
            if choice == text:
                return choice
        hint = _suggest(text, [str(choice) for choice in choices])
        self.error(
            value,
            f"bad-{field_name}",
            _sentences(
                f'"{text}" is not a valid "{field_name}"', hint, f"It is one of {_quoted_list(map(str, choices))}."
            ),
        )
        return None

    def date_value(self, value: YamlValue, field_name: str) -> date | None:
        text = self.text(value, field_name)
        if text is None:
            return None
        if _DATE.match(text):
            try:
                return date.fromisoformat(text)
            except ValueError as error:
                self.error(value, "bad-date", f'"{text}" is not a real date ({error}).')
                return None
        self.error(value, "bad-date", f'"{text}" is not a date; write dates as YYYY-MM-DD, such as 2027-06-30.')
        return None

    def moment(self, value: YamlValue, field_name: str) -> datetime | None:
        text = self.text(value, field_name)
        if text is None:
            return None
        if _DATE.match(text) or _DATETIME.match(text):
            try:
                if _DATE.match(text):
                    return datetime.combine(date.fromisoformat(text), time(0), UTC)
                moment = datetime.fromisoformat(text.upper().replace(",", "."))
            except ValueError as error:
                self.error(value, "bad-date", f'"{text}" is not a real date or time ({error}).')
                return None
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        self.error(
            value,
            "bad-date",
            f'"{text}" is not a date; write a date as YYYY-MM-DD (2024-08-20, midnight UTC) or a date and time '
            "in ISO 8601 (2024-08-20T09:00:00+03:00; UTC where no offset is given).",
        )
        return None

    # --- the file ---------------------------------------------------------------------------

    def read(self, top: YamlValue) -> None:
        if not isinstance(top, YamlMap):
            self.error(
                top,
                "bad-type",
                f'A rule file is a mapping with the keys "groups", "notices" and "rules"; this file holds '
                f"{_describe(top)}.",
            )
            return
        for key, _ in top.items():
            if key.value not in TOP_LEVEL_KEYS:
                hint = _suggest(key.value, TOP_LEVEL_KEYS)
                self.error(
                    key,
                    "unknown-key",
                    _sentences(
                        f'"{key.value}" is not a section of a rule file',
                        hint,
                        'A rule file has "groups", "notices" and "rules" only.',
                    ),
                )
        groups = self.optional(top, "groups")
        if groups is not None:
            self.read_groups(groups)
        notices = self.optional(top, "notices")
        if notices is not None:
            self.read_notices(notices)
        rules = self.optional(top, "rules")
        if rules is not None:
            self.read_rules(rules)

    def check_id(self, key: YamlScalar, what: str) -> bool:
        word = key.value
        if _ID.match(word):
            return True
        fixed = re.sub(r"[^a-z0-9-]", "", re.sub(r"[\s_]+", "-", word.strip().lower()))
        hint = f' Did you mean "{fixed}"?' if fixed and fixed != word else ""
        self.error(key, "bad-id", f'"{word}" is not a valid {what}: use lowercase letters, digits and "-" only.{hint}')
        return False

    # --- groups -----------------------------------------------------------------------------

    def read_groups(self, groups: YamlValue) -> None:
        if not isinstance(groups, YamlMap):
            self.error(
                groups,
                "bad-type",
                f'"groups" needs a mapping of group names to lists of codes, such as "baltics: [EE, LV, LT]", not '
                f"{_describe(groups)}.",
            )
            return
        for key, value in groups.items():
            name = key.value
            if name.startswith("@"):
                self.error(
                    key,
                    "bad-id",
                    f'Write the group name without "@" where it is defined ("{name[1:]}:"); rules then name it '
                    f'"{name}".',
                )
                continue
            if name.upper() in BUILTIN_GROUPS:
                self.error(
                    key,
                    "bad-id",
                    f'"{name}" is the name of the built-in group "@{name.upper()}"; choose another name for this '
                    "group.",
                )
                continue
            if not self.check_id(key, "group name"):
                continue
            found = self.strings(value, name, '[EE, LV, LT] or ["@EU", CH]')
            if found is None:
                continue
            members = found[0]
            if not members:
                self.warning(
                    value, "empty-group", f'The group "{name}" has no members; a rule that names it matches no one.'
                )
            self.loader.groups.append(_GroupDraft(name, self.path, key, members))

    # --- notices ----------------------------------------------------------------------------

    def read_notices(self, notices: YamlValue) -> None:
        if not isinstance(notices, YamlMap):
            self.error(
                notices,
                "bad-type",
                '"notices" needs a mapping of notice ids to notices: the id followed by ":" on a line of its own, '
                f"and the notice's fields indented below it; not {_describe(notices)}.",
            )
            return
        for key, value in notices.items():
            if not self.check_id(key, "notice id"):
                continue
            self.loader.notices.append(_NoticeDraft(key.value, self.path, key, self.read_notice(key, value)))

    def read_notice(self, key: YamlScalar, node: YamlValue) -> Notice | None:
        notice_id = key.value
        if not isinstance(node, YamlMap):
            self.error(
                node if not (isinstance(node, YamlScalar) and node.is_empty) else key,
                "bad-type",
                f'The notice "{notice_id}" needs its fields (title, text, ...) indented below it, not '
                f"{_describe(node) if not (isinstance(node, YamlScalar) and node.is_empty) else 'nothing'}.",
            )
            return None
        what = f'The notice "{notice_id}"'
        self.check_keys(node, NOTICE_KEYS, "a notice")
        ok = True

        def optional_text(name: str) -> str | None:
            nonlocal ok
            value = self.optional(node, name)
            if value is None:
                return None
            found = self.text(value, name)
            ok = ok and found is not None
            return found

        title_node = self.required(node, "title", key, what, "title: a short description for reports")
        title = self.text(title_node, "title") if title_node is not None else None
        legal_basis = optional_text("legal_basis")
        owner = optional_text("owner")
        css = optional_text("css")
        if css is not None and "</" in css:
            self.error(
                node.get("css") or node,
                "bad-css",
                'The CSS contains "</", which would end the <style> element it goes into; remove it.',
            )
            ok = False
        source_url = optional_text("source_url")
        if source_url is not None and not _is_http_url(source_url):
            self.error(
                node.get("source_url") or node,
                "bad-url",
                f'"{source_url}" is not a web address; "source_url" starts with https:// or http://.',
            )
            ok = False
        review_by: date | None = None
        review_node = self.optional(node, "review_by")
        if review_node is not None:
            review_by = self.date_value(review_node, "review_by")
            if review_by is None:
                ok = False
            elif review_by < self.loader.today:
                self.warning(
                    review_node,
                    "review-overdue",
                    f'The notice "{notice_id}" was due for review by {review_by.isoformat()}; review it and move '
                    '"review_by".',
                )
        text_node = self.required(node, "text", key, what, "text: with one entry per language, such as en:")
        texts = (
            self.read_language_map(text_node, "text", '"en: The text of the notice."')
            if text_node is not None
            else None
        )
        default_language: str | None = None
        default_node = self.optional(node, "default_language")
        if texts is not None:
            default_language = next(iter(texts))
            if default_node is not None:
                chosen = self.text(default_node, "default_language")
                if chosen is None:
                    ok = False
                elif chosen not in texts:
                    hint = _suggest(chosen, texts)
                    self.error(
                        default_node,
                        "bad-language",
                        _sentences(
                            f'"default_language" is "{chosen}", but the notice has no text in "{chosen}"',
                            hint,
                            f"Its languages are {_quoted_list(texts)}.",
                        ),
                    )
                    ok = False
                else:
                    default_language = chosen
        link: Link | None = None
        link_node = self.optional(node, "link")
        if link_node is not None:
            link = self.read_link(link_node, texts, default_language)
            ok = ok and link is not None
        if not ok or title is None or texts is None or default_language is None:
            return None
        return Notice(
            id=notice_id,
            title=title,
            text=MappingProxyType(texts),
            default_language=default_language,
            link=link,
            legal_basis=legal_basis,
            source_url=source_url,
            owner=owner,
            review_by=review_by,
            css=css,
            location=Location(self.path, key.line, key.column),
        )

    def read_language_map(self, node: YamlValue, field_name: str, example: str) -> dict[str, str] | None:
        if not isinstance(node, YamlMap):
            self.error(
                node,
                "bad-type",
                f'"{field_name}" needs one entry per language, such as {example}, not {_describe(node)}.',
            )
            return None
        if not node.entries:
            self.error(node, "empty-value", f'"{field_name}" has no languages; add one, such as {example}.')
            return None
        found: dict[str, str] = {}
        seen: dict[str, str] = {}
        ok = True
        for key, value in node.items():
            tag = key.value
            message = check_language(tag)
            if message is not None:
                self.error(key, "bad-language", message)
                ok = False
                continue
            if tag.lower() in seen:
                self.error(
                    key,
                    "duplicate-key",
                    f'The language "{tag}" is given twice in "{field_name}" (also as "{seen[tag.lower()]}").',
                )
                ok = False
                continue
            seen[tag.lower()] = tag
            text = self.text(value, f"{field_name}: {tag}") if value is not None else None
            if text is None:
                ok = False
                continue
            found[tag] = text
        return found if ok else None

    def read_link(self, node: YamlValue, texts: dict[str, str] | None, default_language: str | None) -> Link | None:
        if not isinstance(node, YamlMap):
            self.error(
                node,
                "bad-type",
                f'"link" needs "href" and "text" indented below it, not {_describe(node)}.',
            )
            return None
        self.check_keys(node, LINK_KEYS, "a link")
        what = "The link"
        href_node = self.required(node, "href", node, what, "href: https://example.org/page")
        href = self.text(href_node, "href") if href_node is not None else None
        if href is not None and href_node is not None and not _is_href(href):
            self.error(
                href_node,
                "bad-url",
                f'"{href}" is not a link address: "href" is a web address (https://...) or a path on this site '
                'starting with "/".',
            )
            href = None
        text_node = self.required(node, "text", node, what, 'text: "To find out more, click here."')
        link_texts: dict[str, str] | None = None
        if text_node is not None:
            if isinstance(text_node, YamlScalar):
                single = self.text(text_node, "link: text")
                if single is not None and texts is not None:
                    link_texts = dict.fromkeys(texts, single)
            else:
                link_texts = self.read_language_map(text_node, "link: text", '{en: "To find out more."}')
                if link_texts is not None and texts is not None:
                    for language in link_texts:
                        if language not in texts:
                            self.error(
                                text_node.key(language) if isinstance(text_node, YamlMap) else text_node,
                                "bad-language",
                                f'The link has a text in "{language}", but the notice has no text in "{language}"; '
                                f"its languages are {_quoted_list(texts)}.",
                            )
                            link_texts = None
                            break
                    if link_texts is not None and default_language is not None and default_language not in link_texts:
                        self.error(
                            text_node,
                            "bad-language",
                            f'The link has no text in "{default_language}", the notice\'s default language; add one.',
                        )
                        link_texts = None
        if href is None or link_texts is None:
            return None
        return Link(href=href, text=MappingProxyType(link_texts))

    # --- rules ------------------------------------------------------------------------------

    def read_rules(self, rules: YamlValue) -> None:
        if not isinstance(rules, YamlList):
            self.error(
                rules,
                "bad-type",
                f'"rules" needs a list of rules, each starting with "- id:", not {_describe(rules)}.',
            )
            return
        for node in rules:
            self.rule_id = None
            if not isinstance(node, YamlMap):
                self.error(
                    node,
                    "bad-type",
                    f'Each rule is a set of fields ("- id: ...", then "notice:", "jurisdictions:" ...), not '
                    f"{_describe(node)}.",
                )
                continue
            self.read_rule(node)
        self.rule_id = None

    def read_rule(self, node: YamlMap) -> None:
        id_node = self.optional(node, "id")
        rule_id: str | None = None
        if isinstance(id_node, YamlScalar):
            self.rule_id = id_node.value
            if self.check_id(id_node, "rule id"):
                rule_id = id_node.value
        draft = _RuleDraft(rule_id, self.rule_id, self.path, node)
        self.loader.rules.append(draft)
        what = _rule_name(self.rule_id)
        self.check_keys(node, RULE_KEYS, "a rule")
        if id_node is None:
            self.required(node, "id", node, what, "id: a name of lowercase letters, digits and -")
            draft.valid = False
        elif not isinstance(id_node, YamlScalar):
            self.text(id_node, "id")
            draft.valid = False
        elif rule_id is None:
            draft.valid = False

        notice_node = self.required(node, "notice", node, what, "notice: the id of a notice")
        if notice_node is not None:
            if self.text(notice_node, "notice") is not None and isinstance(notice_node, YamlScalar):
                draft.notice = notice_node
            else:
                draft.valid = False
        else:
            draft.valid = False

        jurisdictions_node = self.required(node, "jurisdictions", node, what, 'jurisdictions: [RU] or ["@EU"]')
        if jurisdictions_node is not None:
            found = self.strings(jurisdictions_node, "jurisdictions", '[RU] or ["@EU", GB]')
            if found is None:
                draft.valid = False
            elif not found[0] and found[1]:
                self.error(
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
        except_node = self.optional(node, "except_jurisdictions")
        if except_node is not None:
            found = self.strings(except_node, "except_jurisdictions", '[UA-43] or ["@EU"]')
            if found is None:
                draft.valid = False
            else:
                draft.except_jurisdictions = found[0]
                draft.valid = draft.valid and found[1]

        paths = self.read_paths(node, "paths", allow_empty=False)
        except_paths = self.read_paths(node, "except_paths", allow_empty=True)
        if paths is None or except_paths is None:
            draft.valid = False
        else:
            draft.paths = paths or tuple(path_pattern(p) for p in DEFAULT_PATHS)
            draft.except_paths = except_paths
        hosts = self.read_hosts(node)
        if hosts is None:
            draft.valid = False
        else:
            draft.hosts = hosts

        action_node = self.optional(node, "action")
        if action_node is not None:
            action = self.choice(action_node, "action", ACTIONS)
            if action is None:
                draft.valid = False
            else:
                draft.action = action
        placement_node = self.optional(node, "placement")
        if placement_node is not None:
            placement = self.read_placement(placement_node)
            if placement is None:
                draft.valid = False
            else:
                draft.placement = placement
                if draft.action == "block":
                    self.warning(
                        placement_node,
                        "placement-ignored",
                        'A "block" rule answers with a page of its own, so its "placement" is not used; remove it.',
                    )
        mode_node = self.optional(node, "mode")
        if mode_node is not None:
            mode = self.choice(mode_node, "mode", MODES)
            if mode is None:
                draft.valid = False
            else:
                draft.mode = mode

        start_node = self.optional(node, "from")
        if start_node is not None:
            draft.start = self.moment(start_node, "from")
            draft.valid = draft.valid and draft.start is not None
        until_node = self.optional(node, "until")
        if until_node is not None:
            draft.until = self.moment(until_node, "until")
            draft.until_node = until_node
            draft.valid = draft.valid and draft.until is not None
        if draft.start is not None and draft.until is not None and draft.start >= draft.until:
            self.error(
                until_node or node,
                "bad-date-range",
                f'"until" ({_when(draft.until)}) must be after "from" ({_when(draft.start)}); the rule would never '
                "apply.",
            )
            draft.valid = False

        priority_node = self.optional(node, "priority")
        if priority_node is not None:
            text = self.text(priority_node, "priority")
            if text is not None and _INTEGER.match(text):
                draft.priority = int(text)
            else:
                if text is not None:
                    self.error(
                        priority_node,
                        "bad-type",
                        f'"priority" needs a whole number, such as 10 or -5; "{text}" is not one.',
                    )
                draft.valid = False

    def read_paths(self, node: YamlMap, field_name: str, *, allow_empty: bool) -> tuple[PathPattern, ...] | None:
        value = self.optional(node, field_name)
        if value is None:
            return ()
        found = self.strings(value, field_name, '["/news/**"]')
        if found is None:
            return None
        items, complete = found
        if not items and complete and not allow_empty:
            self.error(
                value,
                "empty-value",
                f'"{field_name}" is empty, so the rule would apply nowhere; leave the field out to mean every path.',
            )
            return None
        patterns: list[PathPattern] = []
        for item in items:
            try:
                patterns.append(path_pattern(item.value))
            except PatternError as error:
                column = item.column
                if item.style is None and "\n" not in item.value:
                    column += error.position
                elif item.style in ("'", '"') and not any(c in item.value for c in "'\"\\\n"):
                    column += 1 + error.position
                self.loader.sink.add(
                    self.path, item.line, column, "bad-path", f'"{item.value}": {error.message}', "error", self.rule_id
                )
        return tuple(patterns) if complete and len(patterns) == len(items) else None

    def read_hosts(self, node: YamlMap) -> tuple[str, ...] | None:
        value = self.optional(node, "hosts")
        if value is None:
            return ()
        found = self.strings(value, "hosts", '["www.example.org"]')
        if found is None:
            return None
        items, complete = found
        hosts: list[str] = []
        for item in items:
            try:
                hosts.append(normalize_host(item.value))
            except PatternError as error:
                self.error(item, "bad-host", f'"{item.value}": {error.message}')
        return tuple(hosts) if complete and len(hosts) == len(items) else None

    # --- placement --------------------------------------------------------------------------

    def read_placement(self, node: YamlValue) -> tuple[Place, ...] | None:
        if isinstance(node, YamlList):
            if not node.items:
                self.error(
                    node,
                    "bad-placement",
                    '"placement" is an empty list; name at least one place, or leave the field out for body-end.',
                )
                return None
            places: list[Place] = []
            for item in node:
                place = self.read_place(item)
                if place is None:
                    continue
                if place.kind in ("header", "json"):
                    self.error(
                        item,
                        "bad-placement",
                        f'A "{place.kind}" placement stands alone; a list holds places in an HTML page only '
                        "(body-start, body-end, marker, before, after, prepend, append).",
                    )
                    continue
                places.append(place)
            return tuple(places) if len(places) == len(node.items) else None
        place = self.read_place(node)
        return None if place is None else (place,)

    def read_place(self, node: YamlValue) -> Place | None:
        kinds = f"{_quoted_list(PLACE_WORDS)}, or one of {', '.join(f'{{{k}: ...}}' for k in PLACE_KEYS)}"
        if isinstance(node, YamlScalar):
            word = node.value
            if word in PLACE_WORDS:
                return Place("body-start" if word == "body-start" else "body-end")
            if word in PLACE_KEYS:
                self.error(
                    node,
                    "bad-placement",
                    f'"{word}" needs a value: write {{{word}: {_place_example(word)}}}.',
                )
                return None
            hint = _suggest(word, PLACE_WORDS)
            self.error(
                node, "bad-placement", _sentences(f'"{word}" is not a placement', hint, f"A placement is {kinds}.")
            )
            return None
        if isinstance(node, YamlList):
            self.error(node, "bad-placement", "A list of places cannot contain another list.")
            return None
        if len(node.entries) != 1:
            self.error(
                node,
                "bad-placement",
                'A placement mapping has exactly one key, such as {before: "article h1"}; to give several places '
                "in order of preference, write a list.",
            )
            return None
        key, value = next(node.items())
        kind = key.value
        if kind not in PLACE_KEYS:
            hint = _suggest(kind, PLACE_KEYS)
            self.error(
                key,
                "bad-placement",
                _sentences(f'"{kind}" is not a kind of placement', hint, f"A placement is {kinds}."),
            )
            return None
        argument = self.text(value, kind)
        if argument is None:
            return None
        argument = argument.strip()
        problem: str | None = None
        if kind == "marker" and not _MARKER.match(argument):
            problem = (
                f'"{argument}" is not a valid marker name: use letters, digits, "-", "_" and "." only; the page '
                f"holds it as <!-- NAME -->."
            )
        elif kind in SELECTOR_PLACES:
            problem = check_selector(argument)
        elif kind == "header":
            if not _HTTP_TOKEN.match(argument):
                problem = (
                    f'"{argument}" is not a valid HTTP header name: use letters, digits and "-", such as '
                    '"X-Legal-Notices".'
                )
            elif argument.lower() in _RESERVED_HEADERS:
                problem = (
                    f'The header "{argument}" is one the response needs for its own purpose; choose a header of '
                    'your own, such as "X-Legal-Notices".'
                )
        if problem is not None:
            self.error(value, "bad-selector" if kind in SELECTOR_PLACES else "bad-placement", problem)
            return None
        place_kind: PlaceKind = _PLACE_KINDS[kind]
        return Place(place_kind, argument)


_PLACE_KINDS: Final[dict[str, PlaceKind]] = {
    "marker": "marker",
    "before": "before",
    "after": "after",
    "prepend": "prepend",
    "append": "append",
    "header": "header",
    "json": "json",
}


def _place_example(kind: str) -> str:
    return {"marker": "legal-notice", "header": "X-Legal-Notices", "json": "legal_notices"}.get(kind, '"article h1"')


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in text)


def _is_href(text: str) -> bool:
    if text.startswith("/") and not text.startswith("//"):
        return not any(c.isspace() for c in text)
    return _is_http_url(text)


def check_language(tag: str) -> str | None:
    """None for a BCP 47 tag whose language is a known ISO 639 code, else what is wrong with it."""
    if not _LANGUAGE_TAG.match(tag):
        hint = ""
        try:
            language = pycountry.languages.lookup(tag.strip())
        except LookupError:
            pass
        else:
            code = getattr(language, "alpha_2", None) or getattr(language, "alpha_3", "")
            hint = f'did you mean "{code}" ({language.name})?'
        return _sentences(f'"{tag}" is not a language tag', hint, 'Write a BCP 47 tag such as "en", "ru" or "pt-BR".')
    primary = tag.split("-", 1)[0].lower()
    known = pycountry.languages.get(alpha_2=primary) if len(primary) == 2 else pycountry.languages.get(alpha_3=primary)
    if known is None:
        return (
            f'"{tag}" does not start with a known ISO 639 language code; write a BCP 47 tag such as "en", "ru" or '
            '"pt-BR".'
        )
    return None


def check_selector(selector: str) -> str | None:
    """None for a selector of the supported subset, else a sentence naming the unsupported part."""
    text = selector.strip()
    if not text:
        return f"The selector is empty. {_CSS_SUPPORTED}"
    position = 0
    want_compound = True
    while position < len(text):
        if want_compound:
            match = _CSS_COMPOUND.match(text, position)
            if match is None or match.end() == position:
                return _unsupported_message(text, position)
            position = match.end()
        else:
            match = _CSS_COMBINATOR.match(text, position)
            if match is None or match.end() == position:
                return _unsupported_message(text, position)
            position = match.end()
        want_compound = not want_compound
    if want_compound:
        return f'The selector "{text}" ends with ">", which needs an element after it.'
    return None


def _unsupported_message(text: str, position: int) -> str:
    extra = " For several places in order of preference, write a list of placements." if text[position] == "," else ""
    part = _unsupported(text, position)
    return f'The selector "{text}" uses {part}, which is not supported here.{extra} {_CSS_SUPPORTED}'


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
        operator = re.match(r"\[[^\]=~|^$*]*([~|^$*]=)", rest)
        if operator:
            return f'the attribute operator "{operator.group(1)}"'
        return f'the attribute selector "{rest.split("]", 1)[0]}]"'
    if char == "|":
        return 'a namespace ("|")'
    return f'"{char}"'
