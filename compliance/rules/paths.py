"""Path patterns and host patterns of rules.

Paths are matched against the whole request path (never the query string).
A pattern is a glob starting with "/", or a Python regular expression after "re:".

    pattern             matches                               does not match
    ------------------  ------------------------------------  ------------------------
    /healthz            /healthz                              /healthz/  /healthz/x
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
character (`.`, `+`, `(`, `[` and the like) is literal. Refused: `**` inside a
segment (`/news/**.html`, ambiguous), and `?` or `#` (the query string and the
fragment are never part of the path). A `re:` pattern is compiled exactly as
written and must match the whole path: use `fullmatch`, as `PathPattern.matches`
does.

Hosts are matched against the request's host without its port, ignoring case:

    pattern             matches                               does not match
    ------------------  ------------------------------------  ------------------------
    www.example.org     www.example.org  WWW.Example.org:8443  example.org  a.www.example.org
    *.example.org       www.example.org  a.b.example.org       example.org  badexample.org
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from compliance.rules.model import PathPattern

__all__ = [
    "ANY_HOST",
    "PatternError",
    "compile_path",
    "host_matches",
    "normalise_path",
    "normalize_host",
    "path_pattern",
    "read_host",
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


def compile_path(pattern: str) -> re.Pattern[str]:
    """Compile a path glob or `re:` pattern; use `fullmatch` on the result. Raises PatternError."""
    if pattern.startswith("re:"):
        expression = pattern[3:]
        if not expression:
            raise PatternError('"re:" is followed by nothing; write a regular expression after it.', 3)
        try:
            return re.compile(expression)
        except re.error as error:
            position = error.pos if error.pos is not None else 0
            raise PatternError(
                f"The regular expression is not valid: {error.msg} at position {position} of {expression!r}.",
                3 + position,
            ) from None
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
    parts: list[str] = []
    position = 1
    for index, segment in enumerate(segments):
        if segment == "**":
            parts.append(r"(?:/.*)?" if index == len(segments) - 1 else r"(?:/[^/]*)*")
        elif "**" in segment:
            raise PatternError(
                f'"**" stands for whole segments only, as in "/news/**"; in "{segment}" write "*" to match within '
                "one segment.",
                position + segment.index("**"),
            )
        else:
            parts.append("/" + "[^/]*".join(re.escape(piece) for piece in segment.split("*")))
        position += len(segment) + 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


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
