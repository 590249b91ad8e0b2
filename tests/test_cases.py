"""The case-file loader (`compliance.cli.cases`): what a case file may say, and every problem in it at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from compliance.cli.cases import CaseRequest, Expect, load_cases, read_cases
from compliance.rules.model import Location


def compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ},
    )  # fmt: skip


BROKEN = """\
cases:
  - name: fine
    request: {path: /, country: RU, subdivision: UA-43}
    expect: {notices: []}
  - name: no request
    expect: {notices: []}
  - request: {path: /, country: RU}
    expect: {notices: []}
  - name: both
    request: {path: /, country: RU, ip: 1.2.3.4}
    expect: {notices: []}
  - name: neither
    request: {path: /}
    expect: {}
  - name: subdivision as country
    request: {path: /, country: UA-43}
    expect: {notices: [], status: "OK", language: english}
  - name: fine
    request: {path: /, country: unknown, method: FETCH, headers: [a]}
    expect: {notices: [A B], contains: {a: b}}
  - just text
"""

PROBLEMS = [
    'cases.yaml:3:50: error[bad-subdivision]: The subdivision "UA-43" is not in the country "RU"; it is in "UA".',
    'cases.yaml:5:5: error[missing-field]: The case "no request" has no "request"; it needs one.',
    'cases.yaml:7:5: error[missing-field]: This case has no "name"; give it one that says what it checks.',
    'cases.yaml:10:41: error[country-and-ip]: A request gives either "country" (the reader is there) '
    'or "ip" (the reader\'s address, resolved as the middleware would), not both.',
    'cases.yaml:13:14: error[missing-field]: The request of the case "neither" needs "country" (such '
    'as RU, or unknown) or "ip" (such as 95.173.136.70).',
    'cases.yaml:14:13: error[missing-field]: The "expect" of the case "neither" expects nothing; give '
    'at least "notices" or "includes".',
    'cases.yaml:16:33: error[bad-country]: "UA-43" is a subdivision; give the country and the '
    "subdivision: country: UA, subdivision: UA-43.",
    'cases.yaml:17:35: error[bad-status]: "OK" is not an HTTP status such as 200 or 451.',
    'cases.yaml:17:51: error[bad-language]: "english" is not a language tag; did you mean "en" '
    '(English)? Write a BCP 47 tag such as "en", "ru" or "pt-BR".',
    'cases.yaml:19:50: error[bad-method]: "FETCH" is not an HTTP method such as GET.',
    'cases.yaml:19:66: error[bad-type]: "headers" needs a mapping such as {Accept-Language: ru}, not a list.',
    'cases.yaml:20:24: error[bad-notice]: Each entry of "notices" is a notice id, such as undesirable-organization.',
    'cases.yaml:20:40: error[bad-type]: "contains" needs a list of texts the page must contain.',
    'cases.yaml:21:5: error[bad-type]: Each case is a mapping with "name", "request" and "expect", not '
    'the text "just text".',
    "14 errors, 0 warnings in 1 file",
]


def test_every_problem_in_a_case_file_at_once(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(BROKEN, encoding="utf-8")
    result = compliance("validate", "cases.yaml", cwd=tmp_path)
    assert result.stdout.splitlines() == PROBLEMS
    assert result.returncode == 1


def test_a_case_file_is_read_into_values() -> None:
    text = """\
cases:
  - name: A reader in Crimea on the mobile site, in Russian
    request:
      path: /news/a
      country: UA
      subdivision: UA-43
      host: m.example.org
      method: head
      headers: {Accept-Language: ru, X-Test: "1"}
    expect:
      notices: [warning, imprint]
      status: 200
      language: ru
      contains: Осторожно
  - name: An address
    request: {path: /, ip: 2001:db8::1}
    expect: {notices: []}
"""
    cases, problems = read_cases(text, "cases.yaml")
    assert problems == []
    first, second = cases
    assert first.name == "A reader in Crimea on the mobile site, in Russian"
    assert first.location == Location("cases.yaml", 2, 5)
    assert first.request == CaseRequest(
        "/news/a", "UA", "UA-43", None, "m.example.org", "HEAD", (("Accept-Language", "ru"), ("X-Test", "1"))
    )
    assert first.request.header("accept-language") == "ru"
    assert first.request.describe() == "HEAD /news/a on m.example.org as UA-43"
    assert first.expect == Expect(
        frozenset({"warning", "imprint"}),
        200,
        "ru",
        ("Осторожно",),
        (("warning", Location("cases.yaml", 11, 17)), ("imprint", Location("cases.yaml", 11, 26))),
    )
    assert second.request.ip == "2001:db8::1"
    assert second.request.describe() == "GET / from 2001:db8::1"
    assert second.expect.notices == frozenset()


def test_yaml_traps_are_refused_as_in_rule_files() -> None:
    _, problems = read_cases("cases:\n  - name: a\n    name: b\n", "dup.yaml")
    assert [(p.line, p.column, p.code) for p in problems] == [
        (3, 5, "duplicate-key"),
        (2, 5, "missing-field"),
        (2, 5, "missing-field"),
    ]
    _, problems = read_cases("cases: &x\n  - 1\n", "alias.yaml")
    assert [(p.line, p.column, p.code) for p in problems] == [(1, 8, "alias")]
    cases, problems = read_cases(
        "cases:\n  - {name: Norway, request: {path: /, country: NO}, expect: {notices: []}}\n", "no.yaml"
    )
    assert problems == [] and cases[0].request.country == "NO"


def test_two_cases_with_one_name_and_folders_of_case_files(tmp_path: Path) -> None:
    case = "  - {name: same, request: {path: /, country: RU}, expect: {notices: []}}\n"
    (tmp_path / "a.yaml").write_text("cases:\n" + case, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("cases:\n" + case, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a case file", encoding="utf-8")
    cases, problems, files = load_cases([tmp_path])
    assert [os.path.relpath(f, tmp_path) for f in files] == ["a.yaml", os.path.join("sub", "b.yml")]
    assert len(cases) == 1
    assert [(p.code, p.message) for p in problems] == [
        ("duplicate-case", f'A case named "same" is already at {tmp_path / "a.yaml"}:2:5; give each case a name of its '
         "own.")
    ]  # fmt: skip
    _, problems, _ = load_cases([tmp_path / "missing"])
    assert [p.code for p in problems] == ["not-found"]
