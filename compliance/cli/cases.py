"""Test cases for `compliance test`: the strict loader of case files.

A case file is a mapping with the one key `cases`, a list of cases (see the
"Test cases" section of the rule-file contract)::

    cases:
      - name: A reader in Russia sees the warning on an article
        request: {path: /news/x, country: RU}
        expect: {notices: [undesirable-organization]}

Case files are read with the same strict YAML reader as rule files (every value
is text, no duplicate keys, no anchors or tags), and every problem in every file
is reported at once as a `Problem` with its file, line and column. Nothing here
runs a case: `compliance.cli.test` does that.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Final

from compliance.cli.case_expect import EXPECT_KEYS, Expect, read_expect
from compliance.cli.case_expect import describe as _describe
from compliance.errors import Problem
from compliance.reader.jurisdiction import anonymity_kind
from compliance.rules.groups import check_code, is_country, is_subdivision
from compliance.rules.load import check_language
from compliance.rules.model import ANONYMOUS, UNKNOWN, Location
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue, read_yaml

__all__ = ["EXPECT_KEYS", "Case", "CaseRequest", "Expect", "case_files", "check_notices", "load_cases", "parse_moment"]

TOP_LEVEL_KEYS: Final = ("cases",)
CASE_KEYS: Final = ("name", "request", "expect")
REQUEST_KEYS: Final = (
    "path",
    "country",
    "subdivision",
    "anonymous",
    "ip",
    "host",
    "method",
    "headers",
    "at",
    "page_language",
    "content_type",
)
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")


@dataclass(frozen=True, slots=True)
class CaseRequest:
    """The request a case makes. Exactly one of `country` and `ip` is set.

    `country` is an ISO 3166-1 code, `unknown` (no source knows the reader) or
    `anonymous` (a Tor exit: anonymous, and the country unknown). `anonymity` is
    a kind of anonymity (`tor`, `anonymous-vpn`, ...): a Tor reader's country is
    unknown; any other kind keeps `country`, the exit's.
    """

    path: str
    country: str | None = None
    subdivision: str | None = None
    ip: str | None = None
    host: str | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    #: The moment of the request (None: now).
    at: datetime | None = None
    #: The page's own language (its `<html lang>`), as the site would serve it.
    page_language: str | None = None
    anonymity: str | None = None
    #: The response's media type the rules alone assume (None: `text/html`); the site sends its own.
    content_type: str | None = None

    @property
    def route(self) -> str:
        """The path without its query string: what rules are matched against."""
        return self.path.partition("?")[0]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def describe(self) -> str:
        """`GET /news/x as RU`, `GET /news/x from 95.173.136.70`."""
        who = f"from {self.ip}" if self.ip is not None else f"as {self.subdivision or self.country}"
        if self.anonymity is not None:
            who += f" ({self.anonymity})"
        host = f" on {self.host}" if self.host else ""
        return f"{self.method} {self.path}{host} {who}"


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    request: CaseRequest
    expect: Expect
    location: Location


def case_files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[Problem]]:
    """The case files named by `paths`: files as given, folders searched for *.yaml / *.yml (sorted)."""
    files: list[str] = []
    problems: list[Problem] = []
    for given in paths:
        path = os.fspath(given)
        if os.path.isdir(path):
            found: list[str] = []
            for folder, folders, names in os.walk(path):
                folders[:] = sorted(name for name in folders if not name.startswith("."))
                found.extend(
                    os.path.join(folder, name)
                    for name in names
                    if name.endswith((".yaml", ".yml")) and not name.startswith(".")
                )
            if not found:
                problems.append(
                    Problem(path, 1, 1, "no-case-files", f'The folder "{path}" holds no *.yaml or *.yml case files.')
                )
            files.extend(sorted(found))
        elif os.path.isfile(path):
            files.append(path)
        else:
            problems.append(
                Problem(path, 1, 1, "not-found", f'There is no file or folder "{path}"; check the path to the cases.')
            )
    return files, problems


def load_cases(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Case], list[Problem], list[str]]:
    """Every case of every case file under `paths`, the problems found, and the files read."""
    files, problems = case_files(paths)
    cases: list[Case] = []
    names: dict[str, Location] = {}
    for path in files:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            problems.append(Problem(path, 1, 1, "unreadable", f"The file cannot be read: {error.strerror}."))
            continue
        found, file_problems = read_cases(data, path)
        problems.extend(file_problems)
        for case in found:
            first = names.get(case.name)
            if first is not None:
                problems.append(
                    Problem(
                        path,
                        case.location.line,
                        case.location.column,
                        "duplicate-case",
                        f'A case named "{case.name}" is already at {first}; give each case a name of its own.',
                    )
                )
                continue
            names[case.name] = case.location
            cases.append(case)
    return cases, problems, files


def read_cases(data: bytes | str, path: str) -> tuple[list[Case], list[Problem]]:
    """The cases of one case file, and its problems."""
    top, problems = read_yaml(data, path)
    reader = _Reader(path, problems)
    if top is None:
        if not problems:
            problems.append(
                Problem(path, 1, 1, "empty-file", 'The case file is empty; it needs "cases:" and a list of cases.')
            )
        return [], problems
    return reader.read(top), problems


def check_notices(cases: Sequence[Case], notices: Mapping[str, object]) -> list[Problem]:
    """A problem for each expected notice id that the rule set does not define."""
    problems: list[Problem] = []
    for case in cases:
        for notice_id, where in case.expect.notice_locations:
            if notice_id not in notices:
                known = ", ".join(f'"{n}"' for n in sorted(notices)) or "none"
                problems.append(
                    Problem(
                        where.path,
                        where.line,
                        where.column,
                        "unknown-notice",
                        f'The case "{case.name}" expects the notice "{notice_id}", which the rules do not define '
                        f"(their notices: {known}).",
                    )
                )
    return problems


class _Reader:
    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems

    def error(self, at: YamlValue, code: str, message: str) -> None:
        self.problems.append(Problem(self.path, at.line, at.column, code, message))

    def check_keys(self, node: YamlMap, allowed: Sequence[str], what: str) -> bool:
        ok = True
        for key, _ in node.items():
            if key.value not in allowed:
                ok = False
                self.error(
                    key,
                    "unknown-key",
                    f'"{key.value}" is not a field of {what}; {what} has: {", ".join(allowed)}.',
                )
        return ok

    def text(self, node: YamlMap, key: str, what: str) -> YamlScalar | None:
        value = node.get(key)
        if value is None or (isinstance(value, YamlScalar) and value.is_empty):
            return None
        if not isinstance(value, YamlScalar):
            self.error(value, "bad-type", f'"{key}" of {what} needs text, not {_describe(value)}.')
            return None
        return value

    def read(self, top: YamlValue) -> list[Case]:
        if not isinstance(top, YamlMap):
            self.error(top, "bad-type", f'A case file is a mapping with the key "cases:", not {_describe(top)}.')
            return []
        self.check_keys(top, TOP_LEVEL_KEYS, "a case file")
        listed = top.get("cases")
        if listed is None or (isinstance(listed, YamlScalar) and listed.is_empty):
            self.error(top, "missing-field", 'The case file has no "cases:"; it needs a list of cases below it.')
            return []
        if not isinstance(listed, YamlList):
            self.error(listed, "bad-type", f'"cases" needs a list of cases ("- name: ..."), not {_describe(listed)}.')
            return []
        found: list[Case] = []
        for item in listed:
            case = self.read_case(item)
            if case is not None:
                found.append(case)
        return found

    def read_case(self, node: YamlValue) -> Case | None:
        if not isinstance(node, YamlMap):
            self.error(
                node, "bad-type", f'Each case is a mapping with "name", "request" and "expect", not {_describe(node)}.'
            )
            return None
        ok = self.check_keys(node, CASE_KEYS, "a case")
        name_node = self.text(node, "name", "a case")
        name = name_node.value.strip() if name_node is not None else ""
        if not name:
            self.error(node, "missing-field", 'This case has no "name"; give it one that says what it checks.')
            ok = False
        what = f'the case "{name}"' if name else "this case"
        request = self.read_request(node, what)
        expect = self.read_expect(node, what)
        if not ok or request is None or expect is None:
            return None
        return Case(name, request, expect, Location(self.path, node.line, node.column))

    def read_request(self, case: YamlMap, what: str) -> CaseRequest | None:
        node = case.get("request")
        if node is None or (isinstance(node, YamlScalar) and node.is_empty):
            self.error(case, "missing-field", f'{what[0].upper()}{what[1:]} has no "request"; it needs one.')
            return None
        if not isinstance(node, YamlMap):
            self.error(
                node, "bad-type", f'"request" needs a mapping such as {{path: /, country: RU}}, not {_describe(node)}.'
            )
            return None
        ok = self.check_keys(node, REQUEST_KEYS, "a request")
        path_node = self.text(node, "path", "a request")
        if path_node is None:
            self.error(node, "missing-field", f'The request of {what} has no "path", such as /news/some-article.')
            ok = False
        elif not path_node.value.startswith("/") or "#" in path_node.value:
            self.error(
                path_node,
                "bad-path",
                f'"{path_node.value}" is not a path: a path starts with "/" and has no fragment ("#..."); '
                "a query string (?page=2) may follow it.",
            )
            ok = False
        country_node = self.text(node, "country", "a request")
        subdivision_node = self.text(node, "subdivision", "a request")
        ip_node = self.text(node, "ip", "a request")
        country = subdivision = ip = None
        anonymity, anonymous_ok = self._anonymity(node, country_node, ip_node)
        ok = ok and anonymous_ok
        if anonymity == "tor" and country_node is None and ip_node is None:
            country = UNKNOWN
        elif country_node is not None and ip_node is not None:
            self.error(
                ip_node,
                "country-and-ip",
                'A request gives either "country" (the reader is there) or "ip" (the reader\'s address, resolved as '
                "the middleware would), not both.",
            )
            ok = False
        elif country_node is None and ip_node is None and anonymity is None:
            self.error(
                node,
                "missing-field",
                f'The request of {what} needs "country" (such as RU, or unknown) or "ip" (such as 95.173.136.70).',
            )
            ok = False
        if country_node is not None:
            country = country_node.value
            if country not in (UNKNOWN, ANONYMOUS) and not is_country(country):
                if is_subdivision(country):
                    reason = (
                        f'"{country}" is a subdivision; give the country and the subdivision: '
                        f"country: {country.split('-')[0]}, subdivision: {country}."
                    )
                else:
                    reason = check_code(country) or f'"{country}" is not a country code.'
                    reason += " A case's country is a country code (RU), unknown or anonymous."
                self.error(country_node, "bad-country", reason)
                ok = False
        if subdivision_node is not None:
            subdivision = subdivision_node.value
            if country_node is None:
                self.error(subdivision_node, "bad-subdivision", '"subdivision" is given together with "country".')
                ok = False
            elif not is_subdivision(subdivision):
                self.error(
                    subdivision_node,
                    "bad-subdivision",
                    check_code(subdivision) or f'"{subdivision}" is not an ISO 3166-2 subdivision code.',
                )
                ok = False
            elif country is not None and not subdivision.startswith(country + "-"):
                self.error(
                    subdivision_node,
                    "bad-subdivision",
                    f'The subdivision "{subdivision}" is not in the country "{country}"; it is in '
                    f'"{subdivision.split("-")[0]}".',
                )
                ok = False
        if ip_node is not None:
            ip = ip_node.value.strip()
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                self.error(ip_node, "bad-ip", f'"{ip}" is not an IP address, such as 95.173.136.70 or 2001:db8::1.')
                ok = False
        host_node = self.text(node, "host", "a request")
        host = host_node.value.strip().lower() if host_node is not None else None
        method = "GET"
        method_node = self.text(node, "method", "a request")
        if method_node is not None:
            method = method_node.value.upper()
            if method not in METHODS:
                self.error(method_node, "bad-method", f'"{method_node.value}" is not an HTTP method such as GET.')
                ok = False
        headers: list[tuple[str, str]] = []
        headers_node = node.get("headers")
        if headers_node is not None and not (isinstance(headers_node, YamlScalar) and headers_node.is_empty):
            if not isinstance(headers_node, YamlMap):
                self.error(
                    headers_node,
                    "bad-type",
                    f'"headers" needs a mapping such as {{Accept-Language: ru}}, not {_describe(headers_node)}.',
                )
                ok = False
            else:
                for key, value in headers_node.items():
                    if not _HEADER_NAME.match(key.value):
                        self.error(key, "bad-header", f'"{key.value}" is not an HTTP header name.')
                        ok = False
                    elif not isinstance(value, YamlScalar):
                        self.error(value, "bad-type", f'The header "{key.value}" needs text, not {_describe(value)}.')
                        ok = False
                    else:
                        headers.append((key.value, value.value))
        at: datetime | None = None
        at_node = self.text(node, "at", "a request")
        if at_node is not None:
            at = parse_moment(at_node.value)
            if at is None:
                self.error(
                    at_node,
                    "bad-date",
                    f'"{at_node.value}" is not a date; write a date as YYYY-MM-DD (2026-01-31, midnight UTC) or a '
                    "date and time in ISO 8601 (2026-01-31T09:00:00+03:00; UTC where no offset is given).",
                )
                ok = False
        page_language: str | None = None
        page_language_node = self.text(node, "page_language", "a request")
        if page_language_node is not None:
            problem = check_language(page_language_node.value)
            if problem is not None:
                self.error(page_language_node, "bad-language", problem)
                ok = False
            page_language = page_language_node.value
        content_type: str | None = None
        content_type_node = self.text(node, "content_type", "a request")
        if content_type_node is not None:
            media = content_type_node.value.split(";", 1)[0].strip().lower()
            if not _MEDIA_TYPE.match(media):
                self.error(
                    content_type_node,
                    "bad-content-type",
                    f'"{content_type_node.value}" is not a media type; write one such as text/html or '
                    "application/json.",
                )
                ok = False
            content_type = media
        if not ok or path_node is None:
            return None
        return CaseRequest(
            path_node.value,
            country,
            subdivision,
            ip,
            host,
            method,
            tuple(headers),
            at,
            page_language,
            anonymity,
            content_type,
        )

    def _anonymity(
        self, node: YamlMap, country_node: YamlScalar | None, ip_node: YamlScalar | None
    ) -> tuple[str | None, bool]:
        """The request's `anonymous:` kind, and whether it is well given."""
        given = self.text(node, "anonymous", "a request")
        if given is None:
            return None, True
        kind = anonymity_kind(given.value)
        if kind is None:
            self.error(
                given,
                "bad-anonymous",
                f'"{given.value}" is not a kind of anonymity; write tor, vpn (anonymous-vpn), public-proxy, '
                "residential-proxy or hosting-provider.",
            )
            return None, False
        if ip_node is not None:
            self.error(
                given,
                "anonymous-and-ip",
                'A request with "ip" is resolved as the middleware would, by the anonymous-IP database where one '
                'is given; to state the reader instead, write "country" (the exit\'s) with "anonymous".',
            )
            return None, False
        if kind == "tor" and country_node is not None and country_node.value != UNKNOWN:
            self.error(
                country_node,
                "bad-country",
                "A Tor reader's country is unknown (the address is the exit's): leave \"country\" out.",
            )
            return None, False
        if kind != "tor" and country_node is None:
            self.error(
                given,
                "missing-field",
                f'A reader through "{given.value}" keeps the country of the exit: give "country" too (such as NL), '
                "or unknown.",
            )
            return None, False
        return kind, True

    def read_expect(self, case: YamlMap, what: str) -> Expect | None:
        node = case.get("expect")
        if node is None or (isinstance(node, YamlScalar) and node.is_empty):
            self.error(case, "missing-field", f'{what[0].upper()}{what[1:]} has no "expect"; it needs one.')
            return None
        if not isinstance(node, YamlMap):
            self.error(node, "bad-type", f'"expect" needs a mapping such as {{notices: []}}, not {_describe(node)}.')
            return None
        return read_expect(node, what, self.path, self.error)


def parse_moment(text: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 date and time (UTC unless it gives an offset); None if neither."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), UTC)
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
