"""`compliance validate`: every problem, one line each, a summary, and the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NOTICES = """\
notices:
  warning:
    title: A warning
    review_by: 2020-01-01
    text:
      en: Take care.
      ru: Будьте осторожны.
  imprint:
    title: Imprint
    required_languages: [en, ru]
    text:
      en: Published by Northwind News.
  orphan:
    title: Nobody uses me
    text: {en: Alone., ru: Один.}
"""

RULES = """\
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU, GB]
    paths: ["/news/**"]
  - id: ru-warning-everywhere
    notice: warning
    jurisdictions: [RU, BY]
    priority: 5
  - id: ru-warning-articles
    notice: warning
    jurisdictions: [RU]
    paths: ["/news/*"]
  - id: imprint
    notice: imprint
    jurisdictions: ["*"]
    paths: ["re:/(a+)+x", "re:/(/[a-z]+)*"]
"""

WARNINGS = [
    'rules/notices.yaml:4:16: warning[review-overdue]: The notice "warning" was due for review by 2020-01-01; review '
    'it and move "review_by".',
    'rules/notices.yaml:8:3: warning[missing-language]: The notice "imprint" has no text in "ru", which the notice '
    'itself requires ("required_languages"); those readers get "en" instead. Add the text, or remove the '
    "requirement.",
    'rules/notices.yaml:13:3: warning[unused-notice]: No rule brings the notice "orphan", so no reader sees it; add a '
    "rule, or remove the notice.",
    'rules/rules.yaml:10:5: warning[shadowed-rule]: The rule "ru-warning-articles" never changes what a reader sees: '
    'the rule "ru-warning" (rules/rules.yaml:2:5) brings the same notice "warning" wherever this rule fires, and goes '
    "first. Remove it, or narrow the other rule.",
    'rules/rules.yaml:14:5: warning[slow-pattern]: The pattern "re:/(a+)+x" in "paths" of the rule "imprint" repeats '
    "something that itself repeats, such as (a+)+ or (.*)*: on some paths it can take minutes to match (catastrophic "
    "backtracking). Write each repetition once, such as a+.",
]

# The warnings as `validate` prints them: grouped by kind, most serious first, then counted.
GROUPED = [
    WARNINGS[0],
    WARNINGS[1],
    WARNINGS[3],
    WARNINGS[4],
    WARNINGS[2],
    "",
    "Warnings by kind, most serious first:",
    "  1  review-overdue    a notice is past its review date",
    "  1  missing-language  a notice lacks a language its readers require",
    "  1  shadowed-rule     a rule never changes what a reader sees",
    "  1  slow-pattern      a path pattern may take minutes to match",
    "  1  unused-notice     a notice no rule brings",
]


def compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ},
    )  # fmt: skip


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def warned(tmp_path: Path) -> Path:
    write(tmp_path, "rules/notices.yaml", NOTICES)
    write(tmp_path, "rules/rules.yaml", RULES)
    return tmp_path


def test_the_example_rules_and_cases_are_clean() -> None:
    result = compliance("validate", "rules", cwd=ROOT)
    assert result.stdout == "0 errors, 0 warnings in 5 files\n"
    assert result.returncode == 0


def test_warnings_are_grouped_by_kind_most_serious_first_counted_and_exit_0(warned: Path) -> None:
    result = compliance("validate", "rules", cwd=warned)
    assert result.stdout.splitlines() == [*GROUPED, "0 errors, 5 warnings in 2 files"]
    assert result.returncode == 0


def test_warnings_exit_1_under_strict(warned: Path) -> None:
    result = compliance("validate", "--strict", "rules", cwd=warned)
    assert result.stdout.splitlines()[-1] == "0 errors, 5 warnings in 2 files"
    assert result.returncode == 1


def test_every_error_in_every_file_at_once_and_exit_1(warned: Path) -> None:
    write(warned, "rules/rules.yaml", RULES.replace("[RU, GB]", "[RU, UK]").replace("priority: 5", "priority: high"))
    write(
        warned,
        "rules/tests/cases.yaml",
        """\
        cases:
          - name: RU reader
            request: {path: news, country: RUS}
            expect: {notices: [warning]}
          - name: US reader
            request: {path: /, country: US, colour: red}
            expect: {notices: warning}
        """,
    )
    result = compliance("validate", "rules", cwd=warned)
    lines = result.stdout.splitlines()
    errors = [line for line in lines if ": error[" in line]
    assert errors == [
        'rules/rules.yaml:4:25: error[unknown-jurisdiction]: "UK" is not an ISO 3166 country code; the United Kingdom '
        'is "GB" in ISO 3166.',
        errors[1],
        'rules/tests/cases.yaml:3:21: error[bad-path]: "news" is not a path: a path starts with "/" and has no '
        'fragment ("#..."); a query string (?page=2) may follow it.',
        'rules/tests/cases.yaml:3:36: error[bad-country]: "RUS" is a three-letter code; rule files use the two-letter '
        'ISO 3166-1 code: "RU" (Russian Federation). A case\'s country is a country code (RU), unknown or anonymous.',
        'rules/tests/cases.yaml:6:37: error[unknown-key]: "colour" is not a field of a request; a request has: path, '
        "country, subdivision, anonymous, ip, host, method, headers, at, page_language, content_type.",
        'rules/tests/cases.yaml:7:23: error[bad-type]: "notices" needs a list of notice ids, in brackets even for one: '
        "[warning].",
    ]
    assert errors[1].startswith("rules/rules.yaml:9:15: error[")
    assert lines[-1] == "6 errors, 1 warning in 3 files"
    assert result.returncode == 1


def test_case_files_name_notices_the_rules_define(warned: Path) -> None:
    write(
        warned,
        "rules/tests/cases.yaml",
        "cases:\n  - {name: a, request: {path: /, country: RU}, expect: {notices: [warnin]}}\n",
    )
    result = compliance("validate", "rules", cwd=warned)
    assert (
        'rules/tests/cases.yaml:2:67: error[unknown-notice]: The case "a" expects the notice "warnin", which the rules '
        'do not define (their notices: "imprint", "orphan", "warning").'
    ) in result.stdout.splitlines()
    assert result.returncode == 1


def test_a_case_file_given_alone_is_checked_as_a_case_file(tmp_path: Path) -> None:
    write(tmp_path, "cases.yaml", "cases:\n  - {name: a, request: {path: /, ip: 999.1.1.1}, expect: {notices: []}}\n")
    result = compliance("validate", "cases.yaml", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        'cases.yaml:2:38: error[bad-ip]: "999.1.1.1" is not an IP address, such as 95.173.136.70 or 2001:db8::1.',
        "1 error, 0 warnings in 1 file",
    ]
    assert result.returncode == 1


def test_a_path_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = compliance("validate", "rulez", cwd=tmp_path)
    assert result.stdout == ""
    assert result.stderr == 'compliance validate: there is no file or folder "rulez"; check the path.\n'
    assert result.returncode == 2


def test_no_path_at_all_is_a_usage_error(tmp_path: Path) -> None:
    result = compliance("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "the following arguments are required: PATH" in result.stderr


def test_json_format(warned: Path) -> None:
    result = compliance("validate", "rules", "--format", "json", cwd=warned)
    document = json.loads(result.stdout)
    assert (document["errors"], document["warnings"], document["files"], document["exit_code"]) == (0, 5, 2, 0)
    assert document["problems"][0] == {
        "filename": "rules/notices.yaml",
        "location": {"row": 4, "column": 16},
        "severity": "warning",
        "code": "review-overdue",
        "message": 'The notice "warning" was due for review by 2020-01-01; review it and move "review_by".',
        "rule": None,
    }


def test_github_format_annotates_the_pull_request(warned: Path) -> None:
    result = compliance("validate", "rules", "--format", "github", cwd=warned)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        '::warning file=rules/notices.yaml,line=4,col=16,title=compliance review-overdue::The notice "warning" was '
        'due for review by 2020-01-01; review it and move "review_by".'
    )
    assert lines[-1] == "0 errors, 5 warnings in 2 files"


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("RU-CR", 'ISO 3166 lists Crimea under Ukraine: Crimea is "UA-43", Sevastopol "UA-40".'),
        ("UA43", 'subdivision codes have a dash: did you mean "UA-43"?'),
        ("T1", 'a CDN\'s "T1" means a Tor exit: such readers are "tor" (and "anonymous") in rules.'),
        ("TOR", '"TOR": keywords are written in lower case: "tor".'),
        ("vpn", '"vpn" is not a jurisdiction; the kind of anonymity is written "anonymous-vpn".'),
        ("XX", 'a CDN\'s "XX" means it does not know the country: such readers are "unknown" in rules.'),
        ("ZZ", '"ZZ" means the country is not known: such readers are "unknown" in rules.'),
    ],
)
def test_a_code_that_points_elsewhere_gets_the_right_way(tmp_path: Path, code: str, said: str) -> None:
    (tmp_path / "r.yaml").write_text(
        "notices:\n  n:\n    title: N\n    text: {en: x}\n"
        f"rules:\n  - id: r\n    notice: n\n    jurisdictions: [{code}]\n"
    )
    result = compliance("validate", "r.yaml", cwd=tmp_path)
    assert result.stdout.splitlines()[0].startswith("r.yaml:8:21: error[unknown-jurisdiction]: ")
    assert result.stdout.splitlines()[0].endswith(said)
    assert result.returncode == 1


def test_a_title_that_starts_with_a_quote_is_told_to_quote_the_whole_value(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text('notices:\n  n:\n    title: "Foreign agent" label\n    text: {en: x}\n')
    result = compliance("validate", "r.yaml", cwd=tmp_path)
    assert result.stdout.splitlines()[0] == (
        "r.yaml:3:12: error[yaml-syntax]: This value starts with a quote, so YAML reads it as ending at the closing "
        "quote, and the text after that cannot follow it. Put the whole value in quotes of the other kind: "
        "'\"Foreign agent\" label'."
    )


def test_an_empty_rules_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    result = compliance("validate", "rules", cwd=tmp_path)
    assert result.stdout.splitlines()[-1] == "1 error, 0 warnings in 0 files"
    assert result.returncode == 1


def test_a_text_cut_short_by_a_comment_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "notices:\n  n:\n    title: Court order\n    text:\n      en: Withheld under court order #2026/1234\n"
        '      ru: "Скрыто по решению суда" # a comment after quotes is fine\n'
        "rules:\n  - {id: r, notice: n, jurisdictions: [RU]}\n"
    )
    result = compliance("validate", "r.yaml", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        'r.yaml:5:11: warning[text-cut-by-comment]: "text: en" is read as "Withheld under court order": YAML drops '
        '"#2026/1234" after it as a comment (a "#" after a space starts one). If it is part of the text, put the '
        "whole text in quotes.",
        "0 errors, 1 warning in 1 file",
    ]


def test_a_title_or_legal_basis_cut_short_by_a_comment_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "notices:\n  n:\n    title: Court order #2026/1234\n    legal_basis: Order No. 5 #of 2026\n"
        "    text: {en: Withheld.}\nrules:\n  - {id: r, notice: n, jurisdictions: [RU]}\n"
    )
    lines = compliance("validate", "r.yaml", cwd=tmp_path).stdout.splitlines()
    assert lines[0].startswith('r.yaml:3:12: warning[text-cut-by-comment]: "title" is read as "Court order": ')
    assert lines[1].startswith('r.yaml:4:18: warning[text-cut-by-comment]: "legal_basis" is read as "Order No. 5": ')
    assert lines[-1] == "0 errors, 2 warnings in 1 file"


def test_sarif_and_junit_for_machines(tmp_path: Path) -> None:
    import json
    import xml.etree.ElementTree as ET

    (tmp_path / "r.yaml").write_text(
        "notices:\n  n:\n    title: N\n    text: {en: x}\nrules:\n  - {id: r, notice: n, jurisdictions: [UK]}\n"
    )
    sarif = json.loads(compliance("validate", "r.yaml", "--format", "sarif", cwd=tmp_path).stdout)
    [found] = sarif["runs"][0]["results"]
    assert found["ruleId"] == "unknown-jurisdiction" and found["level"] == "error"
    assert found["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "r.yaml"},
        "region": {"startLine": 6, "startColumn": 40},
    }
    assert 'the United Kingdom is "GB"' in found["message"]["text"]
    junit = compliance("validate", "r.yaml", "--format", "junit", cwd=tmp_path)
    failure = ET.fromstring(junit.stdout).find(".//failure")
    assert failure is not None and "the United Kingdom is" in failure.attrib["message"]
    assert junit.returncode == 1


def test_the_pre_commit_hook_runs_the_installed_command() -> None:
    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["entry"] for h in hooks} == {
        "compliance-validate": "compliance validate",
        "compliance-test": "compliance test rules/tests --rules rules/",
    }
    assert all(h["language"] == "python" and h["pass_filenames"] is False for h in hooks)


# -- which languages a notice needs --------------------------------------------------------------

MANY_NOTICES = (
    "notices:\n"
    + "".join(f"  n{i}:\n    title: Notice {i}\n    text: {{en: Text {i}.}}\n" for i in range(40))
    + (
        "  ru-warning:\n    title: Russian warning\n    review_by: 2020-01-01\n"
        "    text: {en: Take care., ru: Будьте осторожны., be: Асцярожна.}\n"
    )
)
MANY_RULES = (
    "rules:\n"
    + "".join(f"  - {{id: r{i}, notice: n{i}, jurisdictions: ['*']}}\n" for i in range(40))
    + "  - {id: ru, notice: ru-warning, jurisdictions: [RU, BY]}\n"
)


def test_a_language_other_notices_have_is_no_warning_unless_required(tmp_path: Path) -> None:
    write(tmp_path, "rules/notices.yaml", MANY_NOTICES)
    write(tmp_path, "rules/rules.yaml", MANY_RULES)
    result = compliance("validate", "rules", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        'rules/notices.yaml:124:16: warning[review-overdue]: The notice "ru-warning" was due for review by '
        '2020-01-01; review it and move "review_by".',
        "0 errors, 1 warning in 2 files",
    ]
    strict = compliance("validate", "--strict", "rules", cwd=tmp_path)
    assert strict.returncode == 1


def test_a_rule_requires_languages_for_its_readers_any_one_of_a_list_will_do(tmp_path: Path) -> None:
    write(tmp_path, "rules/notices.yaml", MANY_NOTICES.replace("review_by: 2020-01-01", "review_by: 2099-01-01"))
    write(
        tmp_path,
        "rules/rules.yaml",
        MANY_RULES.replace("{id: r3, notice: n3,", "{id: r3, notice: n3, required_languages: [[be, ru]],").replace(
            "jurisdictions: [RU, BY]}", "jurisdictions: [RU, BY], required_languages: [[be, ru], ru-RU]}"
        ),
    )
    result = compliance("validate", "--strict", "rules", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        'rules/notices.yaml:11:3: warning[missing-language]: The notice "n3" has no text in "be" or "ru", which the '
        'rule "r3" (rules/rules.yaml:5:5) requires ("required_languages"); those readers get "en" instead. Add the '
        "text, or remove the requirement.",
        "0 errors, 1 warning in 2 files",
    ]
    assert result.returncode == 1


def test_a_required_language_that_is_not_a_language_is_an_error_with_its_place(tmp_path: Path) -> None:
    write(
        tmp_path,
        "rules/notices.yaml",
        "notices:\n  n:\n    title: N\n    required_languages: [russian]\n    text: {en: Text.}\n",
    )
    result = compliance("validate", "rules", cwd=tmp_path)
    assert result.stdout.splitlines()[0] == (
        'rules/notices.yaml:4:26: error[bad-language]: "russian" is not a language tag; did you mean "ru" (Russian)? '
        'Write a BCP 47 tag such as "en", "ru" or "pt-BR".'
    )
    assert result.returncode == 1


def test_json_counts_warnings_by_kind(warned: Path) -> None:
    document = json.loads(compliance("validate", "rules", "--format", "json", cwd=warned).stdout)
    assert [(k["code"], k["count"]) for k in document["warnings_by_kind"]] == [
        ("review-overdue", 1),
        ("missing-language", 1),
        ("shadowed-rule", 1),
        ("slow-pattern", 1),
        ("unused-notice", 1),
    ]
