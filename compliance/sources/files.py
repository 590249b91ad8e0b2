"""Rules from a file or a folder on disk: which files, their stat, and when a change may be read."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Final, Protocol

from compliance._poll import Stamp, stamp_files
from compliance.rules import load_rules
from compliance.rules.load.files import read_rule_file
from compliance.rules.model import RuleSet
from compliance.sources.elsewhere import load_rules_elsewhere

__all__ = ["SETTLE", "FileOrigin", "Origin", "rule_paths"]

logger = logging.getLogger("compliance")

#: A file modified less than this long ago may change again within the file system's
#: timestamp granularity without its stat changing: its content is checked too.
_RACY_NS: Final = 2_000_000_000
#: A change is loaded once the files have been still this long (at most the interval),
#: so that a file written in place is not read while half written.
SETTLE: Final = 0.25


# --- watching files ---------------------------------------------------------------------------


def rule_paths(root: str) -> tuple[list[str], list[str]]:
    """The folders and rule files a rule set at `root` is read from (the loader's selection)."""
    if not os.path.isdir(root):
        return [], [root]
    folders: list[str] = []
    files: list[str] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name != "tests" and not name.startswith("."))
        folders.append(folder)
        files.extend(
            os.path.join(folder, name)
            for name in sorted(names)
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
        )
    return folders, files


def _newest(stamp: Stamp) -> int:
    return max((max(entry[0], entry[1]) for _, entry in stamp if entry is not None), default=0)


def _is_racy(stamp: Stamp) -> bool:
    return _newest(stamp) >= time.time_ns() - _RACY_NS


class FileOrigin:
    """Where the rules come from when `rules` is a file or folder."""

    def __init__(self, path: str, settle: float = SETTLE) -> None:
        self.path = path
        self.display = path
        self.settle_ns = int(settle * 1e9)
        #: Set when a change was seen but not yet loaded: seconds until it can be.
        self.retry_in: float | None = None
        self.standing_error: Exception | None = None
        self._stamp: Stamp = ()
        self._racy = False
        self._seen: str | None = None

    def _snapshot(self) -> tuple[Stamp, list[str]]:
        folders, files = rule_paths(self.path)
        return stamp_files(folders + files), files

    def _digest(self, files: list[str]) -> str:
        """The content digest of the rule files (a file that is gone counts as gone)."""
        digest = hashlib.sha256()
        for file in files:
            name = os.path.relpath(file, self.path) if file != self.path else os.path.basename(file)
            try:
                data = read_rule_file(file)
            except OSError as exc:
                digest.update(f"{name}\0unreadable {exc.errno}\0".encode())
                continue
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()

    def _being_written(self, stamp: Stamp, files: list[str]) -> bool:
        """Whether a file may be half written: changed within the settling time, or freshly emptied.

        A file written in place is first truncated, then written: read in between, it
        would take every rule it holds out of force. An empty file is loaded once it
        has stayed empty for a while.
        """
        now = time.time_ns()
        newest = _newest(stamp)
        if newest > now - self.settle_ns:
            self.retry_in = (newest + self.settle_ns - now) / 1e9 + 0.005
            return True
        names = set(files)
        emptied = [
            max(entry[0], entry[1]) for path, entry in stamp if path in names and entry is not None and entry[2] == 0
        ]
        if emptied and max(emptied) > now - _RACY_NS:
            self.retry_in = (max(emptied) + _RACY_NS - now) / 1e9 + 0.005
            return True
        return False

    def initial(self) -> tuple[RuleSet, str, Exception | None]:
        stamp, files = self._snapshot()
        digest = self._digest(files)
        ruleset = load_rules(self.path)
        self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
        return ruleset, digest, None

    def check(self, version: str, force: bool = False) -> tuple[RuleSet, str] | None:
        self.retry_in = None
        stamp, files = self._snapshot()
        if stamp == self._stamp and not (self._racy or force):
            return None
        if not force and self._being_written(stamp, files):
            return None  # look again once settled (see `retry_in`)
        digest = self._digest(files)
        if digest == self._seen or digest == version:
            # The same content (touched, or put back as it is in force): nothing to load.
            if digest == version:
                self.standing_error = None
            self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
            return None
        try:
            ruleset = load_rules_elsewhere(self.path)  # a reload: read in the helper process
        except Exception as exc:
            if self._snapshot()[0] != stamp:
                return None  # changed while loading: look again next time
            self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
            self.standing_error = exc
            raise
        if self._snapshot()[0] != stamp:
            return None  # changed while loading: the set may mix two versions
        self._stamp, self._racy, self._seen = stamp, _is_racy(stamp), digest
        self.standing_error = None
        return ruleset, digest

    def close(self) -> None:
        pass

    def after_fork(self) -> None:
        pass


class Origin(Protocol):
    display: str
    standing_error: Exception | None
    retry_in: float | None

    def initial(self) -> tuple[RuleSet, str, Exception | None]: ...

    def check(self, version: str, force: bool = False) -> tuple[RuleSet, str] | None: ...

    def close(self) -> None: ...

    def after_fork(self) -> None: ...
