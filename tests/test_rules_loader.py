"""The rule-file loader: the contract of rules-format.md, and the mistakes people make writing it."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pycountry
import pytest

import compliance.rules
from compliance.errors import Problem, RuleFileError
from compliance.rules import Link, Location, Place, RuleSet, load_rules, load_rules_text
from compliance.rules.groups import EEA, EU, check_code
from compliance.rules.load import check_language
from compliance.rules.selectors import check_selector
from compliance.rules.yamlstrict import YamlMap, YamlScalar, read_yaml, to_python

TODAY = date(2025, 1, 15)

NOTICE = """\
notices:
  warning:
    title: Test warning
    text: {en: Take care., ru: Будьте осторожны.}
"""


def load(text: str, name: str = "x.yaml", today: date = TODAY) -> RuleSet:
    return load_rules_text(textwrap.dedent(text), name, today=today)


def problems(text: str, name: str = "x.yaml", today: date = TODAY) -> list[Problem]:
    with pytest.raises(RuleFileError) as raised:
        load(text, name, today)
    return list(raised.value.problems)


def lines(text: str) -> list[str]:
    return [str(problem) for problem in problems(text)]


def one_error(text: str) -> str:
    errors = [problem for problem in problems(text) if problem.severity == "error"]
    assert len(errors) == 1, errors
    return str(errors[0])


def rules(block: str) -> str:
    """A file with one notice ("warning", lines 1-4) and the given rules (from line 5)."""
    return NOTICE + textwrap.dedent(block)


# --- the format's own example ---------------------------------------------------------------

FORMAT_EXAMPLE = """\
groups:
  # A named set of jurisdictions. Members may name other groups with '@'.
  occupied-ukraine: [UA-43, UA-40, UA-14, UA-09, UA-23, UA-65]
  russian-law-reach: [RU, "@occupied-ukraine"]

notices:
  undesirable-organization:            # id: lowercase letters, digits and '-'
    title: Undesirable-organization warning (Russia)    # for reports; required
    legal_basis: Russian Federal Law No. 129-FZ of 23 May 2015   # free text, for audit; optional
    source_url: https://example.org/register-entry   # optional: where the legal basis can be checked
    owner: legal@example.org           # optional: who answers for this notice
    review_by: 2027-06-30              # optional: `compliance validate` warns once this date has passed
    text:                              # required; one entry per language (BCP 47 tag)
      en: |
        The Russian authorities have listed Northwind News as an "undesirable
        organization".

        Readers in Russia who are Russian citizens or stateless residents may be
        fined or prosecuted for sharing, saving or commenting on our reporting,
        or for getting in touch with us.
      ru: Российские власти признали Northwind News «нежелательной организацией».
    link:                              # optional: "To find out more"
      href: https://example.org/undesirable
      text: {en: "To find out more, click here.", ru: "Подробнее"}
    default_language: en               # optional; else the first language under text
    css: ".legal-notice[data-legal-notice=undesirable-organization] { font-weight: bold }"
    # optional: added once, in a <style> before </head>, on pages that show this notice

rules:
  - id: ru-undesirable-organization    # required, unique
    notice: undesirable-organization   # required: a notice id
    jurisdictions: ["@russian-law-reach"]   # required, non-empty
    except_jurisdictions: []           # optional
    paths: ["/**"]                     # optional, default ["/**"]
    hosts: ["www.example.org"]         # optional, default every host; "*.example.org" matches subdomains
    except_paths: ["/static/**", "/healthz"]   # optional
    placement: body-end                # optional, default body-end (see below)
    action: notice                     # optional: notice (default) | block
    from: 2024-08-20                   # optional, inclusive; date or ISO 8601 datetime; UTC unless an offset is given
    until: 2030-01-01                  # optional, exclusive
    priority: 0                        # optional integer; higher goes first where several notices share a place
    mode: enforce                      # optional: enforce (default) | report-only (decided and audited, not applied)
"""

OCCUPIED = frozenset({"UA-43", "UA-40", "UA-14", "UA-09", "UA-23", "UA-65"})


def test_the_format_example_loads() -> None:
    ruleset = load_rules_text(FORMAT_EXAMPLE, "rules/example.yaml", today=TODAY)

    assert ruleset.files == ("rules/example.yaml",)
    assert ruleset.warnings == ()
    assert dict(ruleset.groups) == {"occupied-ukraine": OCCUPIED, "russian-law-reach": OCCUPIED | {"RU"}}

    notice = ruleset.notices["undesirable-organization"]
    assert notice.title == "Undesirable-organization warning (Russia)"
    assert notice.legal_basis == "Russian Federal Law No. 129-FZ of 23 May 2015"
    assert notice.source_url == "https://example.org/register-entry"
    assert notice.owner == "legal@example.org"
    assert notice.review_by == date(2027, 6, 30)
    assert list(notice.text) == ["en", "ru"]
    assert notice.text["en"].startswith('The Russian authorities have listed Northwind News as an "undesirable\n')
    assert notice.text["en"].endswith("or for getting in touch with us.\n")
    assert notice.text["ru"] == "Российские власти признали Northwind News «нежелательной организацией»."
    assert notice.link == Link(
        "https://example.org/undesirable", {"en": "To find out more, click here.", "ru": "Подробнее"}
    )
    assert notice.default_language == "en"
    assert notice.css == ".legal-notice[data-legal-notice=undesirable-organization] { font-weight: bold }"
    assert notice.location == Location("rules/example.yaml", 7, 3)

    (rule,) = ruleset.rules
    assert rule.id == "ru-undesirable-organization"
    assert rule.notice == "undesirable-organization"
    assert rule.jurisdictions == OCCUPIED | {"RU"}
    assert rule.jurisdictions_written == ("@russian-law-reach",)
    assert rule.except_jurisdictions == frozenset()
    assert [str(p) for p in rule.paths] == ["/**"]
    assert [str(p) for p in rule.except_paths] == ["/static/**", "/healthz"]
    assert rule.hosts == ("www.example.org",)
    assert rule.placement == (Place("body-end"),)
    assert rule.action == "notice"
    assert rule.start == datetime(2024, 8, 20, tzinfo=UTC)
    assert rule.until == datetime(2030, 1, 1, tzinfo=UTC)
    assert rule.priority == 0
    assert rule.mode == "enforce"
    assert rule.location == Location("rules/example.yaml", 30, 5)


def test_the_example_rules_folder_of_the_project_loads() -> None:
    root = Path(__file__).resolve().parent.parent / "rules"
    ruleset = load_rules(root)
    assert ruleset.rules
    assert all(rule.notice in ruleset.notices for rule in ruleset.rules)


def test_defaults_of_a_minimal_rule() -> None:
    ruleset = load(rules("rules:\n  - {id: r, notice: warning, jurisdictions: [RU]}\n"))
    (rule,) = ruleset.rules
    assert [p.source for p in rule.paths] == ["/**"]
    assert rule.except_paths == ()
    assert rule.hosts == ()
    assert rule.placement == (Place("body-end"),)
    assert (rule.action, rule.mode, rule.priority, rule.start, rule.until) == ("notice", "enforce", 0, None, None)
    assert ruleset.notices["warning"].default_language == "en"
    assert ruleset.notices["warning"].link is None


def test_an_empty_file_is_a_valid_empty_rule_set() -> None:
    for text in ("", "# only a comment\n", "\ufeff"):
        ruleset = load(text)
        assert (ruleset.rules, dict(ruleset.notices), dict(ruleset.groups)) == ((), {}, {})


def test_empty_sections_are_allowed() -> None:
    ruleset = load("groups:\nnotices: {}\nrules: []\n")
    assert ruleset.rules == ()


# --- strict YAML --------------------------------------------------------------------------


def test_no_and_se_are_norway_and_sweden() -> None:
    ruleset = load(
        rules("groups:\n  nordic: [NO, SE]\nrules:\n  - {id: r, notice: warning, jurisdictions: [NO, SE]}\n")
    )
    assert ruleset.groups["nordic"] == {"NO", "SE"}
    assert ruleset.rules[0].jurisdictions == {"NO", "SE"}


def test_on_yes_and_off_are_strings_everywhere() -> None:
    ruleset = load(
        """\
        notices:
          on:
            title: yes
            owner: off
            text: {en: on, no: Nei}
        rules:
          - {id: on, notice: on, jurisdictions: [NO], placement: {json: on}}
        """
    )
    notice = ruleset.notices["on"]
    assert (notice.title, notice.owner, dict(notice.text)) == ("yes", "off", {"en": "on", "no": "Nei"})
    assert ruleset.rules[0].placement == (Place("json", "on"),)


def test_on_is_not_a_country() -> None:
    assert one_error(rules("rules:\n  - {id: r, notice: warning, jurisdictions: [SE, on]}\n")) == (
        'x.yaml:6:50: error[unknown-jurisdiction]: "on" is not an ISO 3166 country code: codes are two upper-case '
        'letters, such as "RU"; a group is written "@name".'
    )


def test_dates_and_numbers_stay_text_where_text_is_expected() -> None:
    ruleset = load("notices:\n  n:\n    title: 2024-08-20\n    owner: 0x10\n    text: {en: 1.5}\n")
    notice = ruleset.notices["n"]
    assert (notice.title, notice.owner, notice.text["en"]) == ("2024-08-20", "0x10", "1.5")


def test_the_strict_reader_keeps_marks_and_text() -> None:
    value, found = read_yaml("a: [NO, 'x']\nb:\n", "m.yaml")
    assert found == []
    assert isinstance(value, YamlMap)
    assert to_python(value) == {"a": ["NO", "x"], "b": ""}
    b = value.get("b")
    assert isinstance(b, YamlScalar) and b.is_empty
    assert (value.key("b").line, value.key("b").column) == (2, 1)


def test_a_key_given_twice_is_refused_in_any_mapping() -> None:
    assert lines(rules("rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    notice: warning\n")) == [
        'x.yaml:9:5: error[duplicate-key]: "notice" is given twice in the same mapping (first at line 7, column 5); '
        "keep one of them."
    ]
    assert [p.line for p in problems("groups:\n  a: [RU]\n  a: [BY]\ngroups: {}\n")] == [3, 4]


def test_a_key_that_is_a_list_or_mapping_is_refused() -> None:
    assert (
        one_error("groups:\n  [a, b]: [RU]\n")
        == "x.yaml:2:3: error[bad-key]: A key here is a list; keys are plain words."
    )
    assert one_error("groups:\n  ? {a: b}\n  : [RU]\n").startswith(
        "x.yaml:2:5: error[bad-key]: A key here is a mapping"
    )


def test_anchors_and_aliases_are_refused() -> None:
    assert one_error("groups:\n  a: &baltic [EE, LV, LT]\n") == (
        'x.yaml:2:6: error[alias]: "&baltic" is a YAML anchor. Rule files do not use anchors or aliases; write each '
        "value out in full. A value that starts with & must be quoted."
    )
    found = one_error('groups:\n  a: ["EE"]\n  b: *a\n')
    assert found.startswith('x.yaml:3:6: error[alias]: "*a" is a YAML alias')


def test_a_billion_laughs_file_is_refused_quickly() -> None:
    laughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        prev, name = chr(96 + level), chr(97 + level)
        laughs.append(f"{name}: &{name} [{', '.join(f'*{prev}' for _ in range(9))}]")
    started = time.perf_counter()
    found = problems("\n".join(laughs) + "\n")
    assert time.perf_counter() - started < 1.0
    assert [(p.code, p.line, p.column) for p in found] == [("alias", 1, 4)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: !!python/object/apply:os.system [ls]\n", 'x.yaml:1:8: error[tag]: "!!python/object/apply:os.system"'),
        ("groups: {a: !foo [RU]}\n", 'x.yaml:1:13: error[tag]: "!foo"'),
        ("groups: {a: [!!str NO]}\n", 'x.yaml:1:14: error[tag]: "!!str"'),
    ],
)
def test_tags_are_refused(text: str, expected: str) -> None:
    assert one_error(text).startswith(expected + " is a YAML tag. Rule files do not use tags")


def test_a_second_document_is_refused() -> None:
    assert one_error("groups: {}\n---\nrules: []\n") == (
        'x.yaml:2:1: error[multiple-documents]: A second YAML document starts here ("---"); a rule file holds one '
        "document. Put it in a file of its own."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "groups:\n  a: [@EU]\n",
            'x.yaml:2:7: error[yaml-syntax]: A value that starts with "@" must be in quotes: write "@EU" or '
            "\"@group-name\", not @EU (YAML: found character '@' that cannot start any token).",
        ),
        ("groups:\n\ta: [RU]\n", "x.yaml:2:1: error[yaml-syntax]: A tab is used for indentation here"),
        (
            "groups:\n  a: [*]\n",
            'x.yaml:2:8: error[yaml-syntax]: A value that starts with "*" or "&" must be in quotes',
        ),
        (
            "notices:\n  n:\n    title: Warning: read this\n",
            "x.yaml:3:19: error[yaml-syntax]: A colon followed by a space",
        ),
        ("groups:\n  a: [RU, BY\n  b: [UA]\n", "x.yaml:3:4: error[yaml-syntax]: A list in brackets [ ] is not closed"),
        ('notices:\n  n:\n    title: "open\n', "x.yaml:4:1: error[yaml-syntax]: A quoted value is not closed"),
        ("rules:\n  - id: a\n   notice: b\n", "x.yaml:3:4: error[yaml-syntax]: The indentation is inconsistent here"),
    ],
)
def test_yaml_syntax_errors_are_plain_sentences_at_their_line_and_column(text: str, expected: str) -> None:
    assert one_error(text).startswith(expected)


def test_files_must_be_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.yaml").write_bytes("notices:\n  n:\n    title: Café\n".encode("latin-1"))
    (tmp_path / "wide.yaml").write_bytes("groups: {}\n".encode("utf-16"))
    with pytest.raises(RuleFileError) as raised:
        load_rules(tmp_path)
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path}/latin.yaml:3:15: error[encoding]: The file is not UTF-8: the byte 0xE9 here is not valid UTF-8 "
        "(the file may have been saved as Latin-1 or Windows-1252); save it as UTF-8.",
        f"{tmp_path}/wide.yaml:1:1: error[encoding]: The file is saved as UTF-16; save it as UTF-8.",
    ]


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + b"groups: {baltics: [EE, LV, LT]}\n")
    assert load_rules(path).groups["baltics"] == {"EE", "LV", "LT"}


def test_a_control_character_is_refused() -> None:
    assert one_error("groups: {a: [RU]}\x1b\n") == (
        "x.yaml:1:18: error[bad-character]: The file contains the control character U+001B, which YAML does not "
        "allow; remove it."
    )


# --- the lawyer's mistakes, each at its line and column ---------------------------------------


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU, XY]\n",
            'x.yaml:8:25: error[unknown-jurisdiction]: "XY" is not an ISO 3166 country or subdivision code; did you '
            'mean a group? Groups are written "@name".',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [ru]\n",
            'x.yaml:8:21: error[unknown-jurisdiction]: "ru" is written in lower case; codes are written in upper case: '
            'did you mean "RU"?',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: RU\n",
            'x.yaml:8:20: error[bad-type]: "jurisdictions" needs a list, such as [RU] or ["@EU", GB]; to give one '
            "value, write it in brackets: [RU].",
        ),
        (
            "rules:\n  - id: r\n    notice: warnnig\n    jurisdictions: [RU]\n",
            'x.yaml:7:13: error[unknown-notice]: There is no notice "warnnig" in the rule set; did you mean "warning"? '
            'A rule names the id of a notice defined under "notices:".',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    jurisdiction: [BY]\n",
            'x.yaml:9:5: error[unknown-key]: "jurisdiction" is not a field of a rule; did you mean "jurisdictions"? A '
            "rule has: id, notice, jurisdictions, except_jurisdictions, paths, hosts, except_paths, placement, action, "
            "from, until, priority, mode, legal_basis, reference, language, languages, form, required_languages, "
            "fallback, match, when.",
        ),
        (
            'rules:\n  - id: r\n    notice: warning\n    jurisdictions: ["@eu"]\n',
            'x.yaml:8:21: error[undefined-group]: There is no group "@eu"; did you mean "@EU"? Groups are defined '
            'under "groups:"; the built-in groups are "@EU" and "@EEA".',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [UK]\n",
            'x.yaml:8:21: error[unknown-jurisdiction]: "UK" is not an ISO 3166 country code; the United Kingdom is '
            '"GB" in ISO 3166.',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    from: 20/08/2024\n",
            'x.yaml:9:11: error[bad-date]: "20/08/2024" is not a date; write a date as YYYY-MM-DD (2024-08-20, '
            "midnight UTC) or a date and time in ISO 8601 (2024-08-20T09:00:00+03:00; UTC where no offset is given).",
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    paths: [news/**]\n",
            'x.yaml:9:13: error[bad-path]: "news/**": A path starts with "/" (such as "/news/**") or with "re:" for a '
            "regular expression.",
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: bottom\n",
            'x.yaml:9:16: error[bad-placement]: "bottom" is not a placement. A placement is "body-start", "body-end", '
            '"head", or one of {marker: ...}, {before: ...}, {after: ...}, {prepend: ...}, {append: ...}, '
            "{header: ...}, {json: ...}, {feed: ...}.",
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    priority: high\n",
            'x.yaml:9:15: error[bad-type]: "priority" needs a whole number, such as 10 or -5; "high" is not one.',
        ),
        (
            "rules:\n  - id: RU warning\n    notice: warning\n    jurisdictions: [RU]\n",
            'x.yaml:6:9: error[bad-id]: "RU warning" is not a valid rule id: use lowercase letters, digits and "-" '
            'only. Did you mean "ru-warning"?',
        ),
        (
            "rules:\n  - notice: warning\n    jurisdictions: [RU]\n",
            'x.yaml:6:5: error[missing-field]: This rule has no "id"; it needs one (id: a name of lowercase letters, '
            "digits and -).",
        ),
        (
            "rules:\n  - id: r\n    notice:\n    jurisdictions: [RU]\n",
            'x.yaml:7:5: error[missing-field]: The rule "r" has no "notice"; it needs one (notice: the id of a '
            "notice).",
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    action: blok\n",
            'x.yaml:9:13: error[bad-action]: "blok" is not a valid "action"; did you mean "block"? It is one of '
            '"notice", "block", "remove", "replace".',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    mode: report_only\n",
            'x.yaml:9:11: error[bad-mode]: "report_only" is not a valid "mode"; did you mean "report-only"? It is one '
            'of "enforce", "report-only".',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    hosts: [https://www.example.org/]\n",
            'x.yaml:9:13: error[bad-host]: "https://www.example.org/": Write the host alone, without "https://": '
            '"www.example.org".',
        ),
        (
            'rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {before: "h1:hover"}\n',
            'x.yaml:9:25: error[bad-selector]: The selector "h1:hover" uses the pseudo-class ":hover", which is not '
            "supported here. Selectors may use a type (article), #id, .class, [attr], [attr=value] (also ^=, $=, "
            '*=, ~= and |=, the value bare or in quotes), and the descendant (" ") and child (">") combinators.',
        ),
        (
            "rules:\n  - id: r\n    notice: warning\n    jurisdictions: []\n",
            'x.yaml:8:20: error[empty-value]: "jurisdictions" is empty; name at least one, such as [RU], or "*" for '
            "every reader.",
        ),
        (
            "rules:\n  notice: warning\n",
            'x.yaml:6:3: error[bad-type]: "rules" needs a list of rules, each starting with "- id:", not a mapping '
            "(key: value lines).",
        ),
    ],
)
def test_a_mistake_is_reported_at_its_line_and_column(block: str, expected: str) -> None:
    assert one_error(rules(block)) == expected


def test_a_problem_inside_a_rule_carries_the_rule_id() -> None:
    (found,) = problems(rules("rules:\n  - {id: ru-warning, notice: warning, jurisdictions: [RUS]}\n"))
    assert found.rule_id == "ru-warning"
    assert found.message == (
        '"RUS" is a three-letter code; rule files use the two-letter ISO 3166-1 code: "RU" (Russian Federation).'
    )


@pytest.mark.parametrize(
    ("block", "needs"),
    [
        ("notices:\n  n:\n    title: [a, b]\n    text: {en: x}\n", '"title" needs text, not a list.'),
        ("notices:\n  n:\n    title: t\n    text: hello\n", '"text" needs one entry per language'),
        ("notices:\n  n:\n    title: t\n    text: {en: [a]}\n", '"text: en" needs text, not a list.'),
        ("notices:\n  n: just a title\n", 'The notice "n" needs its fields (title, text, ...) indented below it'),
        ("notices:\n  - n\n", '"notices" needs a mapping of notice ids to notices'),
        ("groups: [RU]\n", '"groups" needs a mapping of group names to lists of codes'),
        ("groups:\n  a: RU\n", '"a" needs a list, such as [EE, LV, LT] or ["@EU", CH]; to give one value, write it'),
        ("rules:\n  - just text\n", 'Each rule is a set of fields ("- id: ...", then "notice:", "jurisdictions:" ...)'),
        (
            NOTICE + "rules:\n  - {id: r, notice: warning, jurisdictions: [[RU]]}\n",
            'Each entry of "jurisdictions" is text',
        ),
        (
            NOTICE + "rules:\n  - {id: r, notice: warning, jurisdictions: [{RU: 1}]}\n",
            "not a mapping (key: value lines)",
        ),
        (NOTICE + "rules:\n  - {id: r, notice: warning, jurisdictions: [RU], paths: /news}\n", '"paths" needs a list'),
        (
            NOTICE + "rules:\n  - {id: r, notice: warning, jurisdictions: [RU], action: [block]}\n",
            '"action" needs text',
        ),
        (NOTICE + "rules:\n  - {id: r, notice: [warning], jurisdictions: [RU]}\n", '"notice" needs text, not a list.'),
        (
            "- a\n",
            'A rule file is a mapping with the keys "groups", "notices", "rules" and "policy"; this file holds a list.',
        ),
    ],
)
def test_a_field_of_the_wrong_type_says_which_type_it_needs(block: str, needs: str) -> None:
    found = problems(block)
    assert [p.code for p in found] == ["bad-type"]
    assert needs in found[0].message


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "groups:\n  baltics: [EE, LV, Lt]\nnotices:\n  warning:\n    titel: x\n    text: {en: x}\n", encoding="utf-8"
    )
    (folder / "b.yaml").write_text(
        'rules:\n  - id: r\n    notice: warnng\n    jurisdictions: ["@baltic"]\n    until: 2024-01-01\n',
        encoding="utf-8",
    )
    with pytest.raises(RuleFileError) as raised:
        load_rules(str(folder), today=TODAY)
    prefix = f"{folder}/"
    assert [str(p).removeprefix(prefix) for p in raised.value.problems] == [
        'a.yaml:2:21: error[unknown-jurisdiction]: "Lt" is written in lower case; codes are written in upper case: '
        'did you mean "LT"?',
        'a.yaml:4:3: error[missing-field]: The notice "warning" has no "title"; it needs one (title: a short '
        "description for reports).",
        'a.yaml:5:5: error[unknown-key]: "titel" is not a field of a notice; did you mean "title"? A notice has: '
        "title, legal_basis, source_url, owner, review_by, text, link, default_language, css, language, languages, "
        "required_languages, head.",
        'b.yaml:3:13: error[unknown-notice]: There is no notice "warnng" in the rule set; did you mean "warning"? A '
        'rule names the id of a notice defined under "notices:".',
        'b.yaml:4:21: error[undefined-group]: There is no group "@baltic"; did you mean "@baltics"? Groups are '
        'defined under "groups:"; the built-in groups are "@EU" and "@EEA".',
        'b.yaml:5:12: warning[rule-expired]: The rule "r" ended at 2024-01-01 ("until") and no longer applies; remove '
        'the rule, or move "until" if it should still apply.',
    ]
    error = raised.value
    assert (error.path, error.line, error.column) == (f"{folder}/a.yaml", 2, 21)
    assert str(error).endswith("(and 4 more)")


# --- jurisdictions and groups -------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["RU", "XK", "GB", "UA-43", "US-CA", "FR-75C", "unknown", "anonymous", "*", "@EU", "@EEA", "@sanctioned"]
)
def test_valid_jurisdictions(code: str) -> None:
    ruleset = load(
        rules(f'groups:\n  sanctioned: [BY, IR]\nrules:\n  - {{id: r, notice: warning, jurisdictions: ["{code}"]}}\n')
    )
    assert ruleset.rules[0].jurisdictions_written == (code,)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "XY",
            '"XY" is not an ISO 3166 country or subdivision code; did you mean a group? Groups are written "@name".',
        ),
        ("ru", '"ru" is written in lower case; codes are written in upper case: did you mean "RU"?'),
        ("us-ca", '"us-ca" is written in lower case; codes are written in upper case: did you mean "US-CA"?'),
        (
            "RUS",
            '"RUS" is a three-letter code; rule files use the two-letter ISO 3166-1 code: "RU" (Russian Federation).',
        ),
        ("UA-99", '"UA-99" is not an ISO 3166-2 subdivision code of Ukraine (UA); codes there look like "UA-05".'),
        ("XK-01", '"XK-01" is not an ISO 3166-2 subdivision code: Kosovo (XK) has no subdivision codes; write "XK".'),
        ("Unknown", '"Unknown": keywords are written in lower case: "unknown".'),
        ("EU", '"EU" is not an ISO 3166 country code; the European Union is the group "@EU".'),
        ("Germany", '"Germany" is not a code; countries are written as ISO 3166 codes: did you mean "DE" (Germany)?'),
        ("sanctioned", '"sanctioned" is not an ISO 3166 country or subdivision code; did you mean the group '),
        ("", "An empty jurisdiction"),
    ],
)
def test_unknown_jurisdictions_explain_themselves(code: str, message: str) -> None:
    result = check_code(code, ["sanctioned"])
    assert result is not None and result.startswith(message)


def test_a_country_matches_only_itself_so_eu_lists_its_territories() -> None:
    assert len(EU) == 34
    assert {"FR", "RE", "GF", "GP", "MQ", "YT", "MF", "AX"} <= EU
    assert sorted(EEA - EU) == ["IS", "LI", "NO"]
    assert EU < EEA
    assert "GB" not in EEA and "CH" not in EEA
    ruleset = load(
        rules('rules:\n  - {id: r, notice: warning, jurisdictions: ["@EEA"], except_jurisdictions: ["@EU"]}\n')
    )
    rule = ruleset.rules[0].at(time.time())  # the built-in groups' members of today
    assert rule.jurisdictions == EEA
    assert rule.except_jurisdictions == EU
    assert rule.except_jurisdictions_written == ("@EU",)


def test_groups_expand_through_other_groups_and_files(tmp_path: Path) -> None:
    (tmp_path / "1-groups.yaml").write_text('groups:\n  baltics: [EE, LV, LT]\n  north: ["@baltics", FI, "@EEA"]\n')
    (tmp_path / "2-rules.yaml").write_text(
        rules('rules:\n  - {id: r, notice: warning, jurisdictions: ["@north", UA-43]}\n')
    )
    ruleset = load_rules(tmp_path, today=TODAY)
    assert ruleset.groups["north"] == EEA | {"GB"}  # every code that belongs at some time: GB until 2020
    assert ruleset.rules[0].at(time.time()).jurisdictions == EEA | {"UA-43"}
    assert "EU" not in ruleset.groups


def test_a_cycle_of_groups_is_an_error_naming_the_cycle() -> None:
    text = 'groups:\n  a: [RU, "@b"]\n  b: ["@c"]\n  c: ["@a"]\n  d: ["@d"]\n'
    assert lines(text) == [
        "x.yaml:2:3: error[group-cycle]: These groups contain each other in a circle: a -> b -> c -> a; a group cannot "
        "contain itself, directly or through other groups.",
        "x.yaml:5:3: error[group-cycle]: These groups contain each other in a circle: d -> d; a group cannot contain "
        "itself, directly or through other groups.",
    ]


def test_an_undefined_group_is_reported_where_it_is_named() -> None:
    assert one_error('groups:\n  a: [RU, "@nordic"]\n') == (
        'x.yaml:2:11: error[undefined-group]: There is no group "@nordic". Groups are defined under "groups:"; the '
        'built-in groups are "@EU" and "@EEA".'
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("EU", '"EU" is the name of the built-in group "@EU"; choose another name for this group.'),
        ("eea", '"eea" is the name of the built-in group "@EEA"; choose another name for this group.'),
        ('"@baltics"', 'Write the group name without "@" where it is defined ("baltics:"); rules then name it'),
        ("Baltics", '"Baltics" is not a valid group name: use lowercase letters, digits and "-" only.'),
    ],
)
def test_group_names(name: str, message: str) -> None:
    (found,) = problems(f"groups:\n  {name}: [EE]\n")
    assert (found.code, found.line, found.column) == ("bad-id", 2, 3)
    assert found.message.startswith(message)


def test_an_empty_group_is_a_warning() -> None:
    ruleset = load("groups:\n  later: []\n")
    assert [str(p) for p in ruleset.warnings] == [
        'x.yaml:2:10: warning[empty-group]: The group "later" has no members; a rule that names it matches no one.'
    ]


# --- ids --------------------------------------------------------------------------------


def test_ids_are_unique_across_the_set_but_a_rule_may_share_a_notice_id(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        rules("groups: {g: [RU]}\nrules:\n  - {id: warning, notice: warning, jurisdictions: [RU]}\n")
    )
    assert load_rules(tmp_path / "a.yaml", today=TODAY).rules[0].id == "warning"
    (tmp_path / "b.yaml").write_text(
        rules("groups: {g: [BY]}\nrules:\n  - {id: warning, notice: warning, jurisdictions: [BY]}\n")
    )
    with pytest.raises(RuleFileError) as raised:
        load_rules(tmp_path, today=TODAY)
    assert [(p.path.removeprefix(f"{tmp_path}/"), p.line, p.column, p.code) for p in raised.value.problems] == [
        ("b.yaml", 2, 3, "duplicate-id"),
        ("b.yaml", 5, 10, "duplicate-id"),
        ("b.yaml", 7, 10, "duplicate-id"),
    ]
    messages = [p.message for p in raised.value.problems]
    assert messages[0] == (
        f'The notice id "warning" is already used at {tmp_path}/a.yaml:2:3; notice ids are unique across all rule '
        "files."
    )
    assert messages[1].startswith('The group "g" is already defined at')
    assert messages[2].startswith('The rule id "warning" is already used at')


def test_two_rules_in_one_file_may_not_share_an_id() -> None:
    text = rules(
        "rules:\n  - {id: r, notice: warning, jurisdictions: [RU]}\n  - {id: r, notice: warning, jurisdictions: [BY]}\n"
    )
    assert one_error(text) == (
        'x.yaml:7:10: error[duplicate-id]: The rule id "r" is already used at x.yaml:6:10; rule ids are unique across '
        "all rule files."
    )


@pytest.mark.parametrize(
    ("word", "valid"), [("ru-1", True), ("a", True), ("Ru", False), ("ru_1", False), ("ру", False)]
)
def test_ids_are_lowercase_letters_digits_and_dashes(word: str, valid: bool) -> None:
    text = f"notices:\n  {word}:\n    title: t\n    text: {{en: x}}\n"
    if valid:
        assert list(load(text).notices) == [word]
    else:
        assert [(p.code, p.line, p.column) for p in problems(text)] == [("bad-id", 2, 3)]


# --- notices -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("english", '"english" is not a language tag; did you mean "en" (English)? Write a BCP 47 tag such as "en"'),
        ("xx", '"xx" does not start with a known ISO 639 language code'),
        ("en_GB", '"en_GB" is not a language tag'),
        ("qqq-Latn", '"qqq-Latn" does not start with a known ISO 639 language code'),
    ],
)
def test_bad_language_tags(tag: str, message: str) -> None:
    result = check_language(tag)
    assert result is not None and result.startswith(message)
    (found,) = problems(f"notices:\n  n:\n    title: t\n    text:\n      {tag}: hello\n")
    assert (found.code, found.line, found.column) == ("bad-language", 5, 7)


@pytest.mark.parametrize("tag", ["en", "pt-BR", "zh-Hant-TW", "fil", "EN", "sr-Latn"])
def test_good_language_tags(tag: str) -> None:
    assert check_language(tag) is None
    assert list(load(f"notices:\n  n:\n    title: t\n    text: {{{tag}: hello}}\n").notices["n"].text) == [tag]


def test_every_language_and_subdivision_pycountry_knows_is_taken_and_no_other() -> None:
    # The codes are read from pycountry's database files, not its objects: the same codes either way.
    languages = {
        code
        for language in pycountry.languages
        for code in (getattr(language, "alpha_2", None), language.alpha_3)
        if code is not None
    }
    assert len(languages) > 7000
    assert [code for code in sorted(languages) if check_language(code) is not None] == []
    letters = "abcdefghijklmnopqrstuvwxyz"
    unknown = [a + b for a in letters for b in letters if a + b not in languages]
    assert unknown and all(check_language(code) is not None for code in unknown)
    subdivisions = {subdivision.code for subdivision in pycountry.subdivisions}
    assert [code for code in sorted(subdivisions) if check_code(code) is not None] == []
    assert all(check_code(f"UA-{n:02d}") is not None for n in range(100) if f"UA-{n:02d}" not in subdivisions)


def test_text_must_be_a_non_empty_mapping_of_non_empty_texts() -> None:
    assert [p.message for p in problems('notices:\n  n:\n    title: t\n    text: {en: "  ", ru: x, EN: y}\n')] == [
        '"text: en" is empty; write its text, or leave the field out.',
        'The language "EN" is given twice in "text" (also as "en").',
    ]
    assert one_error("notices:\n  n:\n    title: t\n    text: {}\n") == (
        'x.yaml:4:11: error[empty-value]: "text" has no languages; add one, such as "en: The text of the notice.".'
    )
    assert one_error("notices:\n  n:\n    title: t\n") == (
        'x.yaml:2:3: error[missing-field]: The notice "n" has no "text"; it needs one (text: with one entry per '
        "language, such as en:)."
    )


def test_default_language_is_the_first_unless_given_and_must_have_a_text() -> None:
    assert load("notices:\n  n: {title: t, text: {ru: x, en: y}}\n").notices["n"].default_language == "ru"
    given = load("notices:\n  n: {title: t, text: {ru: x, en: y}, default_language: en}\n")
    assert given.notices["n"].default_language == "en"
    assert one_error("notices:\n  n: {title: t, text: {ru: x, en: y}, default_language: de}\n") == (
        'x.yaml:2:57: error[bad-language]: "default_language" is "de", but the notice has no text in "de". Its '
        'languages are "ru", "en".'
    )


def test_a_link_text_given_once_is_used_for_every_language() -> None:
    ruleset = load("notices:\n  n:\n    title: t\n    text: {en: x, ru: y}\n    link: {href: /why, text: More}\n")
    assert ruleset.notices["n"].link == Link("/why", {"en": "More", "ru": "More"})


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("{href: 'ftp://x.org', text: More}", '"ftp://x.org" is not a link address'),
        ("{href: //x.org/a, text: More}", '"//x.org/a" would lead a browser to another site'),
        ("{href: why, text: More}", '"why" is not a link address'),
        ("{href: /why}", 'The link has no "text"'),
        ("{text: More}", 'The link has no "href"'),
        ("{href: /why, text: More, title: x}", '"title" is not a field of a link'),
        ("{href: /why, text: {en: More, de: Mehr}}", 'The link has a text in "de", but the notice has no text in "de"'),
        ("{href: /why, text: {ru: Ещё}}", 'The link has no text in "en", the notice\'s default language; add one.'),
        ("https://x.org", '"link" needs "href" and "text" indented below it, not the text "https://x.org".'),
    ],
)
def test_bad_links(link: str, message: str) -> None:
    found = problems(f"notices:\n  n:\n    title: t\n    text: {{en: x, ru: y}}\n    link: {link}\n")
    assert len(found) == 1 and found[0].line == 5
    assert found[0].message.startswith(message)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source_url", "/register", '"/register" is not a web address; "source_url" starts with https:// or http://.'),
        ("review_by", "30.06.2027", '"30.06.2027" is not a date; write dates as YYYY-MM-DD, such as 2027-06-30.'),
        ("review_by", "2027-02-30", '"2027-02-30" is not a real date (day is out of range for month).'),
        ("css", "\"a::after { content: '</style>' }\"", 'The CSS contains "</"'),
        ("owner", "[a, b]", '"owner" needs text, not a list.'),
        ("colour", "red", '"colour" is not a field of a notice.'),
    ],
)
def test_notice_fields(field: str, value: str, message: str) -> None:
    (found,) = problems(f"notices:\n  n:\n    title: t\n    text: {{en: x}}\n    {field}: {value}\n")
    assert found.line == 5
    assert found.message.startswith(message)


def test_a_passed_review_by_is_a_warning_not_an_error() -> None:
    text = "notices:\n  n:\n    title: t\n    text: {en: x}\n    review_by: 2025-01-14\n"
    assert [str(p) for p in load(text, today=date(2025, 1, 15)).warnings] == [
        'x.yaml:5:16: warning[review-overdue]: The notice "n" was due for review by 2025-01-14; review it and move '
        '"review_by".'
    ]
    assert load(text, today=date(2025, 1, 14)).warnings == ()


def test_review_by_compares_with_todays_utc_date_by_default() -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    ruleset = load_rules_text(f"notices:\n  n: {{title: t, text: {{en: x}}, review_by: {yesterday}}}\n", "x.yaml")
    assert [p.code for p in ruleset.warnings] == ["review-overdue"]


# --- rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2024-08-20", datetime(2024, 8, 20, tzinfo=UTC)),
        ("2024-08-20T09:30:00", datetime(2024, 8, 20, 9, 30, tzinfo=UTC)),
        ("2024-08-20T09:30", datetime(2024, 8, 20, 9, 30, tzinfo=UTC)),
        ("2024-08-20T09:30:00Z", datetime(2024, 8, 20, 9, 30, tzinfo=UTC)),
        ("2024-08-20T00:00:00+03:00", datetime(2024, 8, 19, 21, 0, tzinfo=UTC)),
        ("2024-08-20 00:00:00-05:00", datetime(2024, 8, 20, 5, 0, tzinfo=UTC)),
        ("'2024-08-20T00:00:00+0530'", datetime(2024, 8, 19, 18, 30, tzinfo=UTC)),
    ],
)
def test_from_is_a_date_at_midnight_utc_or_a_datetime_utc_unless_an_offset_is_given(
    written: str, expected: datetime
) -> None:
    ruleset = load(rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    from: {written}\n"))
    start = ruleset.rules[0].start
    assert start == expected
    assert start is not None and start.utcoffset() == timedelta(0)


def test_an_offset_keeps_the_instant() -> None:
    ruleset = load(
        rules("rules:\n  - {id: r, notice: warning, jurisdictions: [RU], until: '2030-01-01T03:00:00+03:00'}\n")
    )
    assert ruleset.rules[0].until == datetime(2030, 1, 1, 3, tzinfo=timezone(timedelta(hours=3)))


@pytest.mark.parametrize(
    ("start", "until"), [("2030-01-01", "2024-01-01"), ("2024-08-20", "2024-08-20T03:00:00+03:00")]
)
def test_from_must_be_before_until(start: str, until: str) -> None:
    (found,) = [
        p
        for p in problems(
            rules(
                "rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n"
                f"    from: {start}\n    until: '{until}'\n"
            )
        )
        if p.severity == "error"
    ]
    assert (found.code, found.line, found.column, found.rule_id) == ("bad-date-range", 10, 12, "r")
    assert found.message.startswith('"until" (')


@pytest.mark.parametrize("written", ["2024-13-01", "2024-02-30", "20.08.2024", "2024-08-20T25:00", "tomorrow", "2024"])
def test_bad_dates(written: str) -> None:
    (found,) = problems(
        rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    until: {written}\n")
    )
    assert (found.code, found.line, found.column) == ("bad-date", 9, 12)


def test_a_rule_whose_until_has_passed_is_a_warning() -> None:
    text = rules("rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    until: 2025-01-15\n")
    assert [p.code for p in load(text, today=date(2025, 1, 15)).warnings] == ["rule-expired"]
    assert load(text, today=date(2025, 1, 14)).warnings == ()


def test_warnings_travel_with_the_errors() -> None:
    found = problems(rules("rules:\n  - id: r\n    notice: warning\n    jurisdictions: [XY]\n    until: 2020-01-01\n"))
    assert [(p.severity, p.code) for p in found] == [("error", "unknown-jurisdiction"), ("warning", "rule-expired")]


@pytest.mark.parametrize(("written", "expected"), [("0", 0), ("10", 10), ("-5", -5), ("+3", 3), ('"7"', 7)])
def test_priority_is_an_integer_and_may_be_negative(written: str, expected: int) -> None:
    ruleset = load(rules(f"rules:\n  - {{id: r, notice: warning, jurisdictions: [RU], priority: {written}}}\n"))
    assert ruleset.rules[0].priority == expected


@pytest.mark.parametrize("written", ["1.5", "high", "1e3", "[1]"])
def test_priority_must_be_a_whole_number(written: str) -> None:
    (found,) = problems(rules(f"rules:\n  - {{id: r, notice: warning, jurisdictions: [RU], priority: {written}}}\n"))
    assert found.code == "bad-type"


def test_action_and_mode() -> None:
    ruleset = load(
        rules("rules:\n  - {id: r, notice: warning, jurisdictions: [RU], action: block, mode: report-only}\n")
    )
    rule = ruleset.rules[0]
    assert (rule.action, rule.mode, ruleset.warnings) == ("block", "report-only", ())


def test_a_block_rule_with_a_placement_warns_that_it_is_not_used() -> None:
    ruleset = load(
        rules("rules:\n  - {id: r, notice: warning, jurisdictions: [RU], action: block, placement: body-start}\n")
    )
    assert [(p.code, p.line, p.column, p.rule_id) for p in ruleset.warnings] == [("placement-ignored", 6, 77, "r")]


def test_hosts_are_lower_cased() -> None:
    ruleset = load(
        rules('rules:\n  - {id: r, notice: warning, jurisdictions: [RU], hosts: [WWW.Example.ORG, "*.News.example"]}\n')
    )
    assert ruleset.rules[0].hosts == ("www.example.org", "*.news.example")


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("www.example.org:8080", 'Write the host without a port: "www.example.org"; hosts match on any port.'),
        ("www.example.org/news", 'Write the host alone, without a path: "www.example.org"; paths go under "paths".'),
        ("http://example.org", 'Write the host alone, without "http://": "example.org".'),
        ("www.*.org", '"*" may only stand for subdomains, at the start: "*.example.org".'),
        (
            "a..org",
            '"a..org" is not a valid host name: each part between dots is letters, digits and "-", and none is empty.',
        ),
    ],
)
def test_bad_hosts(host: str, message: str) -> None:
    (found,) = problems(
        rules(f'rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    hosts: ["{host}"]\n')
    )
    assert (found.code, found.line, found.column) == ("bad-host", 9, 13)
    assert found.message == f'"{host}": {message}'


def test_paths_and_except_paths_are_compiled() -> None:
    ruleset = load(
        rules(
            'rules:\n  - {id: r, notice: warning, jurisdictions: [RU], paths: ["/news/**", "re:/a/\\\\d+"],'
            " except_paths: []}\n"
        )
    )
    rule = ruleset.rules[0]
    assert [p.source for p in rule.paths] == ["/news/**", "re:/a/\\d+"]
    assert rule.paths[0].matches("/news/x") and rule.paths[1].matches("/a/12") and not rule.paths[1].matches("/a/1b")
    assert rule.except_paths == ()


def test_an_invalid_regular_expression_points_into_the_pattern() -> None:
    assert one_error(
        rules("rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    paths: [re:/news/(a]\n")
    ) == (
        'x.yaml:9:22: error[bad-path]: "re:/news/(a": The regular expression is not valid: missing ), unterminated '
        "subpattern at position 6 of '/news/(a'."
    )


def test_paths_may_not_be_an_empty_list() -> None:
    (found,) = problems(rules("rules:\n  - {id: r, notice: warning, jurisdictions: [RU], paths: []}\n"))
    assert (found.code, found.message) == (
        "empty-value",
        '"paths" is empty, so the rule would apply nowhere; leave the field out to mean every path.',
    )


# --- placement ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("body-start", (Place("body-start"),)),
        ("body-end", (Place("body-end"),)),
        ("{marker: legal-notice}", (Place("marker", "legal-notice"),)),
        ('{before: "article h1"}', (Place("before", "article h1"),)),
        ('{after: "main > article"}', (Place("after", "main > article"),)),
        ("{prepend: div.story-body}", (Place("prepend", "div.story-body"),)),
        ("{append: '#main'}", (Place("append", "#main"),)),
        ("{header: X-Legal-Notices}", (Place("header", "X-Legal-Notices"),)),
        ("{json: legal_notices}", (Place("json", "legal_notices"),)),
        ("{feed: items}", (Place("feed", "items"),)),
        ("{feed: channel}", (Place("feed", "channel"),)),
        (
            "[{marker: notice_1.a}, {before: 'article[data-kind=news] h1'}, body-start, body-end]",
            (
                Place("marker", "notice_1.a"),
                Place("before", "article[data-kind=news] h1"),
                Place("body-start"),
                Place("body-end"),
            ),
        ),
    ],
)
def test_placements(written: str, expected: tuple[Place, ...]) -> None:
    ruleset = load(
        rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {written}\n")
    )
    assert ruleset.rules[0].placement == expected


@pytest.mark.parametrize(
    ("written", "column", "message"),
    [
        ("[]", 16, '"placement" is an empty list'),
        ("[body-end, {header: X-Notices}]", 27, 'A "header" placement stands alone'),
        ("[{json: notices}]", 17, 'A "json" placement stands alone'),
        ("[{feed: items}, body-end]", 17, 'A "feed" placement stands alone'),
        ("{feed: item}", 23, '"item" is not a place in a feed; did you mean "items"? Write {feed: items}'),
        ("{feed: top}", 23, '"top" is not a place in a feed. Write {feed: items} for the notice in every item'),
        ("{before: h1, after: h2}", 16, "A placement mapping has exactly one key"),
        ("{under: h1}", 17, '"under" is not a kind of placement.'),
        ("{befor: h1}", 17, '"befor" is not a kind of placement; did you mean "before"?'),
        ("body_end", 16, '"body_end" is not a placement; did you mean "body-end"?'),
        ("marker", 16, '"marker" needs a value: write {marker: legal-notice}.'),
        ("{marker: legal notice}", 25, '"legal notice" is not a valid marker name'),
        ("{header: X Notices}", 25, '"X Notices" is not a valid HTTP header name'),
        ("{header: Content-Type}", 25, 'The header "Content-Type" is one the response needs for its own purpose'),
        ("{marker: [a]}", 25, '"marker" needs text, not a list.'),
        ("[[body-end]]", 17, "A list of places cannot contain another list."),
    ],
)
def test_bad_placements(written: str, column: int, message: str) -> None:
    (found,) = problems(
        rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {written}\n")
    )
    assert (found.line, found.column) == (9, column)
    assert found.code in ("bad-placement", "bad-type")
    assert found.message.startswith(message)


@pytest.mark.parametrize(
    "selector",
    [
        "article",
        "#main",
        ".story",
        "[data-x]",
        "[data-x=y]",
        '[data-x="a b"]',
        "[data-x='a']",
        "[ data-x = 1 ]",
        "div.story-body#top[role=main]",
        "article h1",
        "main > article",
        "main>article .byline",
        "my-element",
    ],
)
def test_supported_selectors(selector: str) -> None:
    assert check_selector(selector) is None


@pytest.mark.parametrize(
    ("selector", "part"),
    [
        ("a:hover", 'the pseudo-class ":hover"'),
        ("p::before", 'the pseudo-element "::before"'),
        ("li:nth-child(2)", 'the pseudo-class ":nth-child(2)"'),
        ("h1 + p", 'the sibling combinator "+"'),
        ("h1 ~ p", 'the sibling combinator "~"'),
        ("*", 'the universal selector "*"'),
        ("div > *", 'the universal selector "*"'),
        ("h1, h2", 'a list of selectors (",")'),
        ("[href!=http]", 'the attribute operator "!="'),
        ("> article", 'a ">" with no element before it'),
        ("svg|rect", 'a namespace ("|")'),
    ],
)
def test_unsupported_selectors_name_the_unsupported_part(selector: str, part: str) -> None:
    message = check_selector(selector)
    assert message is not None
    assert message.startswith(f'The selector "{selector}" uses {part}, which is not supported here.')


def test_a_selector_ending_in_a_combinator_is_refused() -> None:
    assert check_selector("main >") == 'The selector "main >" ends with ">", which needs an element after it.'
    assert check_selector("  ") is not None


# --- files and folders ------------------------------------------------------------------------


def test_a_folder_loads_its_rule_files_in_sorted_path_order_skipping_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "rules"
    (root / "a").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "a" / "tests").mkdir()
    (root / ".hidden").mkdir()
    (root / "b.yml").write_text(rules("rules:\n  - {id: b, notice: warning, jurisdictions: [RU]}\n"))
    (root / "a" / "z.yaml").write_text("rules:\n  - {id: az, notice: warning, jurisdictions: [RU]}\n")
    (root / "a.yaml").write_text("rules:\n  - {id: a, notice: warning, jurisdictions: [RU]}\n")
    (root / "notes.txt").write_text("not yaml: [")
    (root / "tests" / "cases.yaml").write_text("cases: []\n")
    (root / "a" / "tests" / "cases.yaml").write_text("cases: []\n")
    (root / ".hidden" / "x.yaml").write_text("cases: []\n")
    monkeypatch.chdir(tmp_path)
    ruleset = load_rules("rules", today=TODAY)
    assert ruleset.files == ("rules/a/z.yaml", "rules/a.yaml", "rules/b.yml")
    assert [rule.id for rule in ruleset.rules] == ["az", "a", "b"]
    assert ruleset.rules[0].location == Location("rules/a/z.yaml", 2, 5)


def test_problem_paths_are_joined_from_the_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "eu.yaml").write_text("groups: {a: [XY]}\n")
    monkeypatch.chdir(tmp_path)
    for given, shown in (("rules", "rules/eu.yaml"), ("rules/", "rules/eu.yaml"), ("./rules", "./rules/eu.yaml")):
        with pytest.raises(RuleFileError) as raised:
            load_rules(given)
        assert raised.value.problems[0].path == shown
    with pytest.raises(RuleFileError) as raised:
        load_rules(Path("rules/eu.yaml"))
    assert str(raised.value.problems[0]).startswith("rules/eu.yaml:1:14: error[unknown-jurisdiction]:")


def test_a_missing_path_is_not_found(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(RuleFileError) as raised:
        load_rules(missing)
    assert [str(p) for p in raised.value.problems] == [
        f'{missing}:1:1: error[not-found]: There is no file or folder "{missing}"; check the path to the rules.'
    ]


def test_an_empty_folder_is_an_error_not_zero_errors(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text("cases: []\n")
    with pytest.raises(RuleFileError) as raised:
        load_rules(tmp_path)
    assert [str(p) for p in raised.value.problems] == [
        f'{tmp_path}:1:1: error[no-rule-files]: The folder "{tmp_path}" holds no *.yaml or *.yml rule files '
        '(folders named "tests" are not rules); check the path to the rules.'
    ]


def test_a_rule_may_use_a_notice_and_group_from_another_file(tmp_path: Path) -> None:
    (tmp_path / "z-notices.yaml").write_text(NOTICE + "groups: {baltics: [EE, LV, LT]}\n")
    (tmp_path / "a-rules.yaml").write_text('rules:\n  - {id: r, notice: warning, jurisdictions: ["@baltics"]}\n')
    ruleset = load_rules(tmp_path, today=TODAY)
    assert ruleset.rules[0].jurisdictions == {"EE", "LV", "LT"}
    assert ruleset.files == (f"{tmp_path}/a-rules.yaml", f"{tmp_path}/z-notices.yaml")


def test_unknown_top_level_keys_are_errors() -> None:
    assert one_error("notice:\n  n: {title: t, text: {en: x}}\n") == (
        'x.yaml:1:1: error[unknown-key]: "notice" is not a section of a rule file; did you mean "notices"? A rule '
        'file has "groups", "notices", "rules" and "policy" only.'
    )


def test_the_rules_package_exports_its_sorted_all() -> None:
    assert compliance.rules.__all__ == sorted(compliance.rules.__all__)
    assert {"load_rules", "load_rules_text", "RuleSet", "Rule", "Notice", "Place"} <= set(compliance.rules.__all__)
    for name in compliance.rules.__all__:
        assert hasattr(compliance.rules, name)


# --- notices refused in the page's <head> --------------------------------------------------------


@pytest.mark.parametrize(
    "placement",
    [
        "{before: title}",
        "{after: meta}",
        "{prepend: head}",
        "{append: head}",
        '{after: "link[rel=canonical]"}',
        "{before: base}",
        '{after: "head > script"}',
        '{after: "head style.x"}',
        "{prepend: html}",
        "[{after: title}, body-end]",
    ],
)
def test_a_notice_in_the_head_is_refused_with_what_to_write_instead(placement: str) -> None:
    error = one_error(
        rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {placement}\n")
    )
    assert "error[bad-selector]: A notice cannot go" in error
    assert "<head>" in error
    assert "Write body-start" in error


@pytest.mark.parametrize(
    "placement",
    ["{prepend: svg}", "{append: math}", '{after: "svg path"}', '{before: "math mi"}', '{append: "svg > g"}'],
)
def test_a_notice_inside_svg_or_mathml_is_refused_with_what_to_write_instead(placement: str) -> None:
    error = one_error(
        rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {placement}\n")
    )
    assert "error[bad-selector]: A notice cannot go inside <" in error
    assert "not HTML" in error
    assert "{before: " in error


@pytest.mark.parametrize("placement", ["{before: svg}", "{after: math}", '{after: "p svg"}'])
def test_a_notice_next_to_svg_or_mathml_is_accepted(placement: str) -> None:
    load(rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {placement}\n"))


@pytest.mark.parametrize(
    "placement", ['{after: "body script"}', "{before: main}", "{after: header}", '{prepend: "body"}']
)
def test_places_in_the_body_are_not_taken_for_the_head(placement: str) -> None:
    load(rules(f"rules:\n  - id: r\n    notice: warning\n    jurisdictions: [RU]\n    placement: {placement}\n"))


def test_a_load_leaves_no_cycles_behind(tmp_path: Path) -> None:
    """What a load read is freed when it ends: no cyclic collection has to walk a whole rule set's YAML."""
    import gc

    (tmp_path / "groups.yaml").write_text(
        "groups:\n  inner: [RU, BY]\n  outer: [KZ, '@inner']\n  outmost: ['@outer', '@EU']\n", encoding="utf-8"
    )
    (tmp_path / "rules.yaml").write_text(
        "notices:\n  n:\n    title: N\n    text: {en: N.}\nrules:\n  - id: r\n    notice: n\n"
        "    jurisdictions: ['@outmost']\n",
        encoding="utf-8",
    )
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        ruleset = load_rules(tmp_path)
        assert "RU" in ruleset.rules[0].jurisdictions
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
