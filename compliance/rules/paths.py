"""Path patterns and host patterns of rules.

Paths are matched against the whole request path (never the query string).
A pattern is a glob starting with "/", or a Python regular expression after "re:".

    pattern             matches                               does not match
    ------------------  ------------------------------------  ------------------------
    /healthz            /healthz  /healthz/                   /healthz/x  /healthz//
    /news/*             /news/a  /news/                       /news  /news/a/b
    /news/*.html        /news/a.html                          /news/a/b.html
    /news/**            /news  /news/  /news/a/b              /newsroom  /sport/news
    /**                 every path
    /a/**/b             /a/b  /a/x/b  /a/x/y/b                /a/bc  /a/x/b/c
    /**/amp             /amp  /news/a/amp                     /news/amp/1
    /*/amp              /news/amp                             /amp  /a/b/amp
    /v1.0/(beta)        /v1.0/(beta)                          /v1x0/(beta)
    re:/news/\\d+       /news/123                             /news/123/comments

In a glob, `*` matches any characters within one segment (`[^/]*`); `**` written
as a whole segment matches any number of segments, including none; every other
character (`.`, `+`, `(`, `[` and the like) is literal. A path as readers type it
may end in `/`: a glob that does not end in `/` also matches the path with one `/`
after it (`/about` matches `/about/`; `/news/*` matches `/news/a/`). Refused: `**` inside a
segment (`/news/**.html`, ambiguous), and `?` or `#` (the query string and the
fragment are never part of the path). Globs are matched segment by segment,
without backtracking.

A `re:` pattern is compiled exactly as written, in RE2 syntax (Python's, less
lookarounds, backreferences, atomic groups and possessive repeats, which are
refused), must match the whole path (use `fullmatch`, as `PathPattern.matches`
does), and runs in RE2: time linear in the path, whatever the pattern.

Hosts are matched against the request's host without its port, ignoring case:

    pattern             matches                               does not match
    ------------------  ------------------------------------  ------------------------
    www.example.org     www.example.org  WWW.Example.org:8443  example.org  a.www.example.org
    *.example.org       www.example.org  a.b.example.org       example.org  badexample.org
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import re2

from compliance.rules.model import PathMatcher, PathPattern

__all__ = [
    "ANY_HOST",
    "PatternError",
    "compile_path",
    "host_matches",
    "host_only",
    "normalise_path",
    "normalize_host",
    "path_pattern",
    "read_host",
    "segment_matches",
]

#: The host of a request whose Host cannot be read (absent, malformed): it is decided
#: as if it were every configured host, and what fires for any of them applies.
ANY_HOST: Final = "\x00any-host"
#: A Host header value as a name (or IPv4 address) with an optional port and one final dot.
_HOST_VALUE = re.compile(r"([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\.?(?::[0-9]{0,5})?\Z")
_BRACKETED_HOST = re.compile(r"(\[[0-9a-f:.]+\])(?::[0-9]{0,5})?\Z")
_MAX_HOST = 300
#: Percent-escapes some servers and frameworks decode a second time: `/`, `.`, `\\` and `%`.
_ESCAPED = re.compile(r"%(2[fFeE]|5[cC]|25)")

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


class PatternError(ValueError):
    """A path or host pattern that cannot be used. `position` is the 0-based index of the problem."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def compile_path(pattern: str) -> PathMatcher:
    """Compile a path glob or `re:` pattern; use `fullmatch` on the result. Raises PatternError.

    Either way, matching takes time linear in the path: a glob is matched segment
    by segment without backtracking, a `re:` pattern by RE2.
    """
    if pattern.startswith("re:"):
        return _compile_expression(pattern[3:])
    if not pattern.startswith("/"):
        if "://" in pattern:
            raise PatternError(
                'A path starts with "/" and has no scheme or host: write the path alone (such as "/news/**") and '
                'put the host under "hosts".'
            )
        raise PatternError(
            f'A path starts with "/" (such as "/{pattern.lstrip("*")}") or with "re:" for a regular expression.'
        )
    for mark in ("?", "#"):
        if mark in pattern:
            what = "the query string" if mark == "?" else "the fragment"
            raise PatternError(
                f'"{mark}" starts {what}, which paths are not matched against; remove it and what follows.',
                pattern.index(mark),
            )
    segments = pattern[1:].split("/")
    tokens: list[tuple[str, ...] | None] = []
    position = 1
    for segment in segments:
        if segment == "**":
            if not tokens or tokens[-1] is not None:  # `/**/**` is `/**`
                tokens.append(None)
        elif "**" in segment:
            raise PatternError(
                f'"**" stands for whole segments only, as in "/news/**"; in "{segment}" write "*" to match within '
                "one segment.",
                position + segment.index("**"),
            )
        else:
            tokens.append(tuple(segment.split("*")))
        position += len(segment) + 1
    return _Glob(pattern, tokens)


_Segment = tuple[str, ...]


class _Glob:
    """A glob matched segment by segment: linear in the path, whatever the pattern.

    The pattern is groups of segment patterns separated by `**` (any number of
    whole segments). The first group must match the path's first segments, the
    last its last ones, and each group between them is placed at its earliest
    fit, which is never worse than a later one: no backtracking.
    """

    __slots__ = ("_groups", "_least", "_slash_form", "pattern")

    def __init__(self, pattern: str, tokens: list[_Segment | None]) -> None:
        self.pattern = pattern
        groups: list[list[_Segment]] = [[]]
        for token in tokens:
            if token is None:
                groups.append([])
            else:
                groups[-1].append(token)
        self._groups: tuple[tuple[_Segment, ...], ...] = tuple(tuple(group) for group in groups)
        self._least = sum(len(group) for group in groups)
        #: Whether the path with a `/` after it matches too: for every glob that does not end in `/`.
        self._slash_form = not pattern.endswith("/")

    def fullmatch(self, path: str) -> bool | None:
        if not path:
            return self._segments_match([])
        if path[0] != "/":
            return None
        segments = path[1:].split("/")
        if self._segments_match(segments):
            return True
        # The trailing-slash form of a path the glob matches: `/about/` for `/about`.
        if len(segments) > 1 and not segments[-1] and self._slash_form:
            return self._segments_match(segments[:-1])
        return None

    def _segments_match(self, segments: list[str]) -> bool | None:
        groups, count = self._groups, len(segments)
        if len(groups) == 1:  # no `**`
            return True if count == self._least and _group_at(groups[0], segments, 0) else None
        head, tail = groups[0], groups[-1]
        if count < self._least or not _group_at(head, segments, 0):
            return None
        limit = count - len(tail)
        if not _group_at(tail, segments, limit):
            return None
        at = len(head)
        for group in groups[1:-1]:
            size = len(group)
            first = group[0][0] if len(group[0]) == 1 else None  # a literal first segment: found in C
            while at + size <= limit:
                if first is not None:
                    try:
                        at = segments.index(first, at, limit - size + 1)
                    except ValueError:
                        return None
                if _group_at(group, segments, at):
                    break
                at += 1
            if at + size > limit:
                return None
            at += size
        return True

    def match(self, path: str) -> bool | None:
        return self.fullmatch(path)

    def __repr__(self) -> str:
        return f"_Glob({self.pattern!r})"


def _group_at(group: tuple[_Segment, ...], segments: list[str], at: int) -> bool:
    for offset, pieces in enumerate(group):  # noqa: SIM110 (a loop: no generator per call)
        if not segment_matches(pieces, segments[at + offset]):
            return False
    return True


def segment_matches(pieces: _Segment, segment: str) -> bool:
    """Whether `segment` matches the glob whose pieces between `*` are `pieces` (earliest fit each)."""
    if len(pieces) == 1:
        return segment == pieces[0]
    first, last = pieces[0], pieces[-1]
    end = len(segment) - len(last)
    if end < len(first) or not segment.startswith(first) or not segment.endswith(last):
        return False
    at = len(first)
    for piece in pieces[1:-1]:
        found = segment.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _compile_expression(expression: str) -> PathMatcher:
    if not expression:
        raise PatternError('"re:" is followed by nothing; write a regular expression after it.', 3)
    try:
        re.compile(expression)
    except re.error as error:
        position = error.pos if error.pos is not None else 0
        raise PatternError(
            f"The regular expression is not valid: {error.msg} at position {position} of {expression!r}.",
            3 + position,
        ) from None
    try:
        return _Linear(expression)
    except re2.error as error:
        detail = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else error
        raise PatternError(
            f"The regular expression {expression!r} is outside RE2 syntax ({detail}). Path patterns must run in time "
            "linear in the path, so lookarounds, backreferences, atomic groups and possessive repeats are refused; "
            'rewrite it without them, or as a glob such as "/news/**".',
            3,
        ) from None


class _Linear:
    """A `re:` pattern run by RE2: linear in the path, whatever the pattern."""

    __slots__ = ("_compiled", "_regexp", "pattern")

    def __init__(self, expression: str) -> None:
        options = re2.Options()
        options.log_errors = False
        self.pattern = expression
        self._compiled: Any = re2.compile(expression, options)
        # The extension object's Match: a fifth of the cost of the module's fullmatch wrapper.
        self._regexp: Any = getattr(self._compiled, "_regexp", None)
        if self._regexp is None or not hasattr(self._regexp, "Match") or _ANCHOR_BOTH is None:
            self._regexp = None

    def fullmatch(self, path: str) -> bool | None:
        if self._regexp is None:
            return True if self._compiled.fullmatch(path) is not None else None
        encoded = path.encode("utf-8", "surrogatepass")
        spans = self._regexp.Match(_ANCHOR_BOTH, encoded, 0, len(encoded))
        return True if spans[0][0] >= 0 else None

    def match(self, path: str) -> bool | None:
        return self.fullmatch(path)

    def __repr__(self) -> str:
        return f"_Linear({self.pattern!r})"

    def __reduce__(self) -> tuple[type[_Linear], tuple[str]]:
        # Compiled again where it is unpickled (a reload read in another process).
        return _Linear, (self.pattern,)


_ANCHOR_BOTH: Any = getattr(getattr(re2, "_Anchor", None), "ANCHOR_BOTH", None)


def path_pattern(pattern: str) -> PathPattern:
    """The compiled PathPattern for a glob or `re:` pattern. Raises PatternError."""
    return PathPattern(pattern, compile_path(pattern))


def normalize_host(pattern: str) -> str:
    """A host pattern in lower case (`www.example.org`, `*.example.org`). Raises PatternError."""
    if "://" in pattern:
        host = pattern.split("://", 1)[1].split("/", 1)[0]
        raise PatternError(f'Write the host alone, without "{pattern.split("://", 1)[0]}://": "{host.lower()}".')
    if not pattern:
        raise PatternError('An empty host; write a host such as "www.example.org".')
    if any(c.isspace() for c in pattern):
        raise PatternError("A host has no spaces in it.", next(i for i, c in enumerate(pattern) if c.isspace()))
    if "/" in pattern:
        raise PatternError(
            f'Write the host alone, without a path: "{pattern.split("/", 1)[0].lower()}"; paths go under "paths".',
            pattern.index("/"),
        )
    if ":" in pattern:
        raise PatternError(
            f'Write the host without a port: "{pattern.rsplit(":", 1)[0].lower()}"; hosts match on any port.',
            pattern.index(":"),
        )
    lowered = pattern.lower()
    wildcard = lowered.startswith("*.")
    name = lowered[2:] if wildcard else lowered
    if "*" in name:
        raise PatternError(
            '"*" may only stand for subdomains, at the start: "*.example.org".',
            pattern.index("*", 2 if wildcard else 0),
        )
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise PatternError(f'"{pattern}" is not a valid host name.') from None
    if name.endswith("."):
        raise PatternError(f'Write the host without the dot at its end: "{pattern[:-1].lower()}".', len(pattern) - 1)
    for label in name.split("."):
        if not _LABEL.match(label):
            raise PatternError(
                f'"{pattern}" is not a valid host name: each part between dots is letters, digits and "-", '
                "and none is empty."
            )
    return ("*." if wildcard else "") + name


def host_only(host: str) -> str:
    """The host of a Host header value as host patterns are matched against it: no port, lower case."""
    return _host_only(host)


def _host_only(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.removesuffix(".")


def read_host(value: bytes | str | None) -> str:
    """The host a request names in its Host header, normalised; `ANY_HOST` where it cannot be read.

    Lower case, without the port and the final dot. A missing, empty or malformed
    value (`www.example.org:80:80`, `www.example.org..`, spaces) is `ANY_HOST`, so
    no spelling of a host escapes a rule scoped to it.
    """
    if value is None:
        return ANY_HOST
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) > _MAX_HOST:
        return ANY_HOST
    text = text.strip().lower()
    match = (_BRACKETED_HOST if text.startswith("[") else _HOST_VALUE).match(text)
    return ANY_HOST if match is None else match.group(1)


def normalise_path(path: str) -> str:
    """The path as every decision sees it: one spelling per page.

    Empty segments (`//a`) and `.` segments go, `..` removes the segment before it,
    `\\` is `/`, and escaped `/`, `.`, `\\` and `%` (`%2F`, `%2e`, `%5C`, `%25`) are
    decoded, as some servers and frameworks decode them again. A path that needs
    none of this is returned as it is, at the cost of four substring checks.
    """
    if not path.startswith("/"):
        path = "/" + path
    elif "//" not in path and "/." not in path and "%" not in path and "\\" not in path:
        return path
    for _ in range(4):  # %252F -> %2F -> /
        decoded = _ESCAPED.sub(_unescape, path)
        if decoded == path:
            break
        path = decoded
    path = path.replace("\\", "/")
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    trailing = path.endswith(("/", "/.", "/..")) and bool(segments)
    return "/" + "/".join(segments) + ("/" if trailing else "")


def _unescape(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def host_matches(patterns: Iterable[str], host: str) -> bool:
    """Whether `host` (a Host header value; a port is ignored) matches any pattern.

    Matching ignores case. `*.example.org` matches every subdomain of example.org,
    not example.org itself. No patterns at all means every host, as in `Rule.hosts`.
    """
    if host == ANY_HOST:
        return True
    name = _host_only(host)
    given = False
    for pattern in patterns:
        given = True
        pattern = pattern.lower()
        if pattern.startswith("*."):
            suffix = pattern[1:]
            if name.endswith(suffix) and len(name) > len(suffix):
                return True
        elif name == pattern:
            return True
    return not given
