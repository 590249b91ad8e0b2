"""Which rules cover a host and a path, without looking at every rule.

`CoverIndex` is compiled once per rule set. Rules are numbered (the caller picks
the order) and sets of rules are Python integers used as bitsets, so a union or
an intersection over thousands of rules is one machine-level operation on a few
hundred words.

* **Hosts**: the rules with no `hosts` (every host), and the rules of each exact
  host and of each `*.` suffix, in dicts; a host is looked up once per label.
* **Paths**: each distinct pattern is matched once per path, whatever the number
  of rules that name it. Globs sit in a trie of their segments, with an edge for
  `*` and for each segment with `*` inside (`/news/*/amp` is `news`, then any
  segment, then `amp`), so a path walks the globs along its own segments and no
  glob is matched in full (but for those with `**` before their last segment,
  matched in full where their leading segments lead); `re:` patterns are matched
  together by RE2 sets (linear in the path for the whole set). A rule covers the
  path where one of its `paths` matches and none of its `except_paths` does.

`covering(host, path)` is exactly `{rules whose hosts and paths cover it}`, as a
scan of every rule finds it (the property tests check it against such a scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import re2

from compliance.rules.model import PathPattern, Rule
from compliance.rules.paths import ANY_HOST, host_only, segment_matches

__all__ = ["CoverIndex", "bits_of"]

#: Patterns per RE2 set: small enough that one set's automaton stays far inside its memory budget.
_SET_SIZE: Final = 128
_SET_MEMORY: Final = 64 << 20
_ANCHOR_BOTH: Any = getattr(getattr(re2, "_Anchor", None), "ANCHOR_BOTH", None)
#: Hosts whose rules are kept, and the longest host kept: bounded in bytes whatever Host readers send.
_HOSTS_KEPT: Final = 256
_MAX_KEPT_HOST: Final = 300


class _Pattern:
    """A distinct pattern, with the rules that name it under `paths` and under `except_paths`."""

    __slots__ = ("covers", "excludes", "pattern")

    def __init__(self, pattern: PathPattern) -> None:
        self.pattern = pattern
        self.covers = 0
        self.excludes = 0


class _Node:
    """A point in the trie of globs, reached by the path segments that lead here.

    Edges are literal segments (`children`), the segment `*` (`star`, any one segment) and
    segments with `*` inside (`partial`, such as `*.html`), so a glob of such segments is never
    matched in full: the walk follows every edge a segment takes. `covers` and `excludes`
    gather the `PREFIX/**` globs ending here, which match every path that reaches this node;
    `end_*` the globs that end here, which match a path that ends here, and `slash_*` those of
    them not ending in `/`, which also match a path with one `/` more. `patterns` are the
    globs with `**` before their last segment, matched in full.
    """

    __slots__ = (
        "children",
        "covers",
        "end_covers",
        "end_excludes",
        "excludes",
        "partial",
        "patterns",
        "slash_covers",
        "slash_excludes",
        "star",
        "wild",
    )

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.star: _Node | None = None
        self.partial: tuple[tuple[tuple[str, ...], _Node], ...] = ()
        #: The `partial` edges by their segment, while the trie is built.
        self.wild: dict[str, _Node] = {}
        self.patterns: list[_Pattern] = []
        self.covers = self.excludes = 0
        self.end_covers = self.end_excludes = 0
        self.slash_covers = self.slash_excludes = 0

    def edge(self, segment: str) -> _Node:
        """The node a glob's segment leads to from here, made where there is none yet."""
        if "*" not in segment:
            return self.children.setdefault(segment, _Node())
        if segment == "*":
            if self.star is None:
                self.star = _Node()
            return self.star
        node = self.wild.get(segment)
        if node is None:
            node = self.wild[segment] = _Node()
            self.partial += ((tuple(segment.split("*")), node),)
        return node


class _ExpressionSet:
    """`re:` patterns matched together: the indices of those that match the whole path."""

    __slots__ = ("_members", "_set")

    def __init__(self, members: list[_Pattern]) -> None:
        options = re2.Options()
        options.log_errors = False
        options.max_mem = _SET_MEMORY
        compiled = re2.Set(_ANCHOR_BOTH, options)
        for member in members:
            compiled.Add(member.pattern.source[3:])
        compiled.Compile()
        self._set = compiled
        self._members = members

    def matching(self, encoded: bytes) -> list[_Pattern]:
        found = self._set.Match(encoded)
        return [self._members[i] for i in found] if found else []


class CoverIndex:
    """The rules (numbered by their position in `rules`) that cover a host and path."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.every = (1 << len(rules)) - 1
        self._any_host = 0
        self._exact: dict[str, int] = {}
        self._wildcard: dict[str, int] = {}
        self.uses_hosts = False
        #: host -> its rules, for the hosts seen last (a site serves a few).
        self._by_host: dict[str, int] = {}
        patterns: dict[str, _Pattern] = {}
        for bit, rule in enumerate(rules):
            flag = 1 << bit
            if not rule.hosts:
                self._any_host |= flag
            for host in rule.hosts:
                self.uses_hosts = True
                host = host.lower()
                table = self._wildcard if host.startswith("*.") else self._exact
                key = host[1:] if host.startswith("*.") else host
                table[key] = table.get(key, 0) | flag
            for pattern in rule.paths:
                _entry(patterns, pattern).covers |= flag
            for pattern in rule.except_paths:
                _entry(patterns, pattern).excludes |= flag
        self._root = _Node()
        self._expressions: list[_ExpressionSet] = []
        #: `re:` patterns matched one by one (where RE2 sets are unavailable or refuse one).
        self._one_by_one: list[_Pattern] = []
        expressions: list[_Pattern] = []
        for entry in patterns.values():
            source = entry.pattern.source
            if source.startswith("re:"):
                expressions.append(entry)
                continue
            node = self._root
            segments = source[1:].split("/")
            last = len(segments) - 1
            for at, segment in enumerate(segments):
                if segment == "**":
                    if at == last:
                        node.covers |= entry.covers
                        node.excludes |= entry.excludes
                    else:
                        node.patterns.append(entry)
                    break
                node = node.edge(segment)
            else:
                node.end_covers |= entry.covers
                node.end_excludes |= entry.excludes
                if not source.endswith("/"):  # `/about` matches `/about/` too
                    node.slash_covers |= entry.covers
                    node.slash_excludes |= entry.excludes
        self._add_expressions(expressions)

    def _add_expressions(self, expressions: list[_Pattern]) -> None:
        if _ANCHOR_BOTH is None or not hasattr(re2, "Set"):
            self._one_by_one = expressions
            return
        for start in range(0, len(expressions), _SET_SIZE):
            chunk = expressions[start : start + _SET_SIZE]
            try:
                self._expressions.append(_ExpressionSet(chunk))
            except re2.error:
                self._one_by_one += chunk

    def hosts(self, host: str) -> int:
        """The rules whose `hosts` take in this host (a Host header value; the port is ignored)."""
        if host == ANY_HOST or not self.uses_hosts:
            return self.every
        found = self._by_host.get(host)
        if found is None:
            found = self._hosts(host)
            if len(host) <= _MAX_KEPT_HOST:
                if len(self._by_host) >= _HOSTS_KEPT:
                    self._by_host.clear()
                self._by_host[host] = found
        return found

    def _hosts(self, host: str) -> int:
        name = host_only(host)
        found = self._any_host | self._exact.get(name, 0)
        if self._wildcard:
            at = name.find(".", 1)
            while at > 0:
                found |= self._wildcard.get(name[at:], 0)
                at = name.find(".", at + 1)
        return found

    def paths(self, path: str) -> int:
        """The rules whose `paths` match this normalised path and whose `except_paths` do not."""
        covers = excludes = 0
        segments = path[1:].split("/") if path.startswith("/") else [path]
        count = len(segments)
        # The depth at which a path ending in `/` ends for the globs that do not end in `/`.
        slash = count - 1 if count > 1 and not segments[-1] else -1
        nodes = [self._root]
        depth = 0
        while True:
            following: list[_Node] = []
            for node in nodes:
                if node.covers:
                    covers |= node.covers
                if node.excludes:
                    excludes |= node.excludes
                for entry in node.patterns:
                    if entry.pattern.regex.fullmatch(path) is not None:
                        covers |= entry.covers
                        excludes |= entry.excludes
                if depth == count:
                    if node.end_covers:
                        covers |= node.end_covers
                    if node.end_excludes:
                        excludes |= node.end_excludes
                    continue
                if depth == slash:
                    if node.slash_covers:
                        covers |= node.slash_covers
                    if node.slash_excludes:
                        excludes |= node.slash_excludes
                segment = segments[depth]
                child = node.children.get(segment)
                if child is not None:
                    following.append(child)
                if node.star is not None:
                    following.append(node.star)
                for pieces, child in node.partial:
                    if segment_matches(pieces, segment):
                        following.append(child)
            if not following:
                break
            nodes = following
            depth += 1
        if self._expressions:
            encoded = path.encode("utf-8", "surrogatepass")
            for expressions in self._expressions:
                for entry in expressions.matching(encoded):
                    covers |= entry.covers
                    excludes |= entry.excludes
        for entry in self._one_by_one:
            if entry.pattern.matches(path):
                covers |= entry.covers
                excludes |= entry.excludes
        return covers & ~excludes

    def covering(self, host: str, path: str) -> int:
        """The rules whose hosts and paths cover this host and normalised path."""
        found = self.paths(path)
        return found & self.hosts(host) if found else 0


def _entry(patterns: dict[str, _Pattern], pattern: PathPattern) -> _Pattern:
    entry = patterns.get(pattern.source)
    if entry is None:
        entry = patterns[pattern.source] = _Pattern(pattern)
    return entry


def bits_of(found: int) -> list[int]:
    """The positions of the set bits, lowest first (found in the binary digits at C speed)."""
    digits = bin(found)
    last = len(digits) - 1
    positions = []
    at = digits.rfind("1", 2)
    while at >= 2:
        positions.append(last - at)
        at = digits.rfind("1", 2, at)
    return positions
