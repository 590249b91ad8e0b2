"""The JSON Schemas of the rule and case formats (`compliance schema`), against every example file.

Editors check a lawyer's file against these schemas as it is typed, so each must
accept every file the project shows as right (the example rules and cases, every
yaml block of docs/legal-guide.md and docs/rules.md) and turn down the mistakes
a lawyer makes. Files are read as an editor reads YAML 1.2: `NO` is text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue, read_yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {
    name: json.loads((ROOT / "compliance" / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    for name in ("rules", "cases")
}
#: The examples the guide shows as wrong, on purpose.
WRONG_ON_PURPOSE = {"docs/legal-guide.md draft/russia.yaml"}


def _plain(value: YamlValue | None) -> Any:
    if isinstance(value, YamlMap):
        return {key.value: _plain(item) for key, item in value.items()}
    if isinstance(value, YamlList):
        return [_plain(item) for item in value]
    assert isinstance(value, YamlScalar)
    return value.value


def _document(text: str, where: str) -> Any:
    value, problems = read_yaml(text, where)
    assert not problems, problems
    return _plain(value)


def _errors(document: Any) -> list[str]:
    schema = SCHEMAS["cases" if isinstance(document, dict) and "cases" in document else "rules"]
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _doc_blocks(name: str) -> list[tuple[str, str]]:
    """Each yaml block of a document, named by the file the guide writes it to, else by its line."""
    source = (ROOT / name).read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"(?:<!-- file: (\S+) -->\n)?```yaml\n(.*?)```\n", source, re.DOTALL):
        line = source.count("\n", 0, match.start()) + 1
        found.append((f"{name} {match.group(1)}" if match.group(1) else f"{name}:{line}", match.group(2)))
    return found


EXAMPLES = [
    *((str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "rules").rglob("*.yaml"))),
    *_doc_blocks("docs/legal-guide.md"),
    *_doc_blocks("docs/rules.md"),
    *_doc_blocks("README.md"),
]


def test_the_schemas_are_valid_json_schemas() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("where", "text"),
    [e for e in EXAMPLES if e[0] not in WRONG_ON_PURPOSE],
    ids=[where for where, _ in EXAMPLES if where not in WRONG_ON_PURPOSE],
)
def test_every_example_file_is_accepted(where: str, text: str) -> None:
    assert _errors(_document(text, where)) == []


def test_the_mistakes_of_the_guide_are_caught_as_they_are_typed() -> None:
    draft = dict(EXAMPLES)["docs/legal-guide.md draft/russia.yaml"]
    errors = _errors(_document(draft, "draft/russia.yaml"))
    assert any(e.startswith("notices/undesirable-organization/text: 'english'") for e in errors), errors
    assert any(e.startswith("rules/0/from: '20-08-2024'") for e in errors), errors


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("rules:\n  - {id: r, notice: n, jurisdiction: [RU]}\n", "rules/0"),
        ("notices:\n  n: {title: N, text: {en: A.}, review: 2027-01-01}\n", "notices/n"),
        ("rules:\n  - {id: r, notice: n, jurisdictions: [RU], placement: {under: footer}}\n", "rules/0/placement"),
        ("rules:\n  - {id: r, notice: n, jurisdictions: [RU], placement: {feed: item}}\n", "rules/0/placement"),
        (
            "notices:\n  n: {title: N, text: {en: A.}, required_languages: [russian]}\n",
            "notices/n/required_languages/0",
        ),
        ("cases:\n  - {name: a, request: {path: /, country: RU}, expect: {notice: [n]}}\n", "cases/0/expect"),
        ("cases:\n  - {name: a, request: {path: news}, expect: {notices: []}}\n", "cases/0/request/path"),
        ("rules:\n  - {id: r, notice: n, jurisdictions: [RU], when: {header: {Sec-GPC: '1'}}}\n", "rules/0/when"),
        (
            "rules:\n  - {id: r, notice: n, jurisdictions: [RU], when: {accept_language: [ru-RU]}}\n",
            "rules/0/when/accept_language/0",
        ),
        ("imprint: {}\n", ""),
    ],
)
def test_misspelt_fields_and_malformed_values_are_turned_down(text: str, where: str) -> None:
    errors = _errors(_document(text, "x.yaml"))
    assert errors and any(e.split(":")[0] == where for e in errors), errors


def test_the_command_prints_each_schema(tmp_path: Path) -> None:
    for name in ("rules", "cases"):
        result = subprocess.run(
            [sys.executable, "-m", "compliance", "schema", name], capture_output=True, text=True, timeout=120,
            env={**os.environ},
        )  # fmt: skip
        assert result.returncode == 0
        assert json.loads(result.stdout) == SCHEMAS[name]
    result = subprocess.run(
        [sys.executable, "-m", "compliance", "schema", "rules", "-o", "schemas/rules.schema.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("compliance schema: cannot write schemas/rules.schema.json: ")


def test_the_schemas_know_every_field_the_loaders_know() -> None:
    from compliance.cli.case_expect import EXPECT_KEYS
    from compliance.cli.cases import CASE_KEYS, REQUEST_KEYS
    from compliance.rules.load.groups import MEMBER_KEYS
    from compliance.rules.load.notices import LINK_KEYS, NOTICE_KEYS
    from compliance.rules.load.rules import RULE_KEYS

    rules, cases = SCHEMAS["rules"], SCHEMAS["cases"]
    from compliance.rules.load.files import TOP_LEVEL_KEYS
    from compliance.rules.load.policy import POLICY_KEYS

    assert list(rules["properties"]) == list(TOP_LEVEL_KEYS)
    assert list(rules["properties"]["policy"]["properties"]) == list(POLICY_KEYS)
    assert list(rules["$defs"]["notice"]["properties"]) == list(NOTICE_KEYS)
    assert list(rules["$defs"]["notice"]["properties"]["link"]["properties"]) == list(LINK_KEYS)
    assert list(rules["$defs"]["rule"]["properties"]) == list(RULE_KEYS)
    assert list(rules["$defs"]["group_member"]["oneOf"][1]["properties"]) == list(MEMBER_KEYS)
    case = cases["$defs"]["case"]["properties"]
    assert list(cases["$defs"]["case"]["properties"]) == list(CASE_KEYS)
    assert list(case["request"]["properties"]) == list(REQUEST_KEYS)
    assert list(case["expect"]["properties"]) == list(EXPECT_KEYS)


def test_the_schemas_offer_the_choices_the_loaders_accept() -> None:
    from compliance.rules.load.rules import ACTIONS, FALLBACKS, FORMS, MATCHES, MODES
    from compliance.rules.model import BLOCK_POLICIES

    rule = SCHEMAS["rules"]["$defs"]["rule"]["properties"]
    assert (rule["action"]["enum"], rule["mode"]["enum"], rule["form"]["enum"]) == (
        list(ACTIONS),
        list(MODES),
        list(FORMS),
    )
    assert (rule["fallback"]["enum"], rule["match"]["enum"]) == (list(FALLBACKS), list(MATCHES))
    assert SCHEMAS["rules"]["properties"]["policy"]["properties"]["blocks"]["enum"] == list(BLOCK_POLICIES)
