"""Rule files: finding and reading them, the sections of one file, and merging every file into one `RuleSet`."""

from __future__ import annotations

import os
import stat
from datetime import date
from types import MappingProxyType
from typing import Final

from compliance.errors import Problem, RuleFileError
from compliance.rules.collector import collector_paused
from compliance.rules.load.groups import merge_groups, read_groups
from compliance.rules.load.merge import merge_rules
from compliance.rules.load.messages import describe, sentences, suggest
from compliance.rules.load.notices import merge_notices, read_notices
from compliance.rules.load.policy import apply_policy, merge_policy, read_policy
from compliance.rules.load.rules import read_rules
from compliance.rules.load.state import Loader
from compliance.rules.load.values import FileReader
from compliance.rules.model import RuleSet
from compliance.rules.yamlstrict import YamlMap, YamlValue, read_yaml

__all__ = ["MAX_RULE_FILE", "TOP_LEVEL_KEYS", "NotARuleFile", "load_rules", "load_rules_text", "read_rule_file"]

TOP_LEVEL_KEYS: Final = ("groups", "notices", "rules", "policy")


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
    with collector_paused():
        return _load(root, today)


def _load(root: str, today: date | None) -> RuleSet:
    loader = Loader(today)
    if os.path.isdir(root):
        files = _rule_files(root)
        if not files:
            loader.sink.add(
                root,
                1,
                1,
                "no-rule-files",
                f'The folder "{root}" holds no *.yaml or *.yml rule files (folders named "tests" are not rules); '
                "check the path to the rules.",
            )
        for file in files:
            _read_file(loader, file)
    else:
        _read_file(loader, root)
    return _finish(loader)


def load_rules_text(text: str, name: str = "<string>", *, today: date | None = None) -> RuleSet:
    """Load one rule file given as text; `name` is the path that problems name."""
    with collector_paused():
        loader = Loader(today)
        _read_text(loader, text, name)
        return _finish(loader)


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


#: The largest rule file read: far beyond any real one, and a bound on what a mistake can cost.
MAX_RULE_FILE: Final = 10 * 1024 * 1024


class NotARuleFile(OSError):
    """A rule "file" that is not a regular file, or is larger than `MAX_RULE_FILE`."""


def read_rule_file(path: str) -> bytes:
    """The bytes of a rule file: a regular file (a symlink to one is fine) of at most `MAX_RULE_FILE` bytes.

    A device (`/dev/zero`), a FIFO or a socket is refused without blocking or reading it.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotARuleFile(
                "it is not a regular file (a device, a pipe or a socket); rule files are plain files, and "
                "a symlink must point to one"
            )
        data = stream.read(MAX_RULE_FILE + 1)
    if len(data) > MAX_RULE_FILE:
        raise NotARuleFile(f"it is larger than {MAX_RULE_FILE // (1024 * 1024)} MiB; split it into several files")
    return data


def _read_file(loader: Loader, path: str) -> None:
    loader.files.append(path)
    try:
        data = read_rule_file(path)
    except NotARuleFile as error:
        loader.sink.add(path, 1, 1, "unreadable", f'The file "{path}" cannot be read: {error}.')
        return
    except OSError as error:
        reason = error.strerror or str(error)
        loader.sink.add(path, 1, 1, "unreadable", f'The file "{path}" cannot be read: {reason}.')
        return
    _read(loader, data, path)


def _read_text(loader: Loader, text: str, path: str) -> None:
    loader.files.append(path)
    _read(loader, text, path)


def _read(loader: Loader, data: bytes | str, path: str) -> None:
    value, problems = read_yaml(data, path)
    loader.sink.problems.extend(problems)
    if value is None:
        return
    _read_sections(FileReader(loader, path), value)


def _read_sections(reader: FileReader, top: YamlValue) -> None:
    if not isinstance(top, YamlMap):
        reader.error(
            top,
            "bad-type",
            f'A rule file is a mapping with the keys "groups", "notices", "rules" and "policy"; this file holds '
            f"{describe(top)}.",
        )
        return
    for key, _ in top.items():
        if key.value not in TOP_LEVEL_KEYS:
            hint = suggest(key.value, TOP_LEVEL_KEYS)
            reader.error(
                key,
                "unknown-key",
                sentences(
                    f'"{key.value}" is not a section of a rule file',
                    hint,
                    'A rule file has "groups", "notices", "rules" and "policy" only.',
                ),
            )
    groups = reader.optional(top, "groups")
    if groups is not None:
        read_groups(reader, groups)
    notices = reader.optional(top, "notices")
    if notices is not None:
        read_notices(reader, notices)
    rules = reader.optional(top, "rules")
    if rules is not None:
        read_rules(reader, rules)
    policy = reader.optional(top, "policy")
    if policy is not None:
        read_policy(reader, policy)


def _finish(loader: Loader) -> RuleSet:
    groups = merge_groups(loader)
    notices = merge_notices(loader)
    policy, policy_location = merge_policy(loader)
    rules = apply_policy(merge_rules(loader, groups, notices), policy)
    order = {path: index for index, path in enumerate(loader.files)}
    problems = sorted(loader.sink.problems, key=lambda p: (order.get(p.path, -1), p.line, p.column))
    if any(problem.severity == "error" for problem in problems):
        raise RuleFileError(problems)
    return RuleSet(
        rules=tuple(rules),
        notices=MappingProxyType({draft.id: draft.notice for draft in loader.notices if draft.notice is not None}),
        groups=MappingProxyType(dict(groups)),
        files=tuple(loader.files),
        warnings=tuple(problems),
        block_policy=policy,
        policy_location=policy_location,
    )
