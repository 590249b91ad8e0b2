"""Path globs, `re:` patterns and host patterns."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.rules.paths import PatternError, compile_path, host_matches, normalize_host, path_pattern

# (pattern, path, matches)
_GLOBS = [
    ("/healthz", "/healthz", True),
    ("/healthz", "/healthz/", True),
    ("/healthz", "/healthz//", False),
    ("/healthz/", "/healthz", False),
    ("/news/*", "/news/a/", True),
    ("/a/**/b", "/a/x/b/", True),
    ("/healthz", "/healthz/x", False),
    ("/healthz", "/HEALTHZ", False),
    ("/news/*", "/news/a", True),
    ("/news/*", "/news/", True),
    ("/news/*", "/news", False),
    ("/news/*", "/news/a/b", False),
    ("/news/*.html", "/news/a.html", True),
    ("/news/*.html", "/news/a/b.html", False),
    ("/news/*.html", "/news/aXhtml", False),
    ("/news/**", "/news", True),
    ("/news/**", "/news/", True),
    ("/news/**", "/news/a", True),
    ("/news/**", "/news/a/b/c.html", True),
    ("/news/**", "/newsroom", False),
    ("/news/**", "/sport/news", False),
    ("/news/**", "/news\n/x", False),
    ("/**", "/", True),
    ("/**", "/anything/at/all", True),
    ("/**", "/line\nbreak", True),
    ("/a/**/b", "/a/b", True),
    ("/a/**/b", "/a/x/b", True),
    ("/a/**/b", "/a/x/y/b", True),
    ("/a/**/b", "/a/bc", False),
    ("/a/**/b", "/a/x/b/c", False),
    ("/a/**/b", "/ab", False),
    ("/**/amp", "/amp", True),
    ("/**/amp", "/news/a/amp", True),
    ("/**/amp", "/news/amp/1", False),
    ("/*/amp", "/news/amp", True),
    ("/*/amp", "/amp", False),
    ("/*/amp", "/a/b/amp", False),
    ("/", "/", True),
    ("/", "/a", False),
    ("/v1.0/(beta)+[x]", "/v1.0/(beta)+[x]", True),
    ("/v1.0/(beta)+[x]", "/v1x0/betaa", False),
    ("/a|b", "/a|b", True),
    ("/a|b", "/a", False),
    ("/$x^", "/$x^", True),
    ("/news/**/", "/news/", True),
    ("/news/**/", "/news/a/", True),
    ("/news/**/", "/news/a", False),
]


@pytest.mark.parametrize(("pattern", "path", "matches"), _GLOBS)
def test_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    assert (compile_path(pattern).fullmatch(path) is not None) is matches
    assert path_pattern(pattern).matches(path) is matches


def test_a_compiled_glob_matches_the_whole_path_even_with_match() -> None:
    assert compile_path("/news").fullmatch("/news/extra") is None


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        (r"re:/news/\d+", "/news/123", True),
        (r"re:/news/\d+", "/news/123/comments", False),
        (r"re:/news/\d+", "/sport/news/123", False),
        ("re:/(en|ru)/.*", "/ru/a", True),
        ("re:/(en|ru)/.*", "/de/a", False),
        ("re:(?i)/NEWS", "/news", True),
        ("re:.*", "", True),
    ],
)
def test_re_patterns_are_python_regular_expressions_matching_the_whole_path(
    pattern: str, path: str, matches: bool
) -> None:
    assert path_pattern(pattern).matches(path) is matches


def test_a_re_pattern_is_compiled_as_written() -> None:
    assert compile_path(r"re:/a\d+").pattern == r"/a\d+"


@pytest.mark.parametrize(
    ("pattern", "position", "message"),
    [
        ("re:/news/(a", 9, "The regular expression is not valid: missing ), unterminated subpattern at position 6"),
        ("re:[", 3, "The regular expression is not valid: unterminated character set at position 0"),
        ("re:", 3, '"re:" is followed by nothing'),
        ("news/**", 0, 'A path starts with "/" (such as "/news/**") or with "re:"'),
        ("*.html", 0, 'A path starts with "/" (such as "/.html")'),
        ("https://example.org/news", 0, 'A path starts with "/" and has no scheme or host'),
        ("/news/**.html", 6, '"**" stands for whole segments only'),
        ("/a**", 2, '"**" stands for whole segments only'),
        ("/search?q=1", 7, '"?" starts the query string, which paths are not matched against'),
        ("/page#top", 5, '"#" starts the fragment'),
        ("", 0, 'A path starts with "/"'),
    ],
)
def test_bad_path_patterns(pattern: str, position: int, message: str) -> None:
    with pytest.raises(PatternError) as raised:
        compile_path(pattern)
    assert raised.value.position == position
    assert raised.value.message.startswith(message)


@pytest.mark.parametrize(
    ("patterns", "host", "matches"),
    [
        (["www.example.org"], "www.example.org", True),
        (["www.example.org"], "WWW.Example.ORG", True),
        (["www.example.org"], "www.example.org:8443", True),
        (["www.example.org"], "www.example.org.", True),
        (["www.example.org"], "example.org", False),
        (["www.example.org"], "a.www.example.org", False),
        (["WWW.EXAMPLE.ORG"], "www.example.org", True),
        (["*.example.org"], "www.example.org", True),
        (["*.example.org"], "a.b.example.org", True),
        (["*.example.org"], "News.Example.Org:80", True),
        (["*.example.org"], "example.org", False),
        (["*.example.org"], "badexample.org", False),
        (["*.example.org"], ".example.org", False),
        (["example.org", "*.example.org"], "example.org", True),
        (["[::1]"], "[::1]:8000", True),
        ([], "anything.example", True),
        (["a.example"], "", False),
    ],
)
def test_host_matching(patterns: list[str], host: str, matches: bool) -> None:
    assert host_matches(patterns, host) is matches


@pytest.mark.parametrize(
    ("pattern", "normal"),
    [
        ("www.example.org", "www.example.org"),
        ("WWW.Example.Org", "www.example.org"),
        ("*.Example.org", "*.example.org"),
        ("localhost", "localhost"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_host_patterns_are_lower_cased(pattern: str, normal: str) -> None:
    assert normalize_host(pattern) == normal


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("https://www.example.org/", 'Write the host alone, without "https://": "www.example.org".'),
        ("www.example.org:8080", 'Write the host without a port: "www.example.org"; hosts match on any port.'),
        ("www.example.org/news", 'Write the host alone, without a path: "www.example.org"; paths go under "paths".'),
        ("*example.org", '"*" may only stand for subdomains, at the start: "*.example.org".'),
        ("www.*.org", '"*" may only stand for subdomains, at the start: "*.example.org".'),
        ("example.org.", 'Write the host without the dot at its end: "example.org".'),
        ("a..org", '"a..org" is not a valid host name'),
        ("-a.org", '"-a.org" is not a valid host name'),
        ("www example.org", "A host has no spaces in it."),
        ("", 'An empty host; write a host such as "www.example.org".'),
    ],
)
def test_bad_host_patterns(pattern: str, message: str) -> None:
    with pytest.raises(PatternError) as raised:
        normalize_host(pattern)
    assert raised.value.message.startswith(message)


def _backtracking_glob(pattern: str) -> re.Pattern[str]:
    """The reference translation of a glob to a (backtracking) regular expression."""
    segments = pattern[1:].split("/")
    parts = []
    for index, segment in enumerate(segments):
        if segment == "**":
            parts.append(r"(?:/.*)?" if index == len(segments) - 1 else r"(?:/[^/]*)*")
        else:
            parts.append("/" + "[^/]*".join(re.escape(piece) for piece in segment.split("*")))
    # A glob that does not end in "/" also matches the path with one "/" after it.
    slash = "" if pattern.endswith("/") else "/?"
    return re.compile("".join(parts) + slash + r"\Z", re.DOTALL)


_SEGMENT = st.sampled_from(["a", "b", "ab", "*", "a*", "*b", "a*b", "**", ""])
_PATH_SEGMENT = st.sampled_from(["a", "b", "ab", "ba", "aab", "", "x"])


@given(st.lists(_SEGMENT, min_size=1, max_size=6), st.lists(_PATH_SEGMENT, max_size=8))
@settings(max_examples=3000, deadline=None)
def test_the_linear_glob_matcher_agrees_with_the_backtracking_one(
    pattern_segments: list[str], parts: list[str]
) -> None:
    pattern = "/" + "/".join(pattern_segments)
    path = "/" + "/".join(parts)
    expected = _backtracking_glob(pattern).fullmatch(path) is not None
    assert (compile_path(pattern).fullmatch(path) is not None) is expected, (pattern, path)
